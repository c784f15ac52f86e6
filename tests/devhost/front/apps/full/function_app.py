# azure-functions-durable ships no type information, so its decorators are Any to mypy.
# mypy: disable-error-code="untyped-decorator"
"""A sample app with every trigger type devhost supports (used by the front-end tests)."""

import json
import os
import typing
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from helpers import shout  # type: ignore[import-not-found]  # next to function_app.py: app root on sys.path

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
QUEUE_LOG = os.environ.get("FRONT_TEST_QUEUE_LOG", "")


@app.route(route="orchestrators/{functionName}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"], req.route_params.get("instanceId"), json.loads(body) if body else None
    )
    response: func.HttpResponse = client.create_check_status_response(req, instance_id)
    return response


@app.route(route="status/{instanceId}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def http_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instanceId"], show_history=True, show_history_output=True)
    if not status:
        return func.HttpResponse(json.dumps({"found": False}), status_code=404, mimetype="application/json")
    return func.HttpResponse(json.dumps({
        "found": True,
        "name": status.name,
        "runtimeStatus": status.runtime_status.value if status.runtime_status else None,
        "output": status.output,
        "historyEvents": getattr(status, "historyEvents", None),
    }), mimetype="application/json")


@app.route(route="events/{instanceId}/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_raise(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.raise_event(req.route_params["instanceId"], req.route_params["name"], req.get_json())
    return func.HttpResponse(status_code=202)


@app.route(route="hello/{name:alpha}", methods=["GET"])
def hello_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    payload = {
        "name": shout(req.route_params["name"]),
        "greeting": req.params.get("greeting", "hello"),
        "method": req.method,
        "function": context.function_name,
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json", headers={"X-Sample": "1"})


@app.route(route="items/{id:int}", methods=["GET", "PUT"], auth_level=func.AuthLevel.FUNCTION)
async def item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"item {int(req.route_params['id'])} via {req.method}: {req.get_body().decode()}")


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> str:
    return "admin ok"


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


@app.function_name("RenamedFunction")
@app.route(route="files/{*path}")
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("path", "<root>"))


@app.orchestration_trigger(context_name="context")
def hello_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_activity("say_hello", context.get_input())
    return result


@app.orchestration_trigger(context_name="context", orchestration="DurableNamedOrchestrator")
def renamed_orchestrator(context: df.DurableOrchestrationContext) -> str:
    return "renamed"


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="payload", activity="AsyncDurableActivity")
async def async_activity(payload: typing.Dict[str, Any]) -> dict[str, Any]:  # noqa: UP006 (the worker refuses dict[...])
    return {"doubled": payload["n"] * 2, "text": "naïve"}


@app.activity_trigger(input_name="payload")
def failing_activity(payload: str) -> str:
    raise ValueError(f"bad input {payload}")


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    context.set_state((context.get_state(lambda: 0) or 0) + 1)


TIMER_CALLS: list[dict[str, Any]] = []  # read by the tests through sys.modules["function_app"]


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=True)
def every_second(timer: func.TimerRequest) -> None:
    TIMER_CALLS.append({"past_due": timer.past_due, "status": getattr(timer, "schedule_status", None)})


@app.queue_trigger(arg_name="msg", queue_name="%FRONT_TEST_QUEUE%", connection="AzureWebJobsStorage")
def on_queue(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode()
    if QUEUE_LOG:
        with open(QUEUE_LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"id": msg.id, "body": body, "dequeue_count": msg.dequeue_count}) + "\n")
    if body.startswith("fail"):
        raise RuntimeError("queue message rejected")
