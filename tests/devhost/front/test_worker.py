"""The worker process: every kind of invocation gives what the in-process invoker gives, from another process;
a worker that dies fails only what it held and is replaced; an app the worker cannot load stops the start."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import UTC, datetime

import azure.functions as func
import pytest

from devhost import engine
from devhost.functions import FunctionIndex, FunctionInvoker, ManagementEndpoint, load_app
from devhost.model import EventType, HistoryEvent
from devhost.worker import WorkerFunctionError, WorkerInvoker, WorkerStartError

from .harness import APPS

FULL = APPS / "full"
SDK_INPUT = json.dumps(json.dumps("Lima"))  # as the SDK sends an input and the History stores it


def worker_for(index: FunctionIndex, app: str = "full") -> WorkerInvoker:
    return WorkerInvoker(index, app_dir=APPS / app, script_file="function_app.py", threads=4,
                         function_directory=str(APPS / app))


def hello_request() -> func.HttpRequest:
    return func.HttpRequest("GET", "http://127.0.0.1/api/hello/tokyo?greeting=hi", headers={"x-probe": "1"},
                            params={"greeting": "hi"}, route_params={"name": "tokyo"}, body=b"")


def orchestrator_context() -> str:
    started = engine.execution_started(name="hello_orchestrator", instance_id="w1", execution_id="e1",
                                       input_text=SDK_INPUT, parent=None)
    history = [HistoryEvent(EventType.OrchestratorStarted, timestamp=datetime.now(UTC)), started]
    return engine.build_context_json(instance_id="w1", history=history, input_text=SDK_INPUT,
                                     parent_instance_id=None)


def test_invocations_in_the_worker_match_the_in_process_invoker() -> None:
    index = load_app(FULL)
    local = FunctionInvoker(index, function_directory=str(FULL))
    context = orchestrator_context()

    async def scenario() -> None:
        worker = worker_for(index)
        await worker.start()
        try:
            assert worker.pid is not None and worker.pid != os.getpid()
            for invoker in (local, worker):
                response = await invoker.call_http(index.get("hello_http"), hello_request())  # type: ignore[arg-type]
                assert response.status_code == 200 and response.headers["X-Sample"] == "1"
                assert json.loads(response.get_body()) == {"name": "TOKYO", "greeting": "hi", "method": "GET",
                                                           "function": "hello_http"}
            sync_ok = [await i.invoke_activity("say_hello", '"Oslo"', instance_id="w1") for i in (local, worker)]
            async_ok = [await i.invoke_activity("AsyncDurableActivity", '{"n": 21}', instance_id="w1")
                        for i in (local, worker)]
            failed = [await i.invoke_activity("failing_activity", '"x"', instance_id="w1") for i in (local, worker)]
            assert sync_ok[0] == sync_ok[1] and sync_ok[1].result_json == '"Hello Oslo"'
            assert async_ok[0] == async_ok[1] and async_ok[1].result_json == '{"doubled":42,"text":"naïve"}'
            assert not failed[1].succeeded and failed[1].error == "ValueError: bad input x"
            assert failed[0].error == failed[1].error

            loop = asyncio.get_running_loop()
            states = [engine.parse_invocation(await loop.run_in_executor(
                None, i.invoke_orchestrator, "hello_orchestrator", context)) for i in (local, worker)]
            assert states[0] == states[1] and states[1].state is not None
            assert states[1].state["actions"][0][0]["functionName"] == "say_hello"

            with pytest.raises(WorkerFunctionError, match="RuntimeError: boom"):
                await worker.call_http(index.get("boom"), hello_request())  # type: ignore[arg-type]
        finally:
            await worker.stop()

    asyncio.run(scenario())


def test_a_fresh_worker_runs_an_activity_with_a_durable_client() -> None:
    """The first invocation a worker gets may be an activity with a client binding (orchestrations resumed after a
    restart, before any HTTP request): the binding must not depend on an earlier HTTP call."""
    index = load_app(APPS / "client_activity")

    async def scenario() -> None:
        worker = worker_for(index, app="client_activity")
        worker.client_endpoint = ManagementEndpoint.for_origin("http://127.0.0.1:9", "ResumedHub")
        await worker.start()
        try:
            outcome = await worker.invoke_activity("hub_of", '"Resumed"', instance_id="w3")
            assert outcome.succeeded, outcome.error
            assert outcome.result_json is not None and "taskHub=ResumedHub" in outcome.result_json
        finally:
            await worker.stop()

    asyncio.run(scenario())


def test_a_worker_that_dies_fails_what_it_held_and_is_replaced() -> None:
    index = load_app(FULL)

    async def scenario() -> None:
        worker = worker_for(index)
        await worker.start()
        try:
            first = worker.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            # Until the replacement is up, calls fail (as the host's invocations fail while its worker restarts).
            outcome = None
            for _ in range(200):
                outcome = await worker.invoke_activity("say_hello", '"again"', instance_id="w2")
                if outcome.succeeded:
                    break
                assert outcome.error is not None and outcome.error.startswith("Worker")
                await asyncio.sleep(0.1)
            assert outcome is not None and outcome.succeeded and outcome.result_json == '"Hello again"'
            assert worker.pid not in (None, first)
        finally:
            await worker.stop()

    asyncio.run(scenario())


def test_an_app_the_worker_cannot_load_stops_the_start() -> None:
    index = load_app(FULL)  # devhost's own index loaded; the worker's import then fails

    async def scenario() -> None:
        worker = worker_for(index, app="import_error")
        with pytest.raises(WorkerStartError, match="broken_helper|load_settings"):
            await worker.start()
        await worker.stop()

    asyncio.run(scenario())
