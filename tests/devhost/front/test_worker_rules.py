"""devhost refuses what the real Python worker (and host) refuse at indexing, with their messages.

Each case is a small app written to a temporary directory and loaded through devhost's loader; the expected text
is the worker's own wording (azure-functions-python-worker 4.34, functions.Registry.add_indexed_function).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devhost.functions import AppLoadError, FunctionIndex, FunctionKind, FunctionLoadError, load_app
from durable_assistant.contracts import ActivityNames

REPO_ROOT = Path(__file__).resolve().parents[3]

_HEADER = """\
from __future__ import annotations

import typing
from typing import Any, Dict, Optional

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
"""


def _load(tmp_path: Path, body: str) -> FunctionIndex:
    (tmp_path / "function_app.py").write_text(_HEADER + textwrap.dedent(body))
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    return load_app(tmp_path)


def test_the_assistant_app_passes_the_workers_rules() -> None:
    """The real function_app.py, loaded through devhost's loader, breaks none of the worker's rules."""
    index = load_app(REPO_ROOT)
    kinds = {f.name: f.kind for f in index}
    assert kinds["turn_orchestration"] is FunctionKind.ORCHESTRATOR
    activities = {v for k, v in vars(ActivityNames).items() if not k.startswith("_")}
    assert {name for name, kind in kinds.items() if kind is FunctionKind.ACTIVITY} == activities
    assert {"post_message", "provider_webhook", "create_conversation"} <= set(kinds)
    assert all(f.has_return for f in index if f.kind is FunctionKind.ACTIVITY)


REFUSED = {
    "built-in generic on an activity input (worker issue 1034)": (
        """
        @app.activity_trigger(input_name="payload")
        def work(payload: dict[str, Any]) -> dict[str, Any]:
            return payload
        """,
        "cannot load the work function: binding payload has invalid non-type annotation dict[str, typing.Any]",
    ),
    "X | None on an HTTP request": (
        """
        @app.route(route="r")
        def handler(req: func.HttpRequest | None) -> func.HttpResponse:
            return func.HttpResponse("ok")
        """,
        "cannot load the handler function: binding req has invalid non-type annotation "
        "azure.functions._http.HttpRequest | None",
    ),
    "trigger annotation of another binding type": (
        """
        @app.route(route="r")
        def handler(req: func.TimerRequest) -> func.HttpResponse:
            return func.HttpResponse("ok")
        """,
        "cannot load the handler function: 'req' binding type \"httpTrigger\" and dataType \"None\" in "
        "function.json do not match the corresponding function parameter's Python type annotation "
        "\"TimerRequest\"",
    ),
    "timer parameter typed as a string": (
        """
        @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
        def tick(timer: int) -> None:
            pass
        """,
        "cannot load the tick function: 'timer' binding type \"timerTrigger\" and dataType \"None\" in "
        "function.json do not match the corresponding function parameter's Python type annotation \"int\"",
    ),
    "queue message typed as a dict": (
        """
        @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
        def on_msg(msg: dict) -> None:
            pass
        """,
        "cannot load the on_msg function: 'msg' binding type \"queueTrigger\" and dataType \"None\" in "
        "function.json do not match the corresponding function parameter's Python type annotation \"dict\"",
    ),
    "orchestration trigger bound to a name other than context": (
        """
        @app.orchestration_trigger(context_name="ctx")
        def orchestrator(context: df.DurableOrchestrationContext):
            yield context.call_activity("x", None)
        """,
        'cannot load the orchestrator function: the "context" parameter is expected to be of type '
        "azure.functions.Context, got <class 'azure.functions._durable_functions.OrchestrationContext'>"
        ' (the orchestrationTrigger parameter must be named "context": use context_name="context" in the decorator)',
    ),
    "unbound context parameter with a wrong annotation": (
        """
        @app.route(route="r")
        def handler(req: func.HttpRequest, context: str) -> func.HttpResponse:
            return func.HttpResponse("ok")
        """,
        'cannot load the handler function: the "context" parameter is expected to be of type '
        "azure.functions.Context, got <class 'str'>",
    ),
    "parameter without a binding": (
        """
        @app.route(route="r")
        def handler(req: func.HttpRequest, extra: str) -> func.HttpResponse:
            return func.HttpResponse("ok")
        """,
        "cannot load the handler function: the following parameters are declared in Python but not in "
        "function.json: {'extra'}",
    ),
    "binding without a parameter": (
        """
        async def starter(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("ok")

        app.route(route="r")(app.durable_client_input(client_name="client")(app.function_name("starter")(starter)))
        """,
        "cannot load the starter function: the following parameters are declared in function.json but not in "
        "Python: {'client'}",
    ),
    "Out annotation on an input binding": (
        """
        @app.activity_trigger(input_name="payload")
        def work(payload: func.Out[str]) -> None:
            pass
        """,
        'cannot load the work function: binding payload is declared to have the "in" direction in function.json, '
        "but its annotation is azure.functions.Out in Python",
    ),
    "output binding without an Out annotation": (
        """
        @app.route(route="r")
        @app.queue_output(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
        def handler(req: func.HttpRequest, msg: str) -> func.HttpResponse:
            return func.HttpResponse("ok")
        """,
        'cannot load the handler function: binding msg is declared to have the "out" direction, but its '
        "annotation in Python is not a subclass of azure.functions.Out",
    ),
    "Out of a type the output binding cannot write": (
        """
        @app.route(route="r")
        @app.queue_output(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
        def handler(req: func.HttpRequest, msg: func.Out[int]) -> func.HttpResponse:
            return func.HttpResponse("ok")
        """,
        "cannot load the handler function: 'msg' binding type \"queue\" and dataType \"None\" in function.json "
        "do not match the corresponding function parameter's Python type annotation \"int\"",
    ),
    "HTTP function returning a dict": (
        """
        @app.route(route="r")
        def handler(req: func.HttpRequest) -> dict:
            return {}
        """,
        'cannot load the handler function: Python return annotation "dict" does not match binding type "http"',
    ),
    "HTTP function with a non-type return annotation": (
        """
        @app.route(route="r")
        def handler(req: func.HttpRequest) -> Optional[func.HttpResponse]:
            return None
        """,
        "cannot load the handler function: has invalid non-type return annotation "
        "typing.Optional[azure.functions._http.HttpResponse]",
    ),
    "HTTP function returning an Out": (
        """
        @app.route(route="r")
        def handler(req: func.HttpRequest) -> func.Out[str]:
            raise NotImplementedError
        """,
        "cannot load the handler function: return annotation should not be azure.functions.Out",
    ),
    "binding name with a double underscore (host)": (
        """
        @app.activity_trigger(input_name="my__payload")
        def work(my__payload: str) -> str:
            return my__payload
        """,
        "cannot load the work function: The binding name my__payload is invalid. Please assign a valid name to "
        "the binding.",
    ),
    "function name the host reserves": (
        """
        @app.function_name("host")
        @app.route(route="r")
        def handler(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("ok")
        """,
        "cannot load the host function: 'host' is not a valid function name.",
    ),
}


@pytest.mark.parametrize("body, message", list(REFUSED.values()), ids=list(REFUSED))
def test_an_app_the_worker_refuses_is_refused(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(FunctionLoadError) as caught:
        _load(tmp_path, body)
    assert caught.value.message == message


INDEXING_FAILURES = {
    "unresolvable annotation": (
        """
        @app.activity_trigger(input_name="payload")
        def work(payload: MissingType) -> str:
            return ""
        """,
        "indexing function_app.py failed at function work: NameError: name 'MissingType' is not defined",
    ),
    "Optional on an activity input (the SDK-type probe of azurefunctions-extensions-base)": (
        """
        @app.activity_trigger(input_name="payload")
        def work(payload: Optional[str]) -> str:
            return payload or ""
        """,
        "indexing function_app.py failed at function work: TypeError: issubclass() arg 1 must be a class",
    ),
    "typing generic where the converter needs a class": (
        """
        @app.route(route="r")
        def handler(req: Dict[str, Any]) -> func.HttpResponse:
            return func.HttpResponse("ok")
        """,
        "indexing function_app.py failed at function handler: TypeError: issubclass() arg 1 must be a class",
    ),
    "retry interval not in HH:MM:SS": (
        """
        @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
        @app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="10s")
        def tick(timer: func.TimerRequest) -> None:
            pass
        """,
        "indexing function_app.py failed at function tick: ValueError: time data '10s' does not match format "
        "'%H:%M:%S'",
    ),
}


@pytest.mark.parametrize("body, message", list(INDEXING_FAILURES.values()), ids=list(INDEXING_FAILURES))
def test_an_exception_in_the_workers_checks_fails_the_indexing(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(AppLoadError) as caught:
        _load(tmp_path, body)
    assert not isinstance(caught.value, FunctionLoadError)
    assert caught.value.message == message


def test_what_the_worker_accepts_loads(tmp_path: Path) -> None:
    index = _load(tmp_path, """
        @app.activity_trigger(input_name="payload")
        def typed(payload: Dict[str, Any]) -> dict[str, Any]:  # a built-in generic return is not checked
            return payload

        @app.activity_trigger(input_name="payload")
        def plain(payload: dict) -> None:
            pass

        @app.activity_trigger(input_name="snake_case_input")
        def snake(snake_case_input) -> str:  # underscores are valid binding names since host 4.1038
            return "x"

        @app.route(route="text")
        def text(req: func.HttpRequest, context: func.Context) -> str:  # str is a valid HTTP return
            return "ok"

        @app.route(route="queue")
        @app.queue_output(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
        def enqueue(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
            return func.HttpResponse("ok")

        @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
        @app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:10")
        def tick(timer: func.TimerRequest) -> None:
            pass

        @app.orchestration_trigger(context_name="context")
        def orchestrator(context: df.DurableOrchestrationContext):
            yield context.call_activity("typed", {})
        """)
    assert {f.name for f in index} == {"typed", "plain", "snake", "text", "enqueue", "tick", "orchestrator"}
    text_fn = index.get("text")
    assert text_fn is not None and text_fn.requires_context and text_fn.has_return
    tick = index.get("tick")
    assert tick is not None and not tick.has_return  # a timer trigger has no output


def test_every_refused_function_is_reported_at_once(tmp_path: Path) -> None:
    """The worker stops at the first; devhost names them all, and says Azure would load none."""
    with pytest.raises(FunctionLoadError) as caught:
        _load(tmp_path, """
            @app.activity_trigger(input_name="payload")
            def first(payload: dict[str, Any]) -> None:
                pass

            @app.activity_trigger(input_name="payload")
            def fine(payload: Dict[str, Any]) -> None:
                pass

            @app.activity_trigger(input_name="payload")
            def second(payload: list[int]) -> None:
                pass
            """)
    assert caught.value.function_name == "first"
    assert caught.value.details == (
        "2 of 3 functions are refused (Azure would load none):\n"
        "cannot load the second function: binding payload has invalid non-type annotation list[int]"
    )


def test_a_script_file_name_the_worker_cannot_import_is_refused(tmp_path: Path) -> None:
    (tmp_path / "my app.py").write_text(_HEADER)
    with pytest.raises(AppLoadError, match=r"^Invalid file name: my app\.py$"):
        load_app(tmp_path, "my app.py")
