"""Chat Completions: POST /v1/chat/completions with tools and tool_calls (non-streaming)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ._convert import content_text, output_text, tool_choice, tool_from_nested
from ._errors import ApiError, bad_request, from_fault
from ._provider import Provider
from ._types import GenerationRequest, Outcome, ToolCallRecord, Turn
from ._validation import check, read_json

JsonObject = dict[str, Any]

_NESTED_TOOL = {
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"const": "function"},
        "function": {"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
                                    "description": {"type": "string"}, "parameters": {"type": "object"}}},
    },
}
NESTED_TOOL_CHOICE = {
    "oneOf": [
        {"enum": ["auto", "none", "required"]},
        {"type": "object", "required": ["type", "function"],
         "properties": {"type": {"const": "function"},
                        "function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}},
    ]
}
CREATE_SCHEMA: JsonObject = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "messages": {
            "type": "array", "minItems": 1,
            "items": {"type": "object", "required": ["role"],
                      "properties": {"role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
                                     "tool_call_id": {"type": "string"}, "tool_calls": {"type": "array"}}},
        },
        "tools": {"type": "array", "items": _NESTED_TOOL},
        "tool_choice": NESTED_TOOL_CHOICE,
        "parallel_tool_calls": {"type": "boolean"},
        "max_tokens": {"type": ["integer", "null"], "minimum": 1},
        "max_completion_tokens": {"type": ["integer", "null"], "minimum": 1},
        "n": {"enum": [1, None]},
        "stream": {"enum": [False, None]},
    },
}


def _turns(messages: list[JsonObject]) -> list[Turn]:
    turns: list[Turn] = []
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "tool":
            if "tool_call_id" not in message:
                raise ApiError(400, f"Missing required parameter: 'messages[{index}].tool_call_id'.",
                               param=f"messages[{index}].tool_call_id", code="missing_required_parameter")
            turns.append(Turn("tool", output_text(content_text(message.get("content"))),
                              tool_call_id=message["tool_call_id"]))
            continue
        calls = tuple(
            ToolCallRecord(c.get("id", ""), c.get("function", {}).get("name", ""), c.get("function", {}).get("arguments", ""))
            for c in message.get("tool_calls") or []
        )
        turns.append(Turn("system" if role == "developer" else role, content_text(message.get("content")),
                          tool_calls=calls))
    known = {call.call_id for turn in turns for call in turn.tool_calls}
    for index, turn in enumerate(turns):
        if turn.role == "tool" and turn.tool_call_id not in known:
            raise bad_request("Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                              "message with 'tool_calls'.", param=f"messages[{index}].role")
    return turns


class ChatApi:
    def __init__(self, provider: Provider) -> None:
        self._p = provider

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self.create)]

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        check(body, CREATE_SCHEMA)
        tools = tuple(tool_from_nested(t) for t in body.get("tools") or [])
        gen_request = GenerationRequest(
            turns=tuple(_turns(body["messages"])), tools=tools,
            tool_choice=tool_choice(body.get("tool_choice"), tools, nested=True),
            parallel_tool_calls=body.get("parallel_tool_calls", True),
            max_output_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        )
        fault = self._p.engine.admit(gen_request)
        if fault is not None:
            raise from_fault(fault)
        try:
            generation = await self._p.engine.generate(gen_request)
        except asyncio.CancelledError:
            gen_request.cancel.set()  # the client went away: let a token-by-token engine stop early
            raise
        if generation.outcome in (Outcome.FAILED, Outcome.EXPIRED):
            raise ApiError(500, generation.error_message or "The model run failed.", error_type="server_error",
                           code=generation.error_code)
        message: JsonObject = {"role": "assistant", "content": generation.text or None, "refusal": None}
        finish_reason = "length" if generation.outcome is Outcome.INCOMPLETE else "stop"
        if generation.tool_calls:
            message["tool_calls"] = [
                {"id": self._p.ids.new("call_"), "type": "function",
                 "function": {"name": c.name, "arguments": c.arguments}}
                for c in generation.tool_calls
            ]
            finish_reason = "tool_calls"
        return web.json_response({
            "id": self._p.ids.new("chatcmpl-", 29), "object": "chat.completion", "created": self._p.now(),
            "model": body["model"], "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": generation.prompt_tokens, "completion_tokens": generation.completion_tokens,
                      "total_tokens": generation.prompt_tokens + generation.completion_tokens},
        })
