"""Import ``function_app.py`` and index its functions the way the Python worker does (spec §1.1–1.3)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from ._errors import AppLoadError, FunctionLoadError
from ._index import (
    DURABLE_CLIENT,
    DurableClientBinding,
    FunctionIndex,
    FunctionInfo,
    FunctionKind,
    HttpRoute,
    QueueSource,
    TimerSchedule,
    durable_name_key,
    kind_of_trigger,
)
from ._worker_rules import CheckedFunction, check_function, check_script_file_name

__all__ = ["AppLoadError", "FunctionLoadError", "load_app"]

MODULE_NAME = "function_app"
_SUPPORTED_BINDINGS = {
    "httpTrigger", "http", "orchestrationTrigger", "activityTrigger", "entityTrigger", "timerTrigger",
    "queueTrigger", DURABLE_CLIENT,
}


def load_app(app_dir: Path, script_file: str = "function_app.py", *, change_cwd: bool = False) -> FunctionIndex:
    """Import ``app_dir/script_file`` as module ``function_app`` and index every function.

    ``change_cwd`` makes the app root the process's working directory, as the worker runs (the CLI does this; the
    tests do not, to keep pytest's CWD).
    """
    app_dir = app_dir.resolve()
    refusal = check_script_file_name(script_file)
    if refusal is not None:
        raise AppLoadError(refusal)
    script = app_dir / script_file
    if not script.is_file():
        raise AppLoadError(f"{script} not found: the Python v2 programming model needs a {script_file} at the app root")
    if change_cwd:
        os.chdir(app_dir)
    module = _import_script(script, app_dir)
    app = _find_function_register(module, script)
    try:
        functions = app.get_functions()  # may run only once per app object (it records names)
    except Exception as exc:
        raise AppLoadError(
            f"indexing {script.name} failed: {type(exc).__name__}: {exc}", _app_traceback(exc, app_dir)
        ) from None
    return FunctionIndex(_index_functions(functions, script, app_dir), script_file=str(script))


def _index_functions(functions: list[Any], script: Path, app_dir: Path) -> list[FunctionInfo]:
    """Index every function; any refusal refuses the app, as in Azure, where the worker's first refused function
    fails the whole indexing. All refusals are reported at once (the worker stops at the first)."""
    indexed: list[FunctionInfo] = []
    refused: list[FunctionLoadError] = []
    for function in functions:
        try:
            indexed.append(_index_function(function))
        except FunctionLoadError as exc:
            refused.append(exc)
        except Exception as exc:  # the worker's indexing fails with the same exception (a TypeError, a NameError)
            raise AppLoadError(
                f"indexing {script.name} failed at function {function.get_function_name()}: "
                f"{type(exc).__name__}: {exc}", _app_traceback(exc, app_dir)
            ) from None
    if refused:
        first = refused[0]
        if len(refused) > 1:
            first.details = "\n".join(
                [f"{len(refused)} of {len(functions)} functions are refused (Azure would load none):"]
                + [e.message for e in refused[1:]]
            )
        raise first
    return indexed


def _import_script(script: Path, app_dir: Path) -> ModuleType:
    root = str(app_dir)
    if root not in sys.path:
        sys.path.insert(0, root)
    # A previously loaded app (tests load several) must not satisfy this import.
    sys.modules.pop(MODULE_NAME, None)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, script)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot import {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(MODULE_NAME, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise AppLoadError(
            f"importing {script.name} failed: {type(exc).__name__}: {exc}", _app_traceback(exc, app_dir)
        ) from None
    return module


def _app_traceback(exc: BaseException, app_dir: Path) -> str:
    """The traceback from the first frame in the app's own code (import machinery frames are noise)."""
    tb: TracebackType | None = exc.__traceback__
    start = tb
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(app_dir):
            start = tb
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, start))


def _find_function_register(module: ModuleType, script: Path) -> Any:
    import azure.functions as func

    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(apps) > 1:
        raise AppLoadError(
            f"More than one {type(apps[0]).__name__} or other top level function app instances are defined. "
            f"(in {script.name}: keep one)"
        )
    if not apps:
        raise AppLoadError(
            f"Could not find top level function app instances in {script.name}. "
            "(expected one azure.functions.FunctionApp or azure.durable_functions.DFApp)"
        )
    return apps[0]


def _index_function(function: Any) -> FunctionInfo:
    name: str = function.get_function_name()
    bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
    trigger_obj = function.get_trigger()
    trigger = next(b for b in bindings if b["name"] == trigger_obj.name and b["type"] == trigger_obj.type)
    kind = kind_of_trigger(trigger["type"])
    user_function = function.get_user_function()
    try:
        checked: CheckedFunction = check_function(function)
    except FunctionLoadError as exc:
        if kind in (FunctionKind.ORCHESTRATOR, FunctionKind.ENTITY) and trigger["name"] != "context":
            # The SDK's wrapper takes a parameter literally named "context", so any other context_name fails in
            # the real worker too (azure-functions-durable-python / durabletask-python issue 171).
            exc.message += (
                f' (the {trigger["type"]} parameter must be named "context": use '
                f'context_name="context" in the decorator)'
            )
        raise

    durable_name: str | None = None
    key = durable_name_key(kind)
    if key is not None:
        durable_name = str(trigger.get(key) or name)
    client = next((b for b in bindings if b["type"] == DURABLE_CLIENT), None)
    return FunctionInfo(
        name=name,
        kind=kind,
        trigger=trigger,
        bindings=tuple(bindings),
        user_function=user_function,
        is_async=inspect.iscoroutinefunction(user_function),
        requires_context=checked.requires_context,
        durable_name=durable_name,
        http=_http_route(name, trigger) if kind is FunctionKind.HTTP else None,
        durable_client=(
            DurableClientBinding(client["name"], client.get("taskHub"), client.get("connectionName"))
            if client else None
        ),
        timer=(
            TimerSchedule(str(trigger["schedule"]), bool(trigger.get("runOnStartup")), bool(trigger.get("useMonitor")))
            if kind is FunctionKind.TIMER else None
        ),
        queue=(
            QueueSource(str(trigger["queueName"]), str(trigger.get("connection") or "AzureWebJobsStorage"))
            if kind is FunctionKind.QUEUE else None
        ),
        has_return=checked.has_return,
        unsupported_bindings=tuple(b["type"] for b in bindings if b["type"] not in _SUPPORTED_BINDINGS),
    )


def _http_route(name: str, trigger: dict[str, Any]) -> HttpRoute:
    methods = tuple(str(m).upper() for m in trigger.get("methods") or ())
    return HttpRoute(
        template=str(trigger.get("route") or name).strip("/"),
        methods=methods,
        auth_level=str(trigger.get("authLevel") or "FUNCTION").lower(),
    )
