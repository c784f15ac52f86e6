"""A registry of typed Python tool functions with JSON schemas, argument validation and capped outputs.

Model mistakes (unknown tool, arguments that are not JSON or break the schema) and domain errors raised as
``ToolError`` become an error OUTPUT for the model, so the turn goes on. Anything else (storage down, bugs)
propagates to the caller, which retries what is transient and reports the rest with ``error_result``.
"""

from __future__ import annotations

import inspect
import json
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import jsonschema

from durable_assistant import json_limits
from durable_assistant.storage_clients import StorageClients
from durable_assistant.tools._truncate import cap_output


class ToolError(Exception):
    """A tool could not do what was asked (unknown lamp, unknown customer); reported to the model."""


@dataclass(frozen=True)
class Param:
    """Schema details for one parameter, used as ``Annotated[int, Param("...", minimum=0)]``."""

    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    """``maxLength`` of a string (also what keeps a 100 KB argument away from storage queries)."""
    max_properties: int | None = None
    """``maxProperties`` of an object."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool may use besides its arguments."""

    storage: StorageClients
    """Storage clients for the tool's data tables."""
    call_key: str
    """Unique key of this tool call (conversation, turn, call id): side-effect tools dedupe on it."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it (provider-neutral; adapters reshape it per protocol)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """Outcome of one call: ``output`` is what goes back to the model."""

    output: str
    ok: bool
    error: str | None = None
    duration_ms: int = 0


ToolFunction = Callable[..., Any]


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    func: ToolFunction
    side_effects: bool


@dataclass
class ToolRegistry:
    """Holds tools by name; ``run`` validates, executes and caps the output."""

    max_output_chars: int = 16000
    _tools: dict[str, Tool] = field(default_factory=dict)

    def tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
        side_effects: bool = False,
    ) -> Callable[[ToolFunction], ToolFunction]:
        """Decorator: register ``fn(ctx, **arguments)``; the schema comes from type hints unless declared."""

        def register(fn: ToolFunction) -> ToolFunction:
            tool_name = name or fn.__name__
            if tool_name in self._tools:
                raise ValueError(f"tool {tool_name!r} is registered twice")
            schema = parameters if parameters is not None else schema_from_signature(fn)
            jsonschema.Draft202012Validator.check_schema(schema)
            doc = description or inspect.getdoc(fn) or tool_name
            self._tools[tool_name] = Tool(ToolSpec(tool_name, doc.strip(), schema), fn, side_effects)
            return fn

        return register

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [self._tools[n].spec for n in self.names()]

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def validation_error(self, name: str, arguments: Any) -> str | None:
        """None when ``arguments`` fit the tool's schema, else a readable message (unknown tools included)."""
        tool = self._tools.get(name)
        if tool is None:
            return f"unknown tool {name!r}; available tools: {', '.join(self.names())}"
        validator = jsonschema.Draft202012Validator(tool.spec.parameters)
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        if not errors:
            return None
        return "; ".join(_describe(e) for e in errors)

    def run(self, name: str, arguments: str | dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run one call. ``arguments`` may be the model's raw JSON string."""
        started = time.perf_counter()
        if isinstance(arguments, str):
            try:
                parsed: Any = json_limits.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                return self._error(f"arguments are not valid JSON: {exc.msg} at position {exc.pos}", started)
            except ValueError as exc:  # past the size or nesting limit, or an integer of over 4300 digits
                return self._error(f"arguments are not acceptable JSON: {exc}", started)
        else:
            parsed = arguments
        problem = self.validation_error(name, parsed)
        if problem is not None:
            prefix = "" if name not in self._tools else "invalid arguments: "
            return self._error(prefix + problem, started)
        tool = self._tools[name]
        try:
            value = tool.func(ctx, **parsed)
        except ToolError as exc:
            return self._error(str(exc), started)
        output = cap_output({"success": True, "data": value}, self.max_output_chars)
        return ToolResult(output=output, ok=True, duration_ms=_elapsed_ms(started))

    def _error(self, message: str, started: float) -> ToolResult:
        return self.error_result(message, _elapsed_ms(started))

    def error_result(self, message: str, duration_ms: int = 0) -> ToolResult:
        """The output the model gets for a call that failed: ``{"success": false, "error": message}``."""
        output = cap_output({"success": False, "error": message}, self.max_output_chars)
        return ToolResult(output=output, ok=False, error=message, duration_ms=duration_ms)


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


_MAX_MESSAGE_CHARS = 300


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    message = error.message
    if error.validator in ("maxLength", "maxProperties") and isinstance(error.instance, (str, dict)):
        # jsonschema's own message repeats the whole (oversized) value
        unit = "characters" if isinstance(error.instance, str) else "properties"
        message = f"has {len(error.instance)} {unit}; the limit is {error.validator_value}"
    elif len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + "..."
    return f"{where}: {message}" if where else message


def schema_from_signature(fn: ToolFunction) -> dict[str, Any]:
    """JSON schema of ``fn``'s keyword parameters (all but the first, the ToolContext)."""
    hints = typing.get_type_hints(fn, include_extras=True)
    params = list(inspect.signature(fn).parameters.values())[1:]
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in params:
        if p.name not in hints:
            raise TypeError(f"{fn.__name__}: parameter {p.name!r} needs a type hint")
        properties[p.name] = _schema_for(hints[p.name])
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _schema_for(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(hint)
        schema = _schema_for(base)
        for extra in extras:
            if isinstance(extra, Param):
                if extra.description:
                    schema["description"] = extra.description
                if extra.minimum is not None:
                    schema["minimum"] = extra.minimum
                if extra.maximum is not None:
                    schema["maximum"] = extra.maximum
                if extra.max_length is not None:
                    schema["maxLength"] = extra.max_length
                if extra.max_properties is not None:
                    schema["maxProperties"] = extra.max_properties
        return schema
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) == 1:
            # Optional[X]: models (OpenAI strict mode especially) send null for omitted optionals.
            schema = _schema_for(options[0])
            if isinstance(schema.get("type"), str):
                schema["type"] = [schema["type"], "null"]
            return schema
        return {"anyOf": [_schema_for(a) for a in options]}
    if origin is Literal:
        return {"enum": list(typing.get_args(hint))}
    if origin is dict or hint is dict:
        args = typing.get_args(hint)
        if not args:
            return {"type": "object"}
        keys, values = _schema_for(args[0]), _schema_for(args[1])
        schema = {"type": "object", "additionalProperties": values}
        keys.pop("type", None)
        return schema | ({"propertyNames": keys} if keys else {})
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return {"type": "array", "items": _schema_for(item) if item is not Any else {}}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    if hint is Any:
        return {}
    raise TypeError(f"no JSON schema mapping for type hint {hint!r}")
