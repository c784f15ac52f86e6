"""Threads/runs in the Assistants v2 shape, as Foundry Agent Service classic still serves it.

A run is driven by a job: queued -> in_progress -> requires_action (tool calls) | completed | failed | incomplete;
``submit_tool_outputs`` queues it again; cancel goes through ``cancelling``; a run not finished by ``expires_at``
becomes ``expired``. A thread has at most one active run, and rejects new messages and runs meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from ._azure_functions import (
    AZURE_FUNCTION_SCHEMA,
    AzureFunctionError,
    AzureFunctionTool,
    azure_function_from_json,
)
from ._chat_api import NESTED_TOOL_CHOICE
from ._convert import (
    content_text,
    normalized_tool,
    tool_choice,
    tool_from_nested,
    turn_from_json,
    turn_to_json,
)
from ._errors import bad_request, from_fault, not_found
from ._provider import Provider
from ._types import Generation, GenerationRequest, Outcome, ToolCallRecord, Turn
from ._validation import check, read_json

JsonObject = dict[str, Any]
ACTIVE = {"queued", "in_progress", "requires_action", "cancelling"}
# How long a cancel stays observable as `cancelling` before it settles, like the service's asynchronous cancel.
CANCEL_SETTLE_SECONDS = 0.05

_METADATA = {"type": ["object", "null"], "maxProperties": 16, "additionalProperties": {"type": "string"}}
_FUNCTION_TOOL = {"type": "object", "required": ["type", "function"],
                  "properties": {"type": {"const": "function"}, "function": {
                      "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}
_AZURE_FUNCTION_TOOL = {"type": "object", "required": ["type", "azure_function"],
                        "properties": {"type": {"const": "azure_function"}, "azure_function": AZURE_FUNCTION_SCHEMA}}
_TOOLS = {"type": "array", "items": {"type": "object", "required": ["type"],
                                     "properties": {"type": {"enum": ["function", "azure_function"]}},
                                     "if": {"properties": {"type": {"const": "azure_function"}}},
                                     "then": _AZURE_FUNCTION_TOOL, "else": _FUNCTION_TOOL}}
_MESSAGE = {"type": "object", "required": ["role", "content"],
            "properties": {"role": {"enum": ["user", "assistant"]}, "content": {"type": ["string", "array"]},
                           "metadata": _METADATA}}
ASSISTANT_SCHEMA: JsonObject = {
    "type": "object", "required": ["model"],
    "properties": {"model": {"type": "string", "minLength": 1}, "name": {"type": ["string", "null"]},
                   "description": {"type": ["string", "null"]}, "instructions": {"type": ["string", "null"]},
                   "tools": _TOOLS, "metadata": _METADATA},
}
ASSISTANT_UPDATE_SCHEMA: JsonObject = {**ASSISTANT_SCHEMA, "required": []}
THREAD_SCHEMA: JsonObject = {"type": "object", "properties": {"messages": {"type": "array", "items": _MESSAGE},
                                                               "metadata": _METADATA}}
RUN_SCHEMA: JsonObject = {
    "type": "object", "required": ["assistant_id"],
    "properties": {"assistant_id": {"type": "string"}, "model": {"type": ["string", "null"]},
                   "instructions": {"type": ["string", "null"]},
                   "additional_instructions": {"type": ["string", "null"]},
                   "additional_messages": {"type": ["array", "null"], "items": _MESSAGE},
                   "tools": _TOOLS, "tool_choice": NESTED_TOOL_CHOICE, "parallel_tool_calls": {"type": "boolean"},
                   "max_completion_tokens": {"type": ["integer", "null"], "minimum": 1},
                   "metadata": _METADATA, "stream": {"enum": [False, None]}},
}
SUBMIT_SCHEMA: JsonObject = {
    "type": "object", "required": ["tool_outputs"],
    "properties": {"tool_outputs": {"type": "array", "items": {
        "type": "object", "required": ["tool_call_id", "output"],
        "properties": {"tool_call_id": {"type": "string"}, "output": {"type": "string"}}}},
        "stream": {"enum": [False, None]}},
}


def _public(obj: JsonObject) -> JsonObject:
    return {key: value for key, value in obj.items() if not key.startswith("_")}


def _page(request: web.Request, items: list[JsonObject]) -> web.Response:
    """A cursor page (``limit``, ``order``, ``after``, ``before``) in the API's list shape."""
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("Invalid value for 'order': expected 'asc' or 'desc'.", param="order")
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        limit = -1
    if not 1 <= limit <= 100:
        raise bad_request("Invalid value for 'limit': expected an integer between 1 and 100.", param="limit")
    ordered = items if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    if (after := request.query.get("after")) in ids:
        ordered = ordered[ids.index(after) + 1 :]
    elif (before := request.query.get("before")) in ids:
        ordered = ordered[: ids.index(before)]
    data = [_public(item) for item in ordered[:limit]]
    return web.json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                              "last_id": data[-1]["id"] if data else None, "has_more": len(ordered) > limit})


class ThreadsApi:
    def __init__(self, provider: Provider) -> None:
        self._p = provider

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/assistants", self.create_assistant),
            web.get("/v1/assistants", self.list_assistants),
            web.get("/v1/assistants/{id}", self.get_assistant),
            web.post("/v1/assistants/{id}", self.update_assistant),
            web.delete("/v1/assistants/{id}", self.delete_assistant),
            web.post("/v1/threads", self.create_thread),
            web.get("/v1/threads/{thread}", self.get_thread),
            web.post("/v1/threads/{thread}", self.update_thread),
            web.delete("/v1/threads/{thread}", self.delete_thread),
            web.post("/v1/threads/{thread}/messages", self.create_message),
            web.get("/v1/threads/{thread}/messages", self.list_messages),
            web.get("/v1/threads/{thread}/messages/{message}", self.get_message),
            web.post("/v1/threads/{thread}/runs", self.create_run),
            web.get("/v1/threads/{thread}/runs", self.list_runs),
            web.get("/v1/threads/{thread}/runs/{run}", self.get_run),
            web.post("/v1/threads/{thread}/runs/{run}/cancel", self.cancel_run),
            web.post("/v1/threads/{thread}/runs/{run}/submit_tool_outputs", self.submit_tool_outputs),
        ]

    # -- lookups -------------------------------------------------------------------------------------------

    def _assistant(self, assistant_id: str) -> JsonObject:
        obj = self._p.store.get("assistant", assistant_id)
        if obj is None:
            raise not_found(f"No assistant found with id '{assistant_id}'.")
        return obj

    def _thread(self, request: web.Request) -> JsonObject:
        thread_id = request.match_info["thread"]
        obj = self._p.store.get("thread", thread_id)
        if obj is None:
            raise not_found(f"No thread found with id '{thread_id}'.")
        return obj

    def _run(self, request: web.Request) -> tuple[JsonObject, JsonObject]:
        thread = self._thread(request)
        run_id = request.match_info["run"]
        run = self._p.store.get("run", run_id)
        if run is None or run["thread_id"] != thread["id"]:
            raise not_found(f"No run found with id '{run_id}'.")
        return thread, run

    def _active_run(self, thread: JsonObject) -> JsonObject | None:
        run_id = thread.get("_active_run")
        run = self._p.store.get("run", run_id) if run_id else None
        return run if run is not None and run["status"] in ACTIVE else None

    # -- assistants ----------------------------------------------------------------------------------------

    async def create_assistant(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        check(body, ASSISTANT_SCHEMA)
        assistant = {
            "id": self._p.ids.new("asst_"), "object": "assistant", "created_at": self._p.now(),
            "name": body.get("name"), "description": body.get("description"), "model": body["model"],
            "instructions": body.get("instructions"),
            "tools": [normalized_tool(t) for t in body.get("tools") or []],
            "metadata": body.get("metadata") or {}, "top_p": 1.0, "temperature": 1.0,
            "response_format": "auto", "tool_resources": {},
        }
        self._p.store.put("assistant", assistant)
        return web.json_response(assistant)

    async def list_assistants(self, request: web.Request) -> web.Response:
        return _page(request, self._p.store.all("assistant"))

    async def get_assistant(self, request: web.Request) -> web.Response:
        return web.json_response(self._assistant(request.match_info["id"]))

    async def update_assistant(self, request: web.Request) -> web.Response:
        assistant = self._assistant(request.match_info["id"])
        body = await read_json(request)
        check(body, ASSISTANT_UPDATE_SCHEMA)
        for key in ("name", "description", "model", "instructions", "metadata"):
            if key in body:
                assistant[key] = body[key]
        if "tools" in body:
            assistant["tools"] = [normalized_tool(t) for t in body["tools"]]
        self._p.store.save("assistant", assistant)
        return web.json_response(assistant)

    async def delete_assistant(self, request: web.Request) -> web.Response:
        assistant = self._assistant(request.match_info["id"])
        self._p.store.delete("assistant", assistant["id"])
        return web.json_response({"id": assistant["id"], "object": "assistant.deleted", "deleted": True})

    # -- threads and messages ------------------------------------------------------------------------------

    async def create_thread(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        check(body, THREAD_SCHEMA)
        thread: JsonObject = {"id": self._p.ids.new("thread_"), "object": "thread", "created_at": self._p.now(),
                              "metadata": body.get("metadata") or {}, "tool_resources": {}, "_messages": [],
                              "_active_run": None}
        self._p.store.put("thread", thread)
        for message in body.get("messages") or []:
            self._add_message(thread, message["role"], content_text(message["content"]),
                              metadata=message.get("metadata"))
        return web.json_response(_public(thread))

    async def get_thread(self, request: web.Request) -> web.Response:
        return web.json_response(_public(self._thread(request)))

    async def update_thread(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        body = await read_json(request)
        check(body, {"type": "object", "properties": {"metadata": _METADATA}})
        if "metadata" in body:
            thread["metadata"] = body["metadata"] or {}
            self._p.store.save("thread", thread)
        return web.json_response(_public(thread))

    async def delete_thread(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        if (run := self._active_run(thread)) is not None:
            self._p.jobs.cancel(run["id"])
        # A deleted thread takes its messages and runs with it (nothing of it stays in the store).
        for kind in ("message", "run"):
            for obj in self._p.store.all(kind):
                if obj.get("thread_id") == thread["id"]:
                    self._p.store.delete(kind, str(obj["id"]))
        self._p.store.delete("thread", thread["id"])
        return web.json_response({"id": thread["id"], "object": "thread.deleted", "deleted": True})

    def _add_message(self, thread: JsonObject, role: str, text: str, *, run: JsonObject | None = None,
                     metadata: JsonObject | None = None) -> JsonObject:
        now = self._p.now()
        message = {
            "id": self._p.ids.new("msg_"), "object": "thread.message", "created_at": now, "thread_id": thread["id"],
            "role": role, "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "assistant_id": run["assistant_id"] if run else None, "run_id": run["id"] if run else None,
            "attachments": [], "metadata": metadata or {}, "status": "completed", "incomplete_details": None,
            "completed_at": now, "incomplete_at": None,
        }
        self._p.store.put("message", message)
        thread["_messages"].append(message["id"])
        self._p.store.save("thread", thread)
        return message

    def _messages(self, thread: JsonObject) -> list[JsonObject]:
        return [m for mid in thread["_messages"] if (m := self._p.store.get("message", mid)) is not None]

    async def create_message(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        body = await read_json(request)
        check(body, _MESSAGE)
        if (run := self._active_run(thread)) is not None:
            raise bad_request(f"Can't add messages to {thread['id']} while a run {run['id']} is active.")
        message = self._add_message(thread, body["role"], content_text(body["content"]), metadata=body.get("metadata"))
        return web.json_response(message)

    async def list_messages(self, request: web.Request) -> web.Response:
        messages = self._messages(self._thread(request))
        if run_id := request.query.get("run_id"):
            messages = [m for m in messages if m["run_id"] == run_id]
        return _page(request, messages)

    async def get_message(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        message_id = request.match_info["message"]
        message = self._p.store.get("message", message_id)
        if message is None or message["thread_id"] != thread["id"]:
            raise not_found(f"No message found with id '{message_id}'.")
        return web.json_response(message)

    # -- runs ----------------------------------------------------------------------------------------------

    def _generation_request(self, thread: JsonObject, run: JsonObject) -> GenerationRequest:
        turns = [Turn(m["role"], content_text(m["content"])) for m in self._messages(thread)]
        turns += [turn_from_json(t) for t in run["_turns"]]
        tools = tuple(tool_from_nested(t) for t in run["tools"])
        return GenerationRequest(
            turns=tuple(turns), instructions=run["instructions"], tools=tools,
            tool_choice=tool_choice(run["tool_choice"], tools, nested=True),
            parallel_tool_calls=run["parallel_tool_calls"], max_output_tokens=run["max_completion_tokens"],
        )

    async def create_run(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        body = await read_json(request)
        check(body, RUN_SCHEMA)
        assistant = self._assistant(body["assistant_id"])
        if (active := self._active_run(thread)) is not None:
            raise bad_request(f"Thread {thread['id']} already has an active run {active['id']}.")
        instructions = body.get("instructions") or assistant["instructions"] or ""
        if body.get("additional_instructions"):
            instructions = f"{instructions}\n\n{body['additional_instructions']}".strip()
        tools = [normalized_tool(t) for t in body["tools"]] if body.get("tools") else assistant["tools"]
        now = self._p.now()
        run: JsonObject = {
            "id": self._p.ids.new("run_"), "object": "thread.run", "created_at": now, "thread_id": thread["id"],
            "assistant_id": assistant["id"], "status": "queued", "required_action": None, "last_error": None,
            "expires_at": now + int(self._p.config.run_expires_seconds), "started_at": None, "cancelled_at": None,
            "failed_at": None, "completed_at": None, "incomplete_details": None,
            "model": body.get("model") or assistant["model"], "instructions": instructions, "tools": tools,
            "metadata": body.get("metadata") or {}, "usage": None, "temperature": 1.0, "top_p": 1.0,
            "max_prompt_tokens": None, "max_completion_tokens": body.get("max_completion_tokens"),
            "truncation_strategy": {"type": "auto", "last_messages": None}, "response_format": "auto",
            "tool_choice": body.get("tool_choice", "auto"), "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "_turns": [], "_deadline": time.time() + self._p.config.run_expires_seconds,
        }
        staged = [Turn(m["role"], content_text(m["content"])) for m in body.get("additional_messages") or []]
        gen_request = self._generation_request(thread, run)
        fault = self._p.engine.admit(
            GenerationRequest(turns=gen_request.turns + tuple(staged), tools=gen_request.tools))
        if fault is not None:
            raise from_fault(fault)
        for message in body.get("additional_messages") or []:
            self._add_message(thread, message["role"], content_text(message["content"]))
        self._p.store.put("run", run)
        thread["_active_run"] = run["id"]
        self._p.store.save("thread", thread)
        self._p.jobs.start(run["id"], self._drive(thread, run))
        return web.json_response(_public(run))

    async def list_runs(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        return _page(request, [r for r in self._p.store.all("run") if r["thread_id"] == thread["id"]])

    async def get_run(self, request: web.Request) -> web.Response:
        return web.json_response(_public(self._run(request)[1]))

    async def _drive(self, thread: JsonObject, run: JsonObject) -> None:
        """Model turns of a run, bounded by the run's expiry. Calls of azure_function tools are made over their
        queues right here and the model goes on (the client never sees them); other calls end in
        requires_action."""
        await asyncio.sleep(0)  # the create/submit call answers `queued` first
        run["status"] = "in_progress"
        run["started_at"] = run["started_at"] or self._p.now()
        self._p.store.save("run", run)
        while True:
            generation = await self._generate(run, self._generation_request(thread, run))
            azure = self._azure_tools(run)
            if not (generation.outcome is Outcome.COMPLETED and any(c.name in azure for c in generation.tool_calls)):
                self._apply(thread, run, generation)
                return
            self._add_usage(run, generation)
            records = tuple(ToolCallRecord(self._p.ids.new("call_"), c.name, c.arguments) for c in generation.tool_calls)
            run["_turns"].append(turn_to_json(Turn("assistant", tool_calls=records)))
            self._p.store.save("run", run)
            served = [r for r in records if r.name in azure]
            remaining = run["_deadline"] - time.time()
            try:
                outputs = await asyncio.gather(*(self._p.queues.call(azure[r.name], r.arguments, within=remaining)
                                                 for r in served))
            except AzureFunctionError as exc:
                self._apply(thread, run, Generation(outcome=Outcome.FAILED, error_message=str(exc)))
                return
            run["_turns"].extend(turn_to_json(Turn("tool", output, tool_call_id=r.call_id))
                                 for r, output in zip(served, outputs, strict=True))
            self._p.store.save("run", run)
            left = tuple(r for r in records if r.name not in azure)
            if left:
                self._require_action(thread, run, left)
                return

    async def _generate(self, run: JsonObject, gen_request: GenerationRequest) -> Generation:
        remaining = run["_deadline"] - time.time()
        try:
            return await asyncio.wait_for(self._p.engine.generate(gen_request), timeout=max(0.0, remaining))
        except TimeoutError:
            gen_request.cancel.set()  # a token-by-token engine stops working on an expired run
            return Generation(outcome=Outcome.EXPIRED)
        except asyncio.CancelledError:
            gen_request.cancel.set()
            raise
        except Exception as exc:  # an engine crash fails the run, not the server
            return Generation(outcome=Outcome.FAILED, error_message=f"engine error: {exc}")

    @staticmethod
    def _azure_tools(run: JsonObject) -> dict[str, AzureFunctionTool]:
        tools = (azure_function_from_json(t) for t in run["tools"] if t.get("type") == "azure_function")
        return {t.spec.name: t for t in tools}

    @staticmethod
    def _add_usage(run: JsonObject, generation: Generation) -> None:
        usage = run["usage"] or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        usage["prompt_tokens"] += generation.prompt_tokens
        usage["completion_tokens"] += generation.completion_tokens
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        run["usage"] = usage

    def _require_action(self, thread: JsonObject, run: JsonObject, records: tuple[ToolCallRecord, ...]) -> None:
        run["status"] = "requires_action"
        run["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
            {"id": r.call_id, "type": "function", "function": {"name": r.name, "arguments": r.arguments}}
            for r in records]}}
        self._p.store.save("run", run)
        self._p.jobs.start(run["id"], self._expire_at_deadline(thread, run))

    def _apply(self, thread: JsonObject, run: JsonObject, generation: Generation) -> None:
        self._add_usage(run, generation)
        now = self._p.now()
        if generation.tool_calls and generation.outcome is Outcome.COMPLETED:
            records = tuple(ToolCallRecord(self._p.ids.new("call_"), c.name, c.arguments) for c in generation.tool_calls)
            run["_turns"].append(turn_to_json(Turn("assistant", tool_calls=records)))
            self._require_action(thread, run, records)
            return
        if generation.outcome is Outcome.COMPLETED:
            self._add_message(thread, "assistant", generation.text, run=run)
            run.update(status="completed", completed_at=now)
        elif generation.outcome is Outcome.INCOMPLETE:
            self._add_message(thread, "assistant", generation.text, run=run)
            run.update(status="incomplete", incomplete_details={"reason": "max_completion_tokens"})
        elif generation.outcome is Outcome.EXPIRED:
            run.update(status="expired")
        else:
            run.update(status="failed", failed_at=now,
                       last_error={"code": generation.error_code,
                                   "message": generation.error_message or "The model run failed."})
        self._finish(thread, run)

    def _finish(self, thread: JsonObject, run: JsonObject) -> None:
        run["required_action"] = None
        run["expires_at"] = None
        self._p.store.save("run", run)
        if thread.get("_active_run") == run["id"]:
            thread["_active_run"] = None
            self._p.store.save("thread", thread)

    async def _expire_at_deadline(self, thread: JsonObject, run: JsonObject) -> None:
        await asyncio.sleep(max(0.0, run["_deadline"] - time.time()))
        if run["status"] == "requires_action":
            run["status"] = "expired"
            self._finish(thread, run)

    async def submit_tool_outputs(self, request: web.Request) -> web.Response:
        thread, run = self._run(request)
        body = await read_json(request)
        check(body, SUBMIT_SCHEMA)
        if run["status"] != "requires_action":
            raise bad_request(f'Runs in status "{run["status"]}" do not accept tool outputs.')
        expected = [c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]]
        given = [o["tool_call_id"] for o in body["tool_outputs"]]
        if sorted(expected) != sorted(given):
            raise bad_request(f"Expected tool outputs for call_ids {expected}, got {given}.", param="tool_outputs")
        outputs = {o["tool_call_id"]: o["output"] for o in body["tool_outputs"]}
        tool_turns = [turn_to_json(Turn("tool", outputs[call_id], tool_call_id=call_id)) for call_id in expected]
        gen_request = self._generation_request(thread, run)
        fault = self._p.engine.admit(gen_request)
        if fault is not None:
            raise from_fault(fault)
        self._p.jobs.cancel(run["id"])  # the expiry timer of requires_action
        run["_turns"].extend(tool_turns)
        run.update(status="queued", required_action=None)
        self._p.store.save("run", run)
        self._p.jobs.start(run["id"], self._drive(thread, run))
        return web.json_response(_public(run))

    async def cancel_run(self, request: web.Request) -> web.Response:
        thread, run = self._run(request)
        if run["status"] not in ACTIVE:
            raise bad_request(f"Cannot cancel run with status '{run['status']}'.")
        if run["status"] != "cancelling":
            self._p.jobs.cancel(run["id"])
            run["status"] = "cancelling"
            self._p.store.save("run", run)
            self._p.jobs.start(run["id"] + ":cancel", self._settle_cancel(thread, run))
        return web.json_response(_public(run))

    async def _settle_cancel(self, thread: JsonObject, run: JsonObject) -> None:
        await asyncio.sleep(CANCEL_SETTLE_SECONDS)
        run.update(status="cancelled", cancelled_at=self._p.now())
        self._finish(thread, run)
