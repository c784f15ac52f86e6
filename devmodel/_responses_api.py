"""The Responses API: POST /v1/responses, GET /v1/responses/{id}, POST /v1/responses/{id}/cancel.

Background responses are created ``queued`` and produced by a job; the rest complete within the request. Each
stored response keeps its whole conversation (privately, under ``_conversation``) so ``previous_response_id``
can continue it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

from aiohttp import web

from ._azure_functions import (
    AZURE_FUNCTION_SCHEMA,
    AzureFunctionError,
    AzureFunctionTool,
    azure_function_from_json,
)
from ._convert import content_text, output_text, tool_choice, tool_from_flat, turn_from_json, turn_to_json
from ._errors import ApiError, bad_request, from_fault, not_found
from ._provider import Provider
from ._types import (
    Generation,
    GenerationRequest,
    Outcome,
    Role,
    ToolCallRecord,
    ToolSpec,
    Turn,
    WebhookDelivery,
)
from ._validation import check, read_json

JsonObject = dict[str, Any]
KIND = "response"
TERMINAL = {"completed", "failed", "cancelled", "incomplete"}

_FUNCTION_TOOL = {
    "type": "object",
    "required": ["type", "name"],
    "properties": {
        "type": {"const": "function"},
        "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
        "description": {"type": ["string", "null"]},
        "parameters": {"type": ["object", "null"]},
        "strict": {"type": ["boolean", "null"]},
    },
}
_AZURE_FUNCTION_TOOL = {"type": "object", "required": ["type", "azure_function"],
                        "properties": {"type": {"const": "azure_function"}, "azure_function": AZURE_FUNCTION_SCHEMA}}
TOOLS_SCHEMA: JsonObject = {"type": "array", "items": {
    "type": "object", "required": ["type"], "properties": {"type": {"enum": ["function", "azure_function"]}},
    "if": {"properties": {"type": {"const": "azure_function"}}}, "then": _AZURE_FUNCTION_TOOL,
    "else": _FUNCTION_TOOL}}
_AGENT_REFERENCE = {"type": "object", "required": ["name"],
                    "properties": {"type": {"const": "agent_reference"}, "name": {"type": "string"},
                                   "version": {"type": ["string", "null"]}}}
CREATE_SCHEMA: JsonObject = {
    "type": "object",
    "required": ["input"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "agent_reference": _AGENT_REFERENCE,
        "agent": _AGENT_REFERENCE,
        "instructions": {"type": ["string", "null"]},
        "input": {"type": ["string", "array"], "items": {"type": "object"}},
        "tools": TOOLS_SCHEMA,
        "tool_choice": {
            "oneOf": [
                {"enum": ["auto", "none", "required"]},
                {"type": "object", "required": ["type", "name"], "properties": {"type": {"const": "function"},
                                                                                "name": {"type": "string"}}},
            ]
        },
        "parallel_tool_calls": {"type": ["boolean", "null"]},
        "previous_response_id": {"type": ["string", "null"]},
        "conversation": {},
        "store": {"type": ["boolean", "null"]},
        "background": {"type": ["boolean", "null"]},
        "metadata": {"type": ["object", "null"], "maxProperties": 16,
                     "additionalProperties": {"type": "string", "maxLength": 512}},
        "max_output_tokens": {"type": ["integer", "null"], "minimum": 16},
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "truncation": {"enum": ["auto", "disabled", None]},
        "stream": {"enum": [False, None]},
    },
}
_INPUT_ITEM_SCHEMAS: dict[str, JsonObject] = {
    "message": {"type": "object", "required": ["role", "content"],
                "properties": {"role": {"enum": ["user", "assistant", "system", "developer"]},
                               "content": {"type": ["string", "array"]}}},
    "function_call_output": {"type": "object", "required": ["call_id", "output"],
                             "properties": {"call_id": {"type": "string"}, "output": {}}},
    "function_call": {"type": "object", "required": ["call_id", "name", "arguments"],
                      "properties": {"call_id": {"type": "string"}, "name": {"type": "string"},
                                     "arguments": {"type": "string"}}},
}


def _input_turns(raw: object) -> list[Turn]:
    if isinstance(raw, str):
        return [Turn("user", raw)]
    assert isinstance(raw, list)
    turns: list[Turn] = []
    for index, item in enumerate(raw):
        item_type = item.get("type", "message")
        schema = _INPUT_ITEM_SCHEMAS.get(item_type)
        if schema is None:
            raise bad_request(f"Invalid value: '{item_type}'. devmodel supports input items of type message, "
                              "function_call and function_call_output.", param=f"input[{index}].type")
        try:
            check(item, schema)
        except ApiError as exc:
            exc.param = f"input[{index}].{exc.param}" if exc.param else f"input[{index}]"
            raise
        if item_type == "message":
            role: Role = "system" if item["role"] in ("system", "developer") else item["role"]
            turns.append(Turn(role, content_text(item["content"])))
        elif item_type == "function_call_output":
            turns.append(Turn("tool", output_text(item["output"]), tool_call_id=item["call_id"]))
        else:
            call = ToolCallRecord(item["call_id"], item["name"], item["arguments"])
            if turns and turns[-1].role == "assistant" and turns[-1].tool_calls and not turns[-1].content:
                turns[-1] = Turn("assistant", tool_calls=(*turns[-1].tool_calls, call))
            else:
                turns.append(Turn("assistant", tool_calls=(call,)))
    return turns


def _check_tool_outputs(history: list[Turn], new: list[Turn]) -> None:
    """Outputs must answer known calls, and every call of the previous turn must get an output, as in the API."""
    known = {call.call_id for turn in [*history, *new] for call in turn.tool_calls}
    answered = {turn.tool_call_id for turn in [*history, *new] if turn.role == "tool"}
    for turn in new:
        if turn.role == "tool" and turn.tool_call_id not in known:
            raise bad_request(f"No tool call found for function call output with call_id {turn.tool_call_id}.",
                              param="input")
    last_calls = history[-1].tool_calls if history and history[-1].role == "assistant" else ()
    for call in last_calls:
        if call.call_id not in answered:
            raise bad_request(f"No tool output found for function call {call.call_id}.", param="input")


# How often a streaming GET looks at the response it follows (the job updates it in memory).
STREAM_CHECK_SECONDS = 0.02

class ResponsesApi:
    def __init__(self, provider: Provider) -> None:
        self._p = provider

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/responses", self.create),
            web.get("/v1/responses/{id}", self.retrieve),
            web.delete("/v1/responses/{id}", self.delete),
            web.post("/v1/responses/{id}/cancel", self.cancel),
        ]

    def _load(self, response_id: str) -> JsonObject:
        obj = self._p.store.get(KIND, response_id)
        if obj is None:
            raise not_found(f"Response with id '{response_id}' not found.")
        return obj

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        for index, tool in enumerate(body.get("tools") or []):
            if isinstance(tool, dict) and tool.get("type") not in ("function", "azure_function"):
                raise bad_request(f"devmodel supports only function and azure_function tools, not "
                                  f"'{tool.get('type')}'.", param=f"tools[{index}].type")
        check(body, CREATE_SCHEMA)
        body = self._with_agent(body)
        background = bool(body.get("background"))
        store = body.get("store") is not False
        if background and not store:
            raise bad_request("Background mode requires 'store' to be true.", param="background")
        if body.get("conversation") is not None and body.get("previous_response_id"):
            raise bad_request("'previous_response_id' and 'conversation' cannot be used together.",
                              param="previous_response_id")
        if body.get("conversation") is not None:
            raise bad_request("devmodel does not implement the Conversations API; use previous_response_id.",
                              param="conversation")
        history: list[Turn] = []
        previous_id = body.get("previous_response_id")
        if previous_id:
            previous = self._p.store.get(KIND, previous_id)
            if previous is None:
                raise bad_request(f"Previous response with id '{previous_id}' not found.",
                                  param="previous_response_id", code="previous_response_not_found")
            if previous["status"] not in TERMINAL:
                raise bad_request(f"Previous response with id '{previous_id}' is still {previous['status']}.",
                                  param="previous_response_id")
            history = [turn_from_json(t) for t in previous["_conversation"]]
        new_turns = _input_turns(body["input"])
        _check_tool_outputs(history, new_turns)
        tools = tuple(_spec(t) for t in body.get("tools") or [])
        parallel = body.get("parallel_tool_calls") is not False
        gen_request = GenerationRequest(
            turns=tuple(history + new_turns), instructions=body.get("instructions"), tools=tools,
            tool_choice=tool_choice(body.get("tool_choice"), tools, nested=False), parallel_tool_calls=parallel,
            max_output_tokens=body.get("max_output_tokens"),
        )
        fault = self._p.engine.admit(gen_request)
        if fault is not None:
            raise from_fault(fault)

        now = self._p.now()
        response: JsonObject = {
            "id": self._p.ids.new("resp_", 48), "object": "response", "created_at": now,
            "status": "queued" if background else "in_progress", "background": background, "error": None,
            "incomplete_details": None, "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"), "metadata": body.get("metadata") or {},
            "model": body["model"], "output": [], "parallel_tool_calls": parallel,
            "previous_response_id": previous_id, "store": store,
            "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
            "text": {"format": {"type": "text"}}, "tool_choice": body.get("tool_choice", "auto"),
            "tools": [t if t["type"] == "azure_function" else
                      {"type": "function", "name": t["name"], "description": t.get("description"),
                       "parameters": t.get("parameters"), "strict": t.get("strict", True)}
                      for t in body.get("tools") or []],
            "truncation": body.get("truncation") or "disabled", "usage": None, "completed_at": None,
            "_conversation": [turn_to_json(t) for t in gen_request.turns],
        }
        if body.get("_agent"):
            response["agent_reference"] = body["_agent"]
        if background:
            self._p.store.put(KIND, response, expires_at=time.time() + self._p.config.retention_seconds)
            self._p.jobs.start(response["id"], self._produce(response, gen_request))
            return web.json_response(_public(response))
        await self._produce(response, gen_request)
        if store:
            self._p.store.put(KIND, response, expires_at=time.time() + self._p.config.stored_retention_seconds)
        if response["status"] == "failed":
            error = response["error"]
            raise ApiError(500, error["message"], error_type="server_error", code=error["code"])
        return web.json_response(_public(response))

    def _with_agent(self, body: JsonObject) -> JsonObject:
        """A request naming an agent (``agent_reference``, the new Foundry agents API) takes the model,
        instructions and tools of that agent version unless it gives its own."""
        reference = body.get("agent_reference") or body.get("agent")
        if reference is None:
            if not body.get("model"):
                raise ApiError(400, "Missing required parameter: 'model'.", param="model",
                               code="missing_required_parameter")
            return body
        agent = self._p.store.get("agent", reference["name"])
        if agent is None:
            raise not_found(f"Agent '{reference['name']}' not found.")
        versions = agent["_versions"]
        wanted = reference.get("version") or versions[-1]["version"]
        version = next((v for v in versions if v["version"] == wanted), None)
        if version is None:
            raise not_found(f"Agent '{reference['name']}' has no version '{wanted}'.")
        definition = version["definition"]
        merged = {**body, "_agent": {"type": "agent_reference", "name": agent["name"], "version": wanted}}
        merged["model"] = body.get("model") or definition["model"]
        if body.get("instructions") is None:
            merged["instructions"] = definition.get("instructions")
        if not body.get("tools"):
            merged["tools"] = definition.get("tools") or []
        return merged

    async def _produce(self, response: JsonObject, gen_request: GenerationRequest) -> None:
        if response["background"]:
            await asyncio.sleep(0)  # let the create call answer `queued` first, as the service does
        response["status"] = "in_progress"
        self._save(response)
        azure = {t.spec.name: t for t in (azure_function_from_json(d) for d in response["tools"]
                                          if d["type"] == "azure_function")}
        usage = (0, 0)
        while True:
            try:
                generation = await self._p.engine.generate(gen_request)
            except asyncio.CancelledError:
                gen_request.cancel.set()
                raise
            except Exception as exc:  # an engine crash is a failed response, not a dead server
                generation = Generation(outcome=Outcome.FAILED, error_message=f"engine error: {exc}")
            if response["status"] == "cancelled":
                return
            usage = (usage[0] + generation.prompt_tokens, usage[1] + generation.completion_tokens)
            served = [c for c in generation.tool_calls if c.name in azure] \
                if generation.outcome is Outcome.COMPLETED else []
            if not served:
                break
            try:
                gen_request, left = await self._serve_azure_calls(gen_request, generation, azure)
            except AzureFunctionError as exc:
                generation = Generation(outcome=Outcome.FAILED, error_message=str(exc))
                break
            if left is not None:  # plain function calls are left for the client
                generation = left
                break
        generation = dataclasses.replace(generation, prompt_tokens=usage[0], completion_tokens=usage[1])
        self._apply(response, gen_request, generation)
        self._save(response)
        if response["background"] and self._p.webhooks is not None:
            self._p.webhooks.response_ended(response["id"], response["status"], generation.webhook)

    async def _serve_azure_calls(self, gen_request: GenerationRequest, generation: Generation,
                                 azure: dict[str, AzureFunctionTool]) -> tuple[GenerationRequest, Generation | None]:
        """Call the azure_function tools of ``generation`` over their queues, as the agent service does; the
        calls and outputs join the conversation. Returns the request to generate next and, when the model also
        called plain functions, a generation holding just those (for the client to run)."""
        records = tuple(ToolCallRecord(self._p.ids.new("call_"), c.name, c.arguments) for c in generation.tool_calls)
        served = [r for r in records if r.name in azure]
        outputs = await asyncio.gather(*(self._p.queues.call(azure[r.name], r.arguments) for r in served))
        turns = [*gen_request.turns, Turn("assistant", tool_calls=tuple(served)),
                 *(Turn("tool", out, tool_call_id=r.call_id) for r, out in zip(served, outputs, strict=True))]
        left = tuple(c for c in generation.tool_calls if c.name not in azure)
        next_request = dataclasses.replace(gen_request, turns=tuple(turns))
        return next_request, Generation(tool_calls=left) if left else None

    def _save(self, response: JsonObject) -> None:
        if response["background"] or self._p.store.get(KIND, response["id"]) is not None:
            self._p.store.save(KIND, response)

    def _apply(self, response: JsonObject, gen_request: GenerationRequest, generation: Generation) -> None:
        response["usage"] = {
            "input_tokens": generation.prompt_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": generation.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": generation.prompt_tokens + generation.completion_tokens,
        }
        if generation.outcome in (Outcome.FAILED, Outcome.EXPIRED):
            response["status"] = "failed"
            response["error"] = {"code": generation.error_code,
                                 "message": generation.error_message or "The model run failed."}
            return
        conversation = list(gen_request.turns)
        if generation.tool_calls:
            records = tuple(ToolCallRecord(self._p.ids.new("call_"), c.name, c.arguments) for c in generation.tool_calls)
            response["output"] = [
                {"id": self._p.ids.new("fc_", 48), "type": "function_call", "status": "completed",
                 "call_id": r.call_id, "name": r.name, "arguments": r.arguments}
                for r in records
            ]
            conversation.append(Turn("assistant", tool_calls=records))
        else:
            status = "incomplete" if generation.outcome is Outcome.INCOMPLETE else "completed"
            response["output"] = [
                {"id": self._p.ids.new("msg_", 48), "type": "message", "role": "assistant", "status": status,
                 "content": [{"type": "output_text", "text": generation.text, "annotations": [], "logprobs": []}]}
            ]
            conversation.append(Turn("assistant", generation.text))
        response["_conversation"] = [turn_to_json(t) for t in conversation]
        if generation.outcome is Outcome.INCOMPLETE:
            response["status"] = "incomplete"
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        else:
            response["status"] = "completed"
            response["completed_at"] = self._p.now()

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        response = self._load(request.match_info["id"])
        if request.query.get("stream", "").lower() != "true":
            return web.json_response(_public(response))
        if not response["background"]:
            raise bad_request("Only responses created with background=true can be streamed.", param="stream")
        raw = request.query.get("starting_after", "-1")
        try:
            starting_after = int(raw)
        except ValueError:
            raise bad_request(f"Invalid 'starting_after': {raw!r} is not an integer.", param="starting_after") from None
        return await self._stream_events(request, response, starting_after)

    async def _stream_events(self, request: web.Request, response: JsonObject, starting_after: int) -> web.StreamResponse:
        """Server-sent events of a background response, as a GET with stream=true replays them: created,
        in_progress, then the terminal event (completed / failed / incomplete; a cancelled response's stream
        just ends). Events up to ``starting_after`` are skipped, so a client can resume."""
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await stream.prepare(request)
        try:
            events = [("response.created", "queued"), ("response.in_progress", "in_progress")]
            for number, (event_type, status) in enumerate(events):
                while response["status"] == "queued" and status == "in_progress":
                    response = await self._next_snapshot(response)
                if number > starting_after:
                    await _send_event(stream, event_type, number, {**_public(response), "status": status})
            while response["status"] in ("queued", "in_progress"):
                response = await self._next_snapshot(response)
            terminal = {"completed": "response.completed", "failed": "response.failed",
                        "incomplete": "response.incomplete"}.get(response["status"])
            if terminal is not None and len(events) > starting_after:
                await _send_event(stream, terminal, len(events), _public(response))
            await stream.write_eof()
        except ConnectionResetError:
            pass  # the client stopped following (its wait ended): not an error
        return stream

    async def _next_snapshot(self, response: JsonObject) -> JsonObject:
        await asyncio.sleep(STREAM_CHECK_SECONDS)
        return self._p.store.get(KIND, response["id"]) or {**response, "status": "cancelled"}

    async def delete(self, request: web.Request) -> web.Response:
        response = self._load(request.match_info["id"])
        self._p.jobs.cancel(response["id"])
        self._p.store.delete(KIND, response["id"])
        return web.json_response({"id": response["id"], "object": "response", "deleted": True})

    async def cancel(self, request: web.Request) -> web.Response:
        response = self._load(request.match_info["id"])
        if not response["background"]:
            raise bad_request("Only responses created with background=true can be cancelled.")
        if response["status"] in ("queued", "in_progress"):
            self._p.jobs.cancel(response["id"])
            response["status"] = "cancelled"
            self._p.store.save(KIND, response)
            if self._p.webhooks is not None:
                self._p.webhooks.response_ended(response["id"], "cancelled", WebhookDelivery())
        elif response["status"] != "cancelled":
            raise bad_request(f"Cannot cancel a response with status '{response['status']}'.")
        return web.json_response(_public(response))


async def _send_event(stream: web.StreamResponse, event_type: str, number: int, snapshot: JsonObject) -> None:
    payload = {"type": event_type, "sequence_number": number, "response": snapshot}
    await stream.write(f"event: {event_type}\ndata: {json.dumps(payload)}\n\n".encode())


def _spec(tool: JsonObject) -> ToolSpec:
    if tool.get("type") == "azure_function":
        return azure_function_from_json(tool).spec
    return tool_from_flat(tool)


def _public(obj: JsonObject) -> JsonObject:
    return {key: value for key, value in obj.items() if not key.startswith("_")}
