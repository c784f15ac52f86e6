"""Loading and indexing function apps the way the Python worker does."""

from __future__ import annotations

import asyncio
import json

import pytest

from devhost.functions import AppLoadError, FunctionInvoker, FunctionKind, FunctionLoadError, load_app

from .harness import APPS


def test_full_app_indexes_every_trigger_type() -> None:
    index = load_app(APPS / "full")
    kinds = {f.name: f.kind for f in index}
    assert kinds == {
        "http_start": FunctionKind.HTTP, "http_status": FunctionKind.HTTP, "http_raise": FunctionKind.HTTP,
        "hello_http": FunctionKind.HTTP, "item": FunctionKind.HTTP, "admin_only": FunctionKind.HTTP,
        "boom": FunctionKind.HTTP, "RenamedFunction": FunctionKind.HTTP,
        "hello_orchestrator": FunctionKind.ORCHESTRATOR, "renamed_orchestrator": FunctionKind.ORCHESTRATOR,
        "say_hello": FunctionKind.ACTIVITY, "async_activity": FunctionKind.ACTIVITY,
        "failing_activity": FunctionKind.ACTIVITY, "counter": FunctionKind.ENTITY,
        "every_second": FunctionKind.TIMER, "on_queue": FunctionKind.QUEUE,
    }


def test_http_metadata_and_durable_client_binding() -> None:
    index = load_app(APPS / "full")
    start = index.get("HTTP_START")  # function names are case-insensitive
    assert start is not None and start.http is not None
    assert start.http.template == "orchestrators/{functionName}/{instanceId?}"
    assert start.http.methods == ("POST",)
    assert start.http.auth_level == "anonymous"  # from DFApp(http_auth_level=ANONYMOUS)
    assert start.durable_client is not None and start.durable_client.name == "client"
    assert start.is_async
    item = index.get("item")
    assert item is not None and item.http is not None
    assert (item.http.auth_level, item.http.methods) == ("function", ("GET", "PUT"))
    renamed = index.get("renamedfunction")
    assert renamed is not None and renamed.http is not None and renamed.http.template == "files/{*path}"
    hello = index.get("hello_http")
    assert hello is not None and hello.requires_context  # unbound `context` parameter gets a func.Context


def test_durable_names_use_binding_keys_and_are_case_insensitive() -> None:
    index = load_app(APPS / "full")
    assert index.orchestrator("Hello_Orchestrator") is index.get("hello_orchestrator")
    renamed = index.orchestrator("durablenamedorchestrator")
    assert renamed is not None and renamed.name == "renamed_orchestrator"
    assert index.orchestrator("renamed_orchestrator") is None  # only the durable name counts
    async_activity = index.activity("asyncdurableactivity")
    assert async_activity is not None and async_activity.name == "async_activity"
    entity = index.entity("COUNTER")
    assert entity is not None
    assert index.exists("activity", "SAY_HELLO") and not index.exists("activity", "hello_orchestrator")


def test_timer_and_queue_bindings() -> None:
    index = load_app(APPS / "full")
    timer = index.get("every_second")
    assert timer is not None and timer.timer is not None
    assert (timer.timer.schedule, timer.timer.run_on_startup) == ("*/1 * * * * *", True)
    queue = index.get("on_queue")
    assert queue is not None and queue.queue is not None
    assert (queue.queue.queue_name, queue.queue.connection) == ("%FRONT_TEST_QUEUE%", "AzureWebJobsStorage")


def test_import_error_surfaces_with_the_apps_traceback() -> None:
    with pytest.raises(AppLoadError) as caught:
        load_app(APPS / "import_error")
    text = str(caught.value)
    assert "importing function_app.py failed: NameError: name 'MISSING_SETTING_NAME' is not defined" in text
    assert caught.value.details is not None
    assert "broken_helper.py" in caught.value.details and "load_settings" in caught.value.details
    assert "importlib" not in caught.value.details  # starts at the app's own frames


def test_two_function_apps_are_rejected() -> None:
    with pytest.raises(AppLoadError, match="More than one .* top level function app instances are defined"):
        load_app(APPS / "two_apps")


def test_missing_function_app_is_rejected() -> None:
    with pytest.raises(AppLoadError, match="Could not find top level function app instances"):
        load_app(APPS / "no_app")


def test_orchestrator_context_name_must_be_context() -> None:
    with pytest.raises(FunctionLoadError) as caught:
        load_app(APPS / "bad_orchestrator")
    message = str(caught.value)
    # The SDK's wrapper takes `context: OrchestrationContext`; with the trigger bound as "ctx" the worker treats
    # `context` as the unbound invocation-context parameter and rejects its annotation.
    assert message.startswith('cannot load the orchestrator function: the "context" parameter is expected to be of '
                              "type azure.functions.Context")
    assert 'context_name="context"' in message


def test_parameter_without_binding_is_rejected() -> None:
    with pytest.raises(FunctionLoadError, match=r"cannot load the extra function: the following parameters are "
                                                r"declared in Python but not in function.json: \{'unknown_param'\}"):
        load_app(APPS / "bad_route")


def test_orchestrator_invocation_returns_state_json() -> None:
    invoker = FunctionInvoker(load_app(APPS / "full"))
    context = {
        "history": [
            {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2026-11-21T10:00:00.0000000Z"},
            {"EventType": 0, "EventId": -1, "IsPlayed": False, "Timestamp": "2026-11-21T10:00:00.0000000Z",
             "Name": "hello_orchestrator", "Input": '"\\"Tokyo\\""', "Version": ""},
        ],
        "input": '"Tokyo"', "instanceId": "i1", "isReplaying": False, "parentInstanceId": None,
        "upperSchemaVersion": 1, "upperSchemaVersionNew": 2,
    }
    raw = invoker.invoke_orchestrator("HELLO_ORCHESTRATOR", json.dumps(context))
    assert isinstance(raw, str)
    state = json.loads(raw)
    assert state["isDone"] is False
    assert state["actions"][0][0]["functionName"] == "say_hello"
    assert json.loads(state["actions"][0][0]["input"]) == "Tokyo"


def test_orchestrator_exception_is_returned_not_raised() -> None:
    invoker = FunctionInvoker(load_app(APPS / "full"))
    raw = invoker.invoke_orchestrator("hello_orchestrator", "this is not json")
    assert isinstance(raw, Exception)


def test_activity_invocation_decodes_encodes_and_reports_failures() -> None:
    invoker = FunctionInvoker(load_app(APPS / "full"))

    async def scenario() -> None:
        ok = await invoker.invoke_activity("say_hello", '"Tokyo"', instance_id="i1")
        assert (ok.succeeded, ok.result_json) == (True, '"Hello Tokyo"')
        raw_text = await invoker.invoke_activity("say_hello", "not json", instance_id="i1")  # string fallback
        assert raw_text.result_json == '"Hello not json"'
        coroutine = await invoker.invoke_activity("AsyncDurableActivity", '{"n": 21}', instance_id="i1")
        assert coroutine.result_json == '{"doubled":42,"text":"naïve"}'  # compact, non-ASCII kept
        failed = await invoker.invoke_activity("failing_activity", '"x"', instance_id="i1")
        assert not failed.succeeded
        assert failed.error == "ValueError: bad input x"
        assert failed.details is not None and "failing_activity" in failed.details

    asyncio.run(scenario())


def test_trigger_annotation_must_match_the_binding() -> None:
    with pytest.raises(FunctionLoadError, match=r"cannot load the typed function: 'req' binding type \"httpTrigger\" "
                                                r"and dataType \"None\" in function.json do not match the "
                                                r"corresponding function parameter's Python type annotation "
                                                r"\"TimerRequest\""):
        load_app(APPS / "bad_annotation")
