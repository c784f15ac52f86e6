# azure-functions-durable ships no type information, so its decorators are Any to mypy.
# mypy: disable-error-code="untyped-decorator"
"""The conformance app: one orchestration per Durable Functions pattern, driven black-box by the devhost suite.

It is an ordinary v2-model app (the same code would run under `func start`). State that must survive host
crashes and thread-pool activities (retry attempt counters, the non-determinism flag) lives in files under
``$CONFORMANCE_STATE_DIR``, which the test fixture points at a per-module temp folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import typing
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

RETRY_1S_3_ATTEMPTS = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)

Orchestration = Generator[Any, Any, Any]


def _state_dir() -> Path:
    path = Path(os.environ.get("CONFORMANCE_STATE_DIR", "/tmp/devhost-conformance-state"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _record_attempt(key: str) -> int:
    """Append one line per attempt and return the attempt number (1-based); an fsync'd file survives SIGKILL."""
    path = _state_dir() / f"attempts-{key}.log"
    with path.open("a", encoding="utf-8") as f:
        f.write("attempt\n")
        f.flush()
        os.fsync(f.fileno())
    return len(path.read_text(encoding="utf-8").splitlines())


def _json_response(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


# ---------------------------------------------------------------------------------------------------------------
# HTTP front door: the documented starter plus client-bound functions that drive the real DurableOrchestrationClient


@app.route(route="orchestrators/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    payload = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["functionName"], req.params.get("instanceId"), payload)
    response: func.HttpResponse = client.create_check_status_response(req, instance_id)
    return response


@app.route(route="client/start_and_wait/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def client_start_and_wait(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    payload = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["functionName"], None, payload)
    response: func.HttpResponse = await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=30000, retry_interval_in_milliseconds=200
    )
    return response


@app.route(route="client/status/{instanceId}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def client_status(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    status = await client.get_status(
        req.route_params["instanceId"], show_history=True, show_history_output=True, show_input=True
    )
    if not status:
        return _json_response({"error": "not found"}, 404)
    return _json_response(
        {
            "name": status.name,
            "instanceId": status.instance_id,
            "runtimeStatus": status.runtime_status.name if status.runtime_status else None,
            "input": status.input_,
            "output": status.output,
            "customStatus": status.custom_status,
            "history": status.history,
            "historyEvents": getattr(status, "historyEvents", None),
        }
    )


@app.route(route="client/raise/{instanceId}/{eventName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def client_raise(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    try:
        await client.raise_event(req.route_params["instanceId"], req.route_params["eventName"], req.get_json())
    except Exception as exc:  # the SDK reports 404/410 as exceptions; surface them to the test
        return _json_response({"error": str(exc)}, 409)
    return _json_response({"raised": True}, 202)


@app.route(route="client/manage/{operation}/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def client_operation(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    operation = req.route_params["operation"]
    instance_id = req.route_params["instanceId"]
    reason = req.params.get("reason", "")
    operations = {"terminate": client.terminate, "suspend": client.suspend, "resume": client.resume}
    if operation not in operations:
        return _json_response({"error": f"unknown operation {operation!r}"}, 400)
    try:
        await operations[operation](instance_id, reason)
    except Exception as exc:
        return _json_response({"error": str(exc)}, 409)
    return _json_response({operation: True}, 202)


@app.route(route="client/purge/{instanceId}", methods=["DELETE"])
@app.durable_client_input(client_name="client")
async def client_purge(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    result = await client.purge_instance_history(req.route_params["instanceId"])
    return _json_response({"instancesDeleted": result.instances_deleted})


# ---------------------------------------------------------------------------------------------------------------
# Activities


_occupied: list[Any] = []  # the sleepers' futures, kept referenced until they end


@app.route(route="app/occupy_default_executor/{seconds}", methods=["POST"])
async def occupy_default_executor(req: func.HttpRequest) -> func.HttpResponse:
    """Take every thread of the event loop's default executor (the one ``asyncio.to_thread`` uses) for a while,
    as an app whose threads wait on something does. Each sleeper appends its release time to a state file."""
    seconds = float(req.route_params["seconds"])
    threads = min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default size

    def sleeper() -> None:
        time.sleep(seconds)
        with (_state_dir() / "default-executor-released.log").open("a") as log:
            log.write(f"{time.time()}\n")

    loop = asyncio.get_running_loop()
    _occupied[:] = [loop.run_in_executor(None, sleeper) for _ in range(threads)]
    return _json_response({"threads": threads, "seconds": seconds})


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="name")
def hello_changed(name: str) -> str:
    return f"Changed {name}"


@app.activity_trigger(input_name="value")
def increment(value: int) -> int:
    return value + 1


@app.activity_trigger(input_name="value")
def square(value: int) -> int:
    return value * value


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    """Fails on its first two attempts for ``key``, then succeeds and reports how many attempts it took."""
    attempt = _record_attempt(key)
    if attempt <= 2:
        raise ValueError(f"flaky attempt {attempt} failed")
    return f"succeeded on attempt {attempt}"


@app.activity_trigger(input_name="key")
def always_fails(key: str) -> str:
    attempt = _record_attempt(key)
    raise ValueError(f"always fails (attempt {attempt})")


@app.activity_trigger(input_name="payload")
def measure(payload: typing.Dict[str, Any]) -> dict[str, Any]:  # noqa: UP006 (the worker refuses dict[...])
    """Echoes a large payload back with its size: both directions exceed the queue/table inline limits."""
    blob = payload["blob"]
    return {"size": len(blob), "echo": blob.upper()}


@app.activity_trigger(input_name="work")
def crash_add(work: typing.Dict[str, int]) -> int:  # noqa: UP006 (the worker refuses dict[...])
    # A short random pause widens the window in which the crash test's SIGKILLs land mid-activity.
    time.sleep(random.uniform(0.0, 0.3))
    return work["k"] * 10 + work["step"]


# ---------------------------------------------------------------------------------------------------------------
# Orchestrations


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext) -> Orchestration:
    """Function chaining (spec section 9, three steps)."""
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("hello", city)))
    return results


@app.orchestration_trigger(context_name="context")
def chain_n(context: df.DurableOrchestrationContext) -> Orchestration:
    """Sequential chain of ``steps`` increments (the benchmark's round-trip probe)."""
    value = 0
    for _ in range(int(context.get_input()["steps"])):
        value = yield context.call_activity("increment", value)
    return value


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Orchestration:
    count = int(context.get_input()["count"])
    squares = yield context.task_all([context.call_activity("square", i) for i in range(count)])
    return {"count": len(squares), "sum": sum(squares)}


@app.orchestration_trigger(context_name="context")
def retry_flaky(context: df.DurableOrchestrationContext) -> Orchestration:
    result = yield context.call_activity_with_retry("flaky", RETRY_1S_3_ATTEMPTS, context.instance_id)
    return result


@app.orchestration_trigger(context_name="context")
def retry_always_fails(context: df.DurableOrchestrationContext) -> Orchestration:
    result = yield context.call_activity_with_retry("always_fails", RETRY_1S_3_ATTEMPTS, context.instance_id)
    return result


@app.orchestration_trigger(context_name="context")
def sub_child(context: df.DurableOrchestrationContext) -> Orchestration:
    greeting = yield context.call_activity("hello", context.get_input()["city"])
    return {"greeting": greeting, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def sub_parent(context: df.DurableOrchestrationContext) -> Orchestration:
    """One child with the default (generated) id, one with an explicit id."""
    first = yield context.call_sub_orchestrator("sub_child", {"city": "Oslo"})
    second = yield context.call_sub_orchestrator("sub_child", {"city": "Lima"}, f"{context.instance_id}-explicit")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def sub_flaky_child(context: df.DurableOrchestrationContext) -> Orchestration:
    attempt = yield context.call_activity("count_child_attempt", context.get_input()["key"])
    if attempt == 1:
        raise ValueError("child attempt 1 failed")
    return {"attempt": attempt}


@app.activity_trigger(input_name="key")
def count_child_attempt(key: str) -> int:
    return _record_attempt(f"child-{key}")


@app.orchestration_trigger(context_name="context")
def sub_parent_retry(context: df.DurableOrchestrationContext) -> Orchestration:
    result = yield context.call_sub_orchestrator_with_retry(
        "sub_flaky_child", RETRY_1S_3_ATTEMPTS, {"key": context.instance_id}
    )
    return result


@app.orchestration_trigger(context_name="context")
def timer_wait(context: df.DurableOrchestrationContext) -> Orchestration:
    seconds = float(context.get_input()["seconds"])
    fire_at = context.current_utc_datetime + timedelta(seconds=seconds)
    yield context.create_timer(fire_at)
    return {"fired_at_or_after": fire_at.isoformat()}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext) -> Orchestration:
    """An external event raced against a durable timer; the loser is cancelled."""
    deadline = context.current_utc_datetime + timedelta(seconds=float(context.get_input()["timeout_seconds"]))
    timer = context.create_timer(deadline)
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return {"approved": event.result}
    return "timeout"


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext) -> Orchestration:
    """Continue-as-new until the count reaches 10; every generation but the last increments through an activity."""
    count = int(context.get_input()["count"])
    if count >= 10:
        return {"final": count}
    following = yield context.call_activity("increment", count)
    context.continue_as_new({"count": following})
    return None


@app.orchestration_trigger(context_name="context")
def long_running(context: df.DurableOrchestrationContext) -> Orchestration:
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return "woke up"


@app.orchestration_trigger(context_name="context")
def suspendable(context: df.DurableOrchestrationContext) -> Orchestration:
    go = yield context.wait_for_external_event("Go")
    greeting = yield context.call_activity("hello", "after resume")
    return {"go": go, "greeting": greeting}


@app.orchestration_trigger(context_name="context")
def custom_status(context: df.DurableOrchestrationContext) -> Orchestration:
    context.set_custom_status({"step": 1})
    yield context.wait_for_external_event("Next")
    context.set_custom_status({"step": 2})
    yield context.wait_for_external_event("Finish")
    return "finished"


@app.orchestration_trigger(context_name="context")
def large_payload(context: df.DurableOrchestrationContext) -> Orchestration:
    """200 KB in (instance input), 200 KB through an activity both ways, 200 KB out."""
    payload = context.get_input()
    measured = yield context.call_activity("measure", payload)
    return {"size": measured["size"], "blob": measured["echo"]}


@app.orchestration_trigger(context_name="context")
def raises(context: df.DurableOrchestrationContext) -> Orchestration:
    greeting = yield context.call_activity("hello", "doomed")
    raise ValueError(f"boom after {greeting}")


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext) -> Orchestration:
    """Schedules a different activity once the test drops a flag file (simulating a code change mid-flight)."""
    changed = (_state_dir() / "nondeterminism-flag").exists()
    first = yield context.call_activity("hello_changed" if changed else "hello", "first")
    go = yield context.wait_for_external_event("Go")
    return {"first": first, "go": go}


@app.orchestration_trigger(context_name="context")
def crash_mix(context: df.DurableOrchestrationContext) -> Orchestration:
    """Activities, durable timers and a small fan-out, for the SIGKILL crash test."""
    k = int(context.get_input()["k"])
    total = 0
    for step in range(3):
        total += yield context.call_activity("crash_add", {"k": k, "step": step})
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    parts = yield context.task_all([context.call_activity("crash_add", {"k": k, "step": 10 + j}) for j in range(3)])
    return {"k": k, "total": total + sum(parts)}


@app.orchestration_trigger(context_name="context")
def calls_missing_activity(context: df.DurableOrchestrationContext) -> Orchestration:
    result = yield context.call_activity("no_such_activity", "x")
    return result
