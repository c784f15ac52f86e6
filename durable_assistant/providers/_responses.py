"""Responses API adapter (background mode): create -> retrieve until terminal; tool outputs chain a new
response via previous_response_id. Works against OpenAI, Azure OpenAI's v1 endpoint and devmodel."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI

from durable_assistant.providers._cleanup import delete_each
from durable_assistant.providers._errors import call
from durable_assistant.providers._types import (
    RESPONSE_STEP_KEY,
    ObjectsDeleted,
    ProviderError,
    ProviderObjects,
    RunRef,
    RunRequest,
    RunState,
    StepJournal,
    ToolCall,
    ToolOutput,
    TransientProviderError,
    create_once,
)
from durable_assistant.tools import ToolSpec

log = logging.getLogger("durable_assistant.providers")
INTENT_KEY = "response-intent"
"""Journaled just before a create: a retry that finds it (and no response) may have an orphan to wait for."""
FAILED_KEY = "response-refused"
"""Journaled when the provider answered a create with an error: nothing to wait for."""
TERMINAL_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete"})


@dataclass
class ResponsesProvider:
    client: AsyncOpenAI
    model: str
    instructions: str
    tools: list[ToolSpec]
    stream_waits: bool = True
    """Wait for runs by streaming their events; switched off for good once the server refuses it."""
    orphan_wait_seconds: float = 0.0
    """With webhooks: how long a retried create waits for the webhook of a run an earlier attempt may have
    created before it crashed (see ``_mind_orphans``); 0 creates at once."""

    def _tool_defs(self) -> list[dict[str, Any]]:
        return [{"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters,
                 "strict": False} for t in self.tools]

    async def _create(self, input_items: list[dict[str, Any]], previous: str | None, step_key: str) -> RunState:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "instructions": self.instructions,
            "input": input_items,
            "background": True,
            "store": True,  # a later previous_response_id must find this response
            "parallel_tool_calls": True,
        }
        if step_key:
            # Traces a response back to the step that created it (an operator's search, or a webhook for a
            # response whose creator crashed before journaling it: see steps.adopt_orphan).
            kwargs["metadata"] = {"step": step_key[:512]}
        if self.tools:
            kwargs["tools"] = self._tool_defs()
        if previous:
            kwargs["previous_response_id"] = previous
        response = await call("responses.create", lambda: self.client.responses.create(**kwargs))
        return _state(response)

    async def create_run(self, request: RunRequest, journal: StepJournal) -> RunState:
        items = [{"role": "user", "content": request.user_message}]
        return await self._create_step(journal, lambda: self._create(items, request.conversation_ref, journal.key))

    async def poll(self, run: RunRef) -> RunState:
        response = await call("responses.retrieve", lambda: self.client.responses.retrieve(run.run_id))
        return _state(response)

    async def wait_for_end(self, run: RunRef, seconds: float) -> RunState | None:
        """Follow the background response's event stream (GET with stream=true) until its terminal event, so
        the end is seen the moment it happens rather than at the next poll. A server that cannot stream it
        (an error) makes this provider poll from then on; a stream that ends without a terminal event
        (a cancelled response) or a window that runs out returns None and the caller reads the state."""
        if not self.stream_waits:
            return None
        deadline = asyncio.get_running_loop().time() + max(0.0, seconds)
        try:
            stream = await asyncio.wait_for(self.client.responses.retrieve(run.run_id, stream=True),
                                            timeout=max(0.0, seconds))
        except TimeoutError:
            return None
        except openai.APIStatusError as exc:
            if 400 <= exc.status_code < 500 and exc.status_code not in (408, 429):
                log.info("streaming %s is not available (%s); polling instead", run.run_id, exc.status_code)
                self.stream_waits = False
            return None  # transient: this window falls back to polling, which reports errors the usual way
        except (openai.APIConnectionError, ValueError):
            return None
        follow = asyncio.ensure_future(_terminal_state(stream))
        done, _ = await asyncio.wait({follow}, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        if follow not in done:
            # End the window by closing the connection, not by cancelling the task: a cancellation inside the
            # SDK's nested stream generators leaves them to be finalized later with "already executing" noise.
            await stream.close()
        try:
            return await follow
        except Exception:  # the closed connection (window over), or a broken stream: the caller reads instead
            return None
        finally:
            await stream.close()

    async def submit_tool_outputs(self, run: RunRef, outputs: list[ToolOutput], journal: StepJournal) -> RunState:
        # Responses has no submit: the outputs start a new response chained to the one that asked for them.
        items = [{"type": "function_call_output", "call_id": o.call_id, "output": o.output} for o in outputs]
        return await self._create_step(journal, lambda: self._create(items, run.run_id, journal.key))

    async def _create_step(self, journal: StepJournal, make: Callable[[], Awaitable[RunState]]) -> RunState:
        await self._mind_orphans(journal)

        async def create() -> RunState:
            try:
                return await make()
            except ProviderError as exc:
                if exc.status_code is not None and self.orphan_wait_seconds > 0:
                    # The provider answered with an error: nothing was created, so no orphan to wait for.
                    await journal.record(FAILED_KEY, str(exc.status_code))
                raise

        return await create_once(journal, RESPONSE_STEP_KEY, create, self._adopt, lambda ours: self.cancel(ours.ref))

    async def _mind_orphans(self, journal: StepJournal) -> None:
        """Responses has no idempotency key and no way to list a turn's responses, so a create whose answer was
        lost with its worker leaves an orphan only its webhook reveals (``steps.adopt_orphan`` journals it for
        the step). Each attempt journals an intent first; a retry that finds one waits, up to
        ``orphan_wait_seconds``, for that webhook instead of creating a second run at once."""
        if self.orphan_wait_seconds <= 0 or await journal.recall(RESPONSE_STEP_KEY) is not None:
            return
        intent = await journal.recall(INTENT_KEY)
        if intent is None:
            await journal.record(INTENT_KEY, str(time.time()))
            return
        waited = time.time() - float(intent)
        if waited < self.orphan_wait_seconds and await journal.recall(FAILED_KEY) is None:
            raise TransientProviderError(
                f"an earlier attempt of this step may have created a response before it crashed; waiting "
                f"{self.orphan_wait_seconds - waited:.0f} s more for its webhook", retry_after=2.0)

    async def _adopt(self, response_id: str) -> RunState:
        return await self.poll(RunRef(response_id))

    async def cancel(self, run: RunRef) -> RunState:
        response = await call("responses.cancel", lambda: self.client.responses.cancel(run.run_id))
        return _state(response)

    async def delete_objects(self, objects: ProviderObjects) -> ObjectsDeleted:
        # Stored responses (store=true) stay at the provider until deleted; the app creates no conversation
        # objects (turns chain through previous_response_id).
        return await delete_each("responses.delete", objects.runs, self.client.responses.delete)

    async def close(self) -> None:
        await self.client.close()


async def _terminal_state(stream: Any) -> RunState | None:
    async for event in stream:
        if event.type in TERMINAL_EVENTS:
            return _state(event.response)
    return None


def _state(response: Any) -> RunState:
    status = str(response.status or "queued")
    calls = [ToolCall(call_id=item.call_id, name=item.name, arguments=item.arguments or "")
             for item in (response.output or []) if getattr(item, "type", None) == "function_call"]
    usage = {}
    if response.usage is not None:
        usage = {"input_tokens": response.usage.input_tokens, "output_tokens": response.usage.output_tokens,
                 "total_tokens": response.usage.total_tokens}
    error = None
    if response.error is not None:
        error = f"{response.error.code}: {response.error.message}"
    elif status == "incomplete" and response.incomplete_details is not None:
        error = f"incomplete: {response.incomplete_details.reason}"
    metadata = getattr(response, "metadata", None) or {}
    step_key = metadata.get("step") if isinstance(metadata, dict) else None
    if status == "completed" and calls:
        # Responses has no requires_action: a completed response with function calls is waiting for outputs.
        return RunState(status="requires_action", run_id=response.id, tool_calls=calls, usage=usage,
                        provider_ids=[response.id], step_key=step_key)
    if status not in ("queued", "in_progress", "completed", "failed", "cancelled", "incomplete"):
        status = "in_progress" if status not in ("expired",) else status
    return RunState(
        status=status,  # type: ignore[arg-type]
        run_id=response.id,
        conversation_ref=response.id if status == "completed" else None,
        final_text=response.output_text if status == "completed" else None,
        usage=usage,
        error=error,
        provider_ids=[response.id],
        step_key=step_key,
    )
