"""Translations shared by the protocols: tool definitions, tool choice, and turns to/from stored JSON."""

from __future__ import annotations

import json
from typing import Any

from ._errors import bad_request
from ._types import ToolCallRecord, ToolChoice, ToolSpec, Turn

JsonObject = dict[str, Any]

FUNCTION_PARAMETERS_DEFAULT: JsonObject = {"type": "object", "properties": {}}


def tool_from_flat(tool: JsonObject) -> ToolSpec:
    """Responses API shape: ``{"type": "function", "name", "description", "parameters"}``."""
    return ToolSpec(tool["name"], tool.get("description") or "", tool.get("parameters") or FUNCTION_PARAMETERS_DEFAULT)


def tool_from_nested(tool: JsonObject) -> ToolSpec:
    """Chat Completions and threads/runs shape: ``{"type": "function", "function": {...}}``; an ``azure_function``
    tool (Foundry) offers the model its ``azure_function.function`` the same way."""
    if tool.get("type") == "azure_function":
        return tool_from_flat(tool["azure_function"]["function"])
    return tool_from_flat(tool["function"])


def normalized_tool(tool: JsonObject) -> JsonObject:
    """A stored tool definition: function tools in the nested shape, azure_function tools as given."""
    if tool.get("type") == "azure_function":
        return {"type": "azure_function", "azure_function": tool["azure_function"]}
    return nested_tool(tool_from_nested(tool))


def nested_tool(spec: ToolSpec) -> JsonObject:
    return {"type": "function", "function": {"name": spec.name, "description": spec.description,
                                             "parameters": spec.parameters, "strict": False}}


def tool_choice(value: object, tools: tuple[ToolSpec, ...], *, nested: bool) -> ToolChoice:
    """``auto|none|required`` or a forced function (``{"type": "function", "name"}`` or the nested form)."""
    if value is None:
        return ToolChoice()
    if isinstance(value, str):
        return ToolChoice(mode=value)  # type: ignore[arg-type]  # the schema allowed only the three modes
    assert isinstance(value, dict)
    name = value["function"]["name"] if nested else value["name"]
    if name not in {t.name for t in tools}:
        raise bad_request(f"Tool choice '{name}' not found in 'tools' parameter.", param="tool_choice")
    return ToolChoice(mode="required", function=name)


def content_text(content: object) -> str:
    """Message content as text: a string, or a list of text parts in any of the APIs' part shapes."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content if isinstance(content, list) else [content]:
        if isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, dict):  # threads/runs: {"type": "text", "text": {"value": ...}}
                text = text.get("value")
            if isinstance(text, str):
                parts.append(text)
    return "\n".join(parts)


def output_text(value: object) -> str:
    """Tool outputs are strings in every API; structured ones are kept as JSON text."""
    return value if isinstance(value, str) else json.dumps(value)


def turn_to_json(turn: Turn) -> JsonObject:
    return {"role": turn.role, "content": turn.content, "tool_call_id": turn.tool_call_id,
            "tool_calls": [{"call_id": c.call_id, "name": c.name, "arguments": c.arguments} for c in turn.tool_calls]}


def turn_from_json(data: JsonObject) -> Turn:
    calls = tuple(ToolCallRecord(c["call_id"], c["name"], c["arguments"]) for c in data.get("tool_calls", []))
    return Turn(role=data["role"], content=data.get("content", ""), tool_calls=calls,
                tool_call_id=data.get("tool_call_id"))
