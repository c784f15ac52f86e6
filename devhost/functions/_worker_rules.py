"""The indexing rules of the real Python worker and Functions host, restated so devhost refuses what Azure refuses.

Source of the rules: azure-functions-python-worker 4.34 (the worker the Functions host runs for Python 3.11):
``functions.Registry.add_indexed_function`` with ``validate_binding_direction``, ``is_context_required``,
``validate_function_params`` and ``get_function_return_type``; ``loader.process_indexed_function`` (retry
options); ``bindings/meta.py`` (converter lookup, implicit outputs, the generic binding). The host's
``FunctionDescriptorProvider.ValidateFunction`` adds the binding-name and trigger checks.

Which Python types a binding accepts is decided by azure-functions' own converters (``check_input_type_annotation``
/ ``check_output_type_annotation``), found through its binding registry as the worker finds them; a type with
no converter falls back to the worker's generic binding, whose two checks are restated here. Everything raises
:class:`FunctionLoadError` with the worker's wording. In Azure one refused function fails the indexing of the
whole app (the worker answers the host's metadata request with an error, and no function loads).
"""

from __future__ import annotations

import collections.abc
import inspect
import re
import time
import typing
from dataclasses import dataclass
from typing import Any

from ._errors import FunctionLoadError

# azure.functions' BindingDirection values, which the worker compares with its protobuf enum.
DIRECTION_IN, DIRECTION_OUT, DIRECTION_INOUT = 0, 1, 2
_DATA_TYPE_UNDEFINED = 0
_RETURN = "$return"
_DURABLE_CLIENT = "durableClient"
_GENERIC = "generic"

# The host's Utility.ValidateBinding since host 4.1038 (azure-functions-host PR 10764 allowed snake_case): a letter
# or underscore, then up to 127 letters, digits or underscores, never two underscores in a row; or $return.
_BINDING_NAME = re.compile(r"^(?!.*__)([a-zA-Z_][a-zA-Z0-9_]{0,127}|\$return)$")
# The host's Utility.ValidateName for function names ("host" is reserved).
_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$", re.IGNORECASE)
# The worker's validate_script_file_name (PYTHON_SCRIPT_FILE_NAME).
_SCRIPT_FILE_NAME = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_\-]*\.py$")

# typing's generic aliases as the worker's vendored typing_inspect sees them: typing.Dict[str, Any] and bare
# typing.Dict are generic; dict[str, Any] (types.GenericAlias), Optional[X], X | None, Tuple and Callable are not.
_TYPING_GENERIC_ALIAS: Any = typing._GenericAlias  # type: ignore[attr-defined]
_TYPING_SPECIAL_ALIAS: Any = typing._SpecialGenericAlias  # type: ignore[attr-defined]
_NOT_GENERIC_ORIGINS: tuple[Any, ...] = (typing.Union, tuple, typing.ClassVar, collections.abc.Callable)


@dataclass(frozen=True)
class CheckedFunction:
    """What the checks learn that the invoker needs."""

    requires_context: bool  # an unbound ``context`` parameter receives the invocation context
    has_return: bool  # an explicit $return binding or a binding with implicit output


@dataclass(frozen=True)
class _Binding:
    name: str
    type: str
    direction: int
    data_type: int | None


def check_script_file_name(file_name: str) -> str | None:
    """The worker's refusal of a ``PYTHON_SCRIPT_FILE_NAME`` it cannot import, or None."""
    return None if _SCRIPT_FILE_NAME.match(file_name) else f"Invalid file name: {file_name}"


def check_function(function: Any) -> CheckedFunction:
    """Apply every rule to one ``azure.functions`` Function object, in the worker's order."""
    name: str = function.get_function_name()
    user_function = function.get_user_function()
    bindings = [_Binding(b.name, b.type, int(b.direction), b.data_type) for b in function.get_bindings()]

    params = dict(inspect.signature(user_function).parameters)
    annotations = typing.get_type_hints(user_function)  # unresolvable names fail the indexing, as in the worker
    inspect.getfile(user_function)  # the worker records the function's directory from its source file

    bound: dict[str, _Binding] = {}
    explicit_return = implicit_return = False
    return_binding_type: str | None = None
    for binding in bindings:
        if binding.direction == DIRECTION_INOUT:
            raise FunctionLoadError(name, '"inout" bindings are not supported')
        if binding.name == _RETURN and binding.direction != DIRECTION_OUT:
            raise FunctionLoadError(name, '"$return" binding must have direction set to "out"')
        if binding.name == _RETURN:
            if not explicit_return:
                return_binding_type = binding.type
            explicit_return = True
        else:
            bound[binding.name] = binding
            if has_implicit_output(binding.type):
                implicit_return = True
                if not explicit_return:
                    return_binding_type = binding.type

    requires_context = _pop_context(name, params, bound, annotations)
    _check_parameters(name, params, bound, annotations)
    if explicit_return and "return" in annotations:
        _check_return_annotation(name, annotations["return"], return_binding_type or _GENERIC)
    _check_retry_options(function)
    _check_host_rules(name, bindings)
    return CheckedFunction(requires_context=requires_context, has_return=explicit_return or implicit_return)


def _check_host_rules(name: str, bindings: list[_Binding]) -> None:
    """The host's ValidateName and ValidateFunction: a valid function name, valid and unique binding names, a
    trigger. The host checks these only after the worker accepted the whole app, and then puts just the offending
    function in error; devhost refuses the app."""
    if not _FUNCTION_NAME.match(name) or name.lower() == "host":
        raise FunctionLoadError(name, f"'{name}' is not a valid function name.")
    seen: set[str] = set()
    for binding in bindings:
        if not _BINDING_NAME.match(binding.name):
            raise FunctionLoadError(
                name, f"The binding name {binding.name} is invalid. Please assign a valid name to the binding."
            )
        if binding.name.lower() in seen:
            raise FunctionLoadError(
                name, f"Multiple bindings with name '{binding.name}' discovered. Binding names must be unique."
            )
        seen.add(binding.name.lower())
    if not any(b.type.lower().endswith("trigger") for b in bindings):
        raise FunctionLoadError(name, "No trigger binding specified. A function must have a trigger input binding.")


def _pop_context(
    name: str, params: dict[str, inspect.Parameter], bound: dict[str, _Binding], annotations: dict[str, Any]
) -> bool:
    """An unbound parameter named ``context`` gets the invocation context; its annotation must be a ``Context``."""
    if "context" not in params or "context" in bound:
        return False
    params.pop("context")
    if "context" in annotations:
        annotation = annotations["context"]
        if not isinstance(annotation, type) or annotation.__name__ != "Context":
            raise FunctionLoadError(
                name, f'the "context" parameter is expected to be of type azure.functions.Context, got {annotation!r}'
            )
    return True


def _check_parameters(
    name: str, params: dict[str, inspect.Parameter], bound: dict[str, _Binding], annotations: dict[str, Any]
) -> None:
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
    for param in params:
        binding = bound[param]
        if param not in annotations:
            continue  # an unannotated parameter takes whatever the binding decodes
        annotation = annotations[param]
        if is_sdk_type(annotation):
            raise FunctionLoadError(
                name, f"binding {param} is an SDK-type (deferred) binding {annotation!r}, which devhost does not provide"
            )
        is_out = _is_out_annotation(annotation)
        py_type: Any = annotation
        if is_out:
            args = _alias_args(annotation)
            if len(args) != 1:
                raise FunctionLoadError(name, f"binding {param} has invalid Out annotation {annotation!r}")
            py_type = args[0]
        if not isinstance(py_type, type) and not is_typing_generic(py_type):
            raise FunctionLoadError(name, f"binding {param} has invalid non-type annotation {annotation!r}")
        binding_is_out = binding.direction == DIRECTION_OUT
        if binding_is_out and not is_out:
            raise FunctionLoadError(
                name, f'binding {param} is declared to have the "out" direction, but its annotation in Python is '
                      "not a subclass of azure.functions.Out"
            )
        if not binding_is_out and is_out:
            raise FunctionLoadError(
                name, f'binding {param} is declared to have the "in" direction in function.json, but its '
                      "annotation is azure.functions.Out in Python"
            )
        binding_type = binding.type
        if py_type in (str, bytes) and not has_implicit_output(binding.type):
            binding_type = _GENERIC  # the worker passes the raw string/bytes through its generic binding
        accepted = accepts_output(binding_type, py_type) if is_out else accepts_input(binding_type, py_type)
        if accepted:
            continue
        type_name = getattr(py_type, "__name__", repr(py_type))
        if binding.data_type != _DATA_TYPE_UNDEFINED:
            raise FunctionLoadError(
                name, f'{param!r} binding type "{binding.type}" and dataType "{binding.data_type}" in function.json '
                      f"do not match the corresponding function parameter's Python type annotation \"{type_name}\""
            )
        raise FunctionLoadError(
            name, f'type of {param} binding in function.json "{binding.type}" does not match its Python '
                  f'annotation "{type_name}"'
        )


def _check_return_annotation(name: str, annotation: Any, binding_type: str) -> None:
    """Only an explicit ``$return`` binding's annotation is checked (an implicit output's is not)."""
    # A generic without an origin (bare typing.Dict) makes the worker fail here with AttributeError, as this does.
    if is_typing_generic(annotation) and _alias_origin(annotation).__name__ == "Out":
        raise FunctionLoadError(name, "return annotation should not be azure.functions.Out")
    if not isinstance(annotation, type):
        raise FunctionLoadError(name, f"has invalid non-type return annotation {annotation!r}")
    if not accepts_output(binding_type, annotation):
        raise FunctionLoadError(
            name, f'Python return annotation "{annotation.__name__}" does not match binding type "{binding_type}"'
        )


def _check_retry_options(function: Any) -> None:
    """The worker turns a retry policy into RpcRetryOptions while indexing: its counts must be integers and its
    intervals ``HH:MM:SS`` (a ValueError here fails the whole indexing)."""
    getter = getattr(function, "get_settings_dict", None)
    retry = getter("retry_policy") if getter is not None else None
    if not retry:
        return
    int(retry.get("max_retry_count"))
    keys = ("delay_interval",) if retry.get("strategy") == "fixed_delay" else ("minimum_interval", "maximum_interval")
    for key in keys:
        time.strptime(retry.get(key), "%H:%M:%S")


def is_typing_generic(annotation: Any) -> bool:
    """The worker's ``typing_inspect.is_generic_type``."""
    if isinstance(annotation, type):
        return issubclass(annotation, typing.Generic)
    return (isinstance(annotation, (_TYPING_GENERIC_ALIAS, _TYPING_SPECIAL_ALIAS))
            and annotation.__origin__ not in _NOT_GENERIC_ORIGINS)


def is_sdk_type(annotation: Any) -> bool:
    """The worker first asks azurefunctions-extensions-base (one of its own dependencies, so always present in
    Azure) whether an annotation is an SDK type for a deferred binding: a subclass of its ``SdkType``, or an
    iterable generic of exactly one. Its iterable test calls issubclass() on the annotation's origin, so an
    annotation such as Optional[str] fails the whole indexing with TypeError before any other check."""
    sdk_type = _sdk_type_base()
    if annotation is None:
        return False
    if isinstance(annotation, type) and sdk_type is not None and issubclass(annotation, sdk_type):
        return True
    origin = typing.get_origin(annotation)
    if origin is None or not issubclass(origin, collections.abc.Iterable):
        return False
    args = typing.get_args(annotation)
    return (len(args) == 1 and isinstance(args[0], type) and sdk_type is not None
            and issubclass(args[0], sdk_type))


def _sdk_type_base() -> type | None:
    """``SdkType`` when the app's environment has the extension (then it may declare SDK-type bindings)."""
    try:
        from azurefunctions.extensions.base import sdkType  # type: ignore[import-not-found]
    except ImportError:
        return None
    base: type = sdkType.SdkType
    return base


def _alias_origin(annotation: Any) -> Any:
    if isinstance(annotation, _TYPING_GENERIC_ALIAS):
        origin = annotation.__origin__
        return origin if origin is not typing.ClassVar else None
    return typing.Generic if annotation is typing.Generic else None


def _alias_args(annotation: Any) -> tuple[Any, ...]:
    return tuple(annotation.__args__) if isinstance(annotation, _TYPING_GENERIC_ALIAS) else ()


def _is_out_annotation(annotation: Any) -> bool:
    candidate = annotation
    if is_typing_generic(annotation) and _alias_origin(annotation) is not None:
        candidate = _alias_origin(annotation)
    return isinstance(candidate, type) and candidate.__name__ == "Out"


def _converter(binding_type: str) -> Any:
    from azure.functions import meta

    registry: Any = meta.get_binding_registry()  # type: ignore[no-untyped-call]
    return registry.get(binding_type) if binding_type != _GENERIC else None


def has_implicit_output(binding_type: str) -> bool:
    """A binding whose function's return value is its output (durable triggers, and any type without a converter
    except the durable client): the worker then does not check the return annotation."""
    converter = _converter(binding_type)
    if converter is None:
        return binding_type != _DURABLE_CLIENT
    return bool(getattr(converter, "has_implicit_output", lambda: False)())


def accepts_input(binding_type: str, py_type: Any) -> bool:
    """The converter's input check; with no converter, the generic binding takes str and bytes. A typing generic
    reaches the converter as is: converters that call issubclass() then raise TypeError, as in the worker."""
    converter = _converter(binding_type)
    if converter is None:
        return issubclass(py_type, (str, bytes))
    return bool(converter.check_input_type_annotation(py_type))


def accepts_output(binding_type: str, py_type: Any) -> bool:
    converter = _converter(binding_type)
    if converter is None:
        return issubclass(py_type, (str, bytes, bytearray))
    return bool(converter.check_output_type_annotation(py_type))
