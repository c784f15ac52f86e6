"""threads/runs adapter (Foundry Agent Service classic, Assistants-compatible servers) via the openai SDK's
beta threads API. One thread per conversation; one active run per thread (the orchestration guarantees it)."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from openai import AsyncOpenAI

from durable_assistant.providers._cleanup import delete_each
from durable_assistant.providers._errors import call
from durable_assistant.providers._types import (
    ObjectsDeleted,
    PermanentProviderError,
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

T = TypeVar("T")
_STATUS_MAP = {"cancelling": "cancelled"}
_ACTIVE_RUN = frozenset({"queued", "in_progress", "requires_action", "cancelling"})


async def _beta(what: str, fn: Callable[[], Awaitable[T]]) -> T:
    # The SDK marks every threads method deprecated (OpenAI shut Assistants down); Foundry classic still
    # speaks this protocol until 2027-03-31, so the warning is expected noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return await call(what, fn)


@dataclass
class ThreadsProvider:
    client: AsyncOpenAI
    agent_id: str
    instructions: str
    tools: list[ToolSpec]
    send_definition: bool = True
    """False (ASSISTANT_RUN_TOOLS=agent): runs use the agent's own instructions and tools, e.g. its
    azure_function tools, which the service calls over queues without a requires_action round."""

    def _tool_defs(self) -> list[dict[str, Any]]:
        return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.parameters}} for t in self.tools]

    async def create_run(self, request: RunRequest, journal: StepJournal) -> RunState:
        """Thread (first turn only), user message, run: each created once, journaled as it is created. A
        crash between the provider's answer and the journal is repaired from the thread itself: the turn's
        message and run carry ``metadata.turn`` and are found again instead of being created twice."""
        threads = self.client.beta.threads
        tid = await journal.recall("thread") or request.conversation_ref
        if not tid:
            thread = await _beta("threads.create", lambda: threads.create(metadata={"turn": request.turn_key}))
            tid = await journal.record("thread", thread.id)
        thread_id: str = tid
        recorded_run = await journal.recall("run")
        if recorded_run is not None:
            return await self.poll(RunRef(recorded_run, thread_id))
        latest = await self._latest_run(thread_id)
        if latest is not None and _of_turn(latest, request.turn_key):
            await journal.record("run", latest.id)  # created before a crash, never journaled
            return await self._state(latest)
        if latest is not None and str(latest.status) in _ACTIVE_RUN:
            # Left active by an earlier turn that was abandoned: a thread takes one active run at a time.
            await self.cancel(RunRef(latest.id, thread_id))
        if await journal.recall("message") is None:
            message_id = await self._turn_message(thread_id, request.turn_key)
            if message_id is None:
                message = await _beta("threads.messages.create", lambda: threads.messages.create(
                    thread_id, role="user", content=request.user_message, metadata={"turn": request.turn_key}))
                message_id = message.id
            await journal.record("message", message_id)
        # With ASSISTANT_RUN_TOOLS=agent the agent's own (queue) tools serve the run: send no definition.
        definition: Any = {"instructions": self.instructions, "tools": self._tool_defs()} if self.send_definition else {}
        return await create_once(
            journal, "run",
            lambda: self._created(lambda: threads.runs.create(thread_id, assistant_id=self.agent_id,
                                                              metadata={"turn": request.turn_key}, **definition)),
            lambda run_id: self.poll(RunRef(run_id, thread_id)),
            lambda ours: self.cancel(ours.ref))

    async def _created(self, create: Callable[[], Awaitable[Any]]) -> RunState:
        return await self._state(await _beta("threads.runs.create", create))

    async def _latest_run(self, thread_id: str) -> Any:
        page = await _beta("threads.runs.list", lambda: self.client.beta.threads.runs.list(
            thread_id, limit=1, order="desc"))
        return page.data[0] if page.data else None

    async def _turn_message(self, thread_id: str, turn_key: str) -> str | None:
        page = await _beta("threads.messages.list", lambda: self.client.beta.threads.messages.list(
            thread_id, limit=1, order="desc"))
        for message in page.data:
            if message.role == "user" and _of_turn(message, turn_key):
                return str(message.id)
        return None

    async def poll(self, run: RunRef) -> RunState:
        tid = _thread(run)
        got = await _beta("threads.runs.retrieve",
                          lambda: self.client.beta.threads.runs.retrieve(run.run_id, thread_id=tid))
        return await self._state(got)

    async def submit_tool_outputs(self, run: RunRef, outputs: list[ToolOutput], journal: StepJournal) -> RunState:
        tid = _thread(run)
        if await journal.recall("submitted") is not None:
            return await self.poll(run)
        payload: Any = [{"tool_call_id": o.call_id, "output": o.output} for o in outputs]
        try:
            got = await _beta("threads.runs.submit_tool_outputs",
                              lambda: self.client.beta.threads.runs.submit_tool_outputs(
                                  run.run_id, thread_id=tid, tool_outputs=payload))
            state = await self._state(got)
        except PermanentProviderError:
            # Refused because the outputs went in before a crash (the run has moved on)? Then it is done.
            state = await self.poll(run)
            waiting_for = {c.call_id for c in state.tool_calls} if state.status == "requires_action" else set()
            if waiting_for & {o.call_id for o in outputs}:
                raise
        await journal.record("submitted", run.run_id)
        return state

    async def wait_for_end(self, run: RunRef, seconds: float) -> RunState | None:
        return None  # nothing to stream: the caller polls

    async def cancel(self, run: RunRef) -> RunState:
        tid = _thread(run)
        got = await _beta("threads.runs.cancel",
                          lambda: self.client.beta.threads.runs.cancel(run.run_id, thread_id=tid))
        return await self._state(got)

    async def delete_objects(self, objects: ProviderObjects) -> ObjectsDeleted:
        async def delete(thread_id: str) -> object:
            with warnings.catch_warnings():  # see _beta
                warnings.simplefilter("ignore", DeprecationWarning)
                return await self.client.beta.threads.delete(thread_id)

        return await delete_each("threads.delete", objects.threads, delete)

    async def close(self) -> None:
        await self.client.close()

    async def _state(self, run: Any) -> RunState:
        status = _STATUS_MAP.get(str(run.status), str(run.status))
        if status not in ("queued", "in_progress", "requires_action", "completed", "failed", "cancelled",
                          "expired", "incomplete"):
            status = "in_progress"  # unknown values (Foundry types status as a free string): keep polling
        usage = {}
        if run.usage is not None:
            usage = {"input_tokens": run.usage.prompt_tokens, "output_tokens": run.usage.completion_tokens,
                     "total_tokens": run.usage.total_tokens}
        calls: list[ToolCall] = []
        if status == "requires_action" and run.required_action is not None:
            calls = [ToolCall(call_id=c.id, name=c.function.name, arguments=c.function.arguments or "")
                     for c in run.required_action.submit_tool_outputs.tool_calls]
        error = f"{run.last_error.code}: {run.last_error.message}" if run.last_error is not None else None
        final_text = await self._final_text(run.thread_id, run.id) if status == "completed" else None
        return RunState(status=status, run_id=run.id, thread_id=run.thread_id,  # type: ignore[arg-type]
                        conversation_ref=run.thread_id, tool_calls=calls, final_text=final_text, usage=usage,
                        error=error, provider_ids=[run.thread_id, run.id])

    async def _final_text(self, thread_id: str, run_id: str) -> str:
        page = await _beta("threads.messages.list", lambda: self.client.beta.threads.messages.list(
            thread_id, run_id=run_id, order="asc", limit=20))
        parts: list[str] = []
        for message in page.data:
            if message.role != "assistant":
                continue
            for content in message.content:
                text = getattr(content, "text", None)
                if text is not None:
                    parts.append(text.value)
        return "\n".join(parts)


def _of_turn(obj: Any, turn_key: str) -> bool:
    """Created for this turn (``metadata.turn``), by an earlier attempt of the same step."""
    return bool(turn_key) and bool(obj.metadata) and obj.metadata.get("turn") == turn_key


def _thread(run: RunRef) -> str:
    if not run.thread_id:
        raise ValueError("threads provider needs the run's thread id")
    return run.thread_id
