"""Grammars that make the llama engine's tool calls well-formed, and the repair step behind them.

Once the engine has decided to call, the model must emit a JSON list of calls
``[{"name": <one of the tool names>, "arguments": <that tool's schema>}]``. The grammar is compiled from the tools'
JSON schemas (llama.cpp's JSON-schema-to-GBNF), after bounding them so generation always terminates: strings get
a maximum length, free-form objects become empty objects, arrays get a maximum size. What a grammar cannot
express (numeric ranges) is repaired after decoding, so every call the engine returns validates against its
tool's schema.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema

from ._types import ToolSpec

MAX_STRING_LENGTH = 48
MAX_ARRAY_ITEMS = 4
MAX_PARALLEL_CALLS = 4


def bounded_schema(schema: Any) -> Any:
    """A copy of a JSON schema whose every instance is short, so constrained decoding ends within a token budget."""
    if not isinstance(schema, dict):
        return schema
    out = copy.deepcopy(schema)
    kind = out.get("type")
    if kind == "string" and "enum" not in out and "const" not in out:
        out["maxLength"] = min(int(out.get("maxLength", MAX_STRING_LENGTH)), MAX_STRING_LENGTH)
    elif kind == "object":
        properties = out.get("properties") or {}
        out["properties"] = {name: bounded_schema(sub) for name, sub in properties.items()}
        out["additionalProperties"] = False
    elif kind == "array":
        out["items"] = bounded_schema(out.get("items", {"type": "string"}))
        out["maxItems"] = min(int(out.get("maxItems", MAX_ARRAY_ITEMS)), MAX_ARRAY_ITEMS)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in out:
            out[key] = [bounded_schema(sub) for sub in out[key]]
    return out


def calls_schema(tools: tuple[ToolSpec, ...], *, parallel: bool) -> dict[str, Any]:
    """The JSON schema of the list of calls the model may emit."""
    items = [
        {"type": "object", "properties": {"name": {"const": tool.name}, "arguments": bounded_schema(tool.parameters)},
         "required": ["name", "arguments"], "additionalProperties": False}
        for tool in tools
    ]
    return {"type": "array", "items": items[0] if len(items) == 1 else {"oneOf": items}, "minItems": 1,
            "maxItems": MAX_PARALLEL_CALLS if parallel else 1}


def call_grammar(tools: tuple[ToolSpec, ...], *, parallel: bool) -> str:
    """GBNF for a JSON list of calls to the given tools."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf: str = json_schema_to_gbnf(json.dumps(calls_schema(tools, parallel=parallel)), prop_order=["name", "arguments"])
    return gbnf


def repair_arguments(arguments: Any, schema: dict[str, Any]) -> Any:
    """Clamp numbers into their ranges (recursively); everything else the grammar already guaranteed."""
    if isinstance(arguments, dict) and isinstance(schema.get("properties"), dict):
        return {key: repair_arguments(value, schema["properties"].get(key, {})) for key, value in arguments.items()}
    if isinstance(arguments, list) and isinstance(schema.get("items"), dict):
        return [repair_arguments(item, schema["items"]) for item in arguments]
    if isinstance(arguments, int | float) and not isinstance(arguments, bool):
        if "minimum" in schema:
            arguments = max(arguments, schema["minimum"])
        if "maximum" in schema:
            arguments = min(arguments, schema["maximum"])
    return arguments


def minimal_instance(schema: dict[str, Any]) -> Any:
    """The simplest value that satisfies a (bounded) schema: the last resort when decoding ran out of tokens."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: minimal_instance(props[name]) for name in schema.get("required", []) if name in props}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return ""


def valid_arguments(tool: ToolSpec, arguments: Any) -> dict[str, Any]:
    """Arguments that validate against the tool's schema: repaired when possible, minimal otherwise."""
    repaired = repair_arguments(arguments, tool.parameters)
    try:
        jsonschema.validate(repaired, tool.parameters)
    except (jsonschema.ValidationError, jsonschema.SchemaError):
        repaired = minimal_instance(bounded_schema(tool.parameters))
    return repaired if isinstance(repaired, dict) else {}
