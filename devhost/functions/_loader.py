"""Import ``function_app.py`` and index its functions the way the Python worker does (spec §1.1–1.3)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import traceback
import typing
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

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

MODULE_NAME = "function_app"
_SUPPORTED_BINDINGS = {
    "httpTrigger", "http", "orchestrationTrigger", "activityTrigger", "entityTrigger", "timerTrigger",
    "queueTrigger", DURABLE_CLIENT,
}


class AppLoadError(Exception):
    """The app could not be imported or indexed. ``details`` holds the app's traceback when there is one."""

    def __init__(self, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message if not self.details else f"{self.message}\n{self.details}"


class FunctionLoadError(AppLoadError):
    """One function's parameters do not match its bindings (the worker's ``FunctionLoadError``)."""

    def __init__(self, function_name: str, message: str) -> None:
        super().__init__(f"cannot load the {function_name} function: {message}")
        self.function_name = function_name


def load_app(app_dir: Path, script_file: str = "function_app.py", *, change_cwd: bool = False) -> FunctionIndex:
    """Import ``app_dir/script_file`` as module ``function_app`` and index every function.

    ``change_cwd`` makes the app root the process's working directory, as the worker runs (the CLI does this; the
    tests do not, to keep pytest's CWD).
    """
    app_dir = app_dir.resolve()
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
    return FunctionIndex([_index_function(f) for f in functions], script_file=str(script))


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
            f"More than one {type(apps[0]).__name__} or other top level function app instances are defined "
            f"in {script.name}."
        )
    if not apps:
        raise AppLoadError(
            f"Could not find top level function app instances in {script.name} "
            "(expected one azure.functions.FunctionApp or azure.durable_functions.DFApp)."
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
        requires_context, has_return = _validate_parameters(name, user_function, bindings)
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
        requires_context=requires_context,
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
        has_return=has_return,
        unsupported_bindings=tuple(b["type"] for b in bindings if b["type"] not in _SUPPORTED_BINDINGS),
    )


def _http_route(name: str, trigger: dict[str, Any]) -> HttpRoute:
    methods = tuple(str(m).upper() for m in trigger.get("methods") or ())
    return HttpRoute(
        template=str(trigger.get("route") or name).strip("/"),
        methods=methods,
        auth_level=str(trigger.get("authLevel") or "FUNCTION").lower(),
    )


def _validate_parameters(name: str, fn: Any, bindings: list[dict[str, Any]]) -> tuple[bool, bool]:
    """The worker's rules: every parameter is a binding or the unbound ``context``, and vice versa."""
    params = dict(inspect.signature(fn).parameters)
    try:
        annotations = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: the worker would fail later; be lenient here
        annotations = {}
    bound: dict[str, dict[str, Any]] = {}
    has_return = False
    for binding in bindings:
        direction = str(binding.get("direction", "IN")).upper()
        if direction == "INOUT":
            raise FunctionLoadError(name, '"inout" bindings are not supported')
        if binding["name"] == "$return":
            if direction != "OUT":
                raise FunctionLoadError(name, '"$return" binding must have direction set to "out"')
            has_return = True
        else:
            bound[binding["name"]] = binding

    requires_context = False
    if "context" in params and "context" not in bound:
        requires_context = True
        params.pop("context")
        annotation = annotations.get("context")
        if annotation is not None and (not isinstance(annotation, type) or annotation.__name__ != "Context"):
            raise FunctionLoadError(
                name, f'the "context" parameter is expected to be of type azure.functions.Context, got {annotation!r}'
            )
    extra = set(params) - set(bound)
    if extra:
        raise FunctionLoadError(
            name, f"the following parameters are declared in Python but not in function.json: {extra!r}"
        )
    missing = set(bound) - set(params)
    if missing:
        raise FunctionLoadError(
            name, f"the following parameters are declared in function.json but not in Python: {missing!r}"
        )
    _check_annotations(name, params, bound, annotations)
    return requires_context, has_return


def _check_annotations(
    name: str, params: dict[str, inspect.Parameter], bound: dict[str, dict[str, Any]], annotations: dict[str, Any]
) -> None:
    """The worker's annotation check for input bindings: the binding's converter must accept the Python type
    (``str``/``bytes`` always pass: the worker then uses the generic binding)."""
    from azure.functions import meta

    registry: Any = meta.get_binding_registry()  # type: ignore[no-untyped-call]
    for param in params:
        binding = bound[param]
        annotation = annotations.get(param)
        if annotation is None or not isinstance(annotation, type) or annotation in (str, bytes):
            continue  # unannotated, generic (list[int], Out[...]) or the generic binding
        if str(binding.get("direction", "IN")).upper() != "IN":
            continue
        converter = registry.get(binding["type"]) if registry is not None else None
        if converter is None:
            continue
        if not converter.check_input_type_annotation(annotation):
            raise FunctionLoadError(
                name, f'type of {param} binding in function.json "{binding["type"]}" does not match its Python '
                      f'annotation "{annotation.__name__}"'
            )
