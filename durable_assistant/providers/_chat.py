"""Chat Completions adapter: stateless API, so a "run" completes inside create (or submit) and the message
history lives in our own storage (``ChatStateStore``), keyed per step so every state is immutable."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from openai import AsyncOpenAI

from durable_assistant.providers._errors import call
from durable_assistant.providers._types import (
    ObjectsDeleted,
    ProviderObjects,
    RunRef,
    RunRequest,
    RunState,
    StepJournal,
    ToolCall,
    ToolOutput,
    create_once,
)
from durable_assistant.tools import ToolSpec


class ChatStateStore(Protocol):
    """Key/value JSON storage for chat histories (Blob Storage in the app)."""

    def load(self, key: str) -> dict[str, Any] | None: ...

    def save(self, key: str, value: dict[str, Any]) -> None: ...


@dataclass
class ChatProvider:
    client: AsyncOpenAI
    model: str
    instructions: str
    tools: list[ToolSpec]
    store: ChatStateStore

    def _tool_defs(self) -> list[dict[str, Any]]:
        return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.parameters}} for t in self.tools]

    async def create_run(self, request: RunRequest, journal: StepJournal) -> RunState:
        return await create_once(journal, "run", lambda: self._create(request), self._adopt, lambda ours: self.cancel(ours.ref))

    async def _create(self, request: RunRequest) -> RunState:
        history: list[dict[str, Any]] = []
        if request.conversation_ref:
            saved = await asyncio.to_thread(self.store.load, request.conversation_ref)
            if saved is None:
                raise ValueError(f"chat history {request.conversation_ref!r} is missing from storage")
            history = list(saved["messages"])
        messages = [*history, {"role": "user", "content": request.user_message}]
        return await self._complete(request.conversation_id or "conversation", messages)

    async def poll(self, run: RunRef) -> RunState:
        saved = await asyncio.to_thread(self.store.load, run.run_id)
        if saved is None:
            raise ValueError(f"chat run {run.run_id!r} is missing from storage")
        return RunState.from_json(saved["state"])

    async def submit_tool_outputs(self, run: RunRef, outputs: list[ToolOutput], journal: StepJournal) -> RunState:
        return await create_once(journal, "run", lambda: self._submit(run, outputs), self._adopt, lambda ours: self.cancel(ours.ref))

    async def _adopt(self, key: str) -> RunState:
        return await self.poll(RunRef(key))

    async def _submit(self, run: RunRef, outputs: list[ToolOutput]) -> RunState:
        saved = await asyncio.to_thread(self.store.load, run.run_id)
        if saved is None:
            raise ValueError(f"chat run {run.run_id!r} is missing from storage")
        messages = list(saved["messages"])
        messages += [{"role": "tool", "tool_call_id": o.call_id, "content": o.output} for o in outputs]
        return await self._complete(saved["conversation"], messages)

    async def wait_for_end(self, run: RunRef, seconds: float) -> RunState | None:
        return None  # nothing to stream: the caller polls

    async def cancel(self, run: RunRef) -> RunState:
        # Nothing runs between our calls, so there is nothing to stop at the provider.
        return RunState(status="cancelled", run_id=run.run_id)

    async def delete_objects(self, objects: ProviderObjects) -> ObjectsDeleted:
        # Completions are not stored at the provider (no store=true); the histories are our chat-state blobs.
        return ObjectsDeleted()

    async def close(self) -> None:
        await self.client.close()

    async def _complete(self, conversation: str, messages: list[dict[str, Any]]) -> RunState:
        kwargs: dict[str, Any] = {"model": self.model,
                                  "messages": [{"role": "system", "content": self.instructions}, *messages]}
        if self.tools:
            kwargs["tools"] = self._tool_defs()
        completion = await call("chat.completions.create", lambda: self.client.chat.completions.create(**kwargs))
        choice = completion.choices[0]
        message = choice.message
        usage = {}
        if completion.usage is not None:
            usage = {"input_tokens": completion.usage.prompt_tokens,
                     "output_tokens": completion.usage.completion_tokens,
                     "total_tokens": completion.usage.total_tokens}
        key = f"chat/{conversation}/{uuid.uuid4().hex}"
        calls = [ToolCall(call_id=c.id, name=c.function.name, arguments=c.function.arguments or "")
                 for c in (message.tool_calls or []) if getattr(c, "function", None) is not None]
        if calls:
            assistant = {"role": "assistant", "content": message.content,
                         "tool_calls": [{"id": c.call_id, "type": "function",
                                         "function": {"name": c.name, "arguments": c.arguments}} for c in calls]}
            state = RunState(status="requires_action", run_id=key, tool_calls=calls, usage=usage,
                             provider_ids=[completion.id])
        else:
            assistant = {"role": "assistant", "content": message.content or ""}
            state = RunState(status="completed", run_id=key, conversation_ref=key, final_text=message.content or "",
                             usage=usage, provider_ids=[completion.id])
        await asyncio.to_thread(self.store.save, key, {"conversation": conversation,
                                                      "messages": [*messages, assistant], "state": state.to_json()})
        return state
