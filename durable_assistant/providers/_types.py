"""Provider-neutral run model shared by every adapter and by the orchestration."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

log = logging.getLogger("durable_assistant.providers")

RunStatus = Literal[
    "queued", "in_progress", "requires_action", "completed", "failed", "cancelled", "expired", "incomplete"
]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
ACTIVE_STATUSES: frozenset[str] = frozenset({"queued", "in_progress"})


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for."""

    call_id: str
    name: str
    arguments: str
    """The model's raw JSON text (may be malformed: validation happens in the tool registry)."""


@dataclass(frozen=True)
class ToolOutput:
    call_id: str
    output: str


@dataclass(frozen=True)
class RunRequest:
    """What a turn sends to create a run."""

    user_message: str
    conversation_ref: str | None = None
    """Provider-side conversation handle from the previous turn (thread id, last response id, chat key)."""
    conversation_id: str = ""
    """Our conversation id (used by adapters that keep their own history, e.g. chat)."""
    turn_key: str = ""
    """``{conversationId}:{turn}``: set as metadata on what the run creates, so a retried step can find it."""


@dataclass(frozen=True)
class RunRef:
    """Enough to address a run again."""

    run_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class RunState:
    """Where a run stands. ``tool_calls`` are in the order the model made them."""

    status: RunStatus
    run_id: str
    thread_id: str | None = None
    conversation_ref: str | None = None
    """What the next turn must pass as RunRequest.conversation_ref once this run completes."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    final_text: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    provider_ids: list[str] = field(default_factory=list)
    """Every provider object id this run touched (responses chain, run id, ...), for the turn record."""
    step_key: str | None = None
    """The journal key of the step that created the run (``metadata.step``), where the provider keeps it."""

    @property
    def ref(self) -> RunRef:
        return RunRef(self.run_id, self.thread_id)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        calls = [ToolCall(**c) for c in data.get("tool_calls", [])]
        return cls(**{**data, "tool_calls": calls})


@dataclass(frozen=True)
class ProviderObjects:
    """What a conversation's turns recorded of the objects they created at the provider (run documents and
    step journals): what deleting the conversation asks the provider to delete."""

    runs: frozenset[str] = frozenset()
    """Run ids as the provider names them: responses (Responses API), thread runs, chat completions."""
    threads: frozenset[str] = frozenset()
    """Thread ids (threads/runs protocol); a thread takes its messages and runs with it."""


@dataclass(frozen=True)
class ObjectsDeleted:
    """What the provider did with the objects it was asked to delete."""

    deleted: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    """Already gone (404): deleted before, expired, or never stored by the provider."""
    refused: tuple[tuple[str, str], ...] = ()
    """(id, reason) the provider refused with another 4xx: left at the provider."""


class ProviderError(Exception):
    """A provider call failed."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TransientProviderError(ProviderError):
    """429, 5xx, timeouts and connection errors: retry later, after ``retry_after`` seconds if given."""

    def __init__(self, message: str, status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """4xx other than 429: retrying the same request will not help."""


RESPONSE_STEP_KEY = "response"
"""The journal key under which the Responses adapter records the response a step created."""


class StepJournal(Protocol):
    """Durable record of what a provider step already did, so a redelivered step never calls the provider
    again for an answer the app has seen. Keys are per step ("response", "thread", "message", "run", ...)."""

    @property
    def key(self) -> str:
        """The step's unique name, ``{conversationId}:{turn}:{step}``: providers tag what they create with it
        (``metadata.step``), so a run whose creator crashed before journaling it can be traced back."""
        ...

    async def recall(self, key: str) -> str | None:
        """The value recorded under ``key``, if any."""
        ...

    async def record(self, key: str, value: str) -> str:
        """Record ``value`` under ``key`` unless something is recorded already; returns the recorded value
        (the first writer wins, so two racing attempts agree on one provider object)."""
        ...


class Provider(Protocol):
    """One interface over Responses, threads/runs and Chat Completions.

    ``create_run`` and ``submit_tool_outputs`` write each provider object they create to the journal right
    after the provider answers, and consult it first: run twice, they create nothing new."""

    async def create_run(self, request: RunRequest, journal: StepJournal) -> RunState: ...

    async def poll(self, run: RunRef) -> RunState: ...

    async def wait_for_end(self, run: RunRef, seconds: float) -> RunState | None:
        """Wait up to ``seconds`` for the run to leave queued/in_progress without polling it (a server push,
        such as streaming a background response). None when the window ended first, or when the provider
        cannot push (then the caller polls)."""
        ...

    async def submit_tool_outputs(self, run: RunRef, outputs: list[ToolOutput], journal: StepJournal) -> RunState: ...

    async def cancel(self, run: RunRef) -> RunState: ...

    async def delete_objects(self, objects: ProviderObjects) -> ObjectsDeleted:
        """Delete what a conversation created, where the protocol allows it (Responses: stored responses;
        threads: the threads; chat: nothing is stored at the provider). Idempotent: an object already gone
        counts as ``missing``. Raises TransientProviderError (429/5xx/timeouts): nothing recorded is lost, so
        the caller tries again later."""
        ...

    async def close(self) -> None: ...


async def create_once(journal: StepJournal, key: str, create: Callable[[], Awaitable[RunState]],
                      adopt: Callable[[str], Awaitable[RunState]],
                      discard: Callable[[RunState], Awaitable[object]]) -> RunState:
    """``create()`` unless the journal already names the run under ``key`` (then ``adopt`` it: one read).
    The new run id is journaled right after the provider answers, before anything else. If a racing attempt
    journaled another run first, ours is discarded (cancelled, best effort) and theirs adopted."""
    recorded = await journal.recall(key)
    if recorded is not None:
        return await adopt(recorded)
    state = await create()
    winner = await journal.record(key, state.run_id)
    if winner == state.run_id:
        return state
    log.warning("step %s: run %s lost the race to %s; cancelling it", key, state.run_id, winner)
    with contextlib.suppress(ProviderError):
        await discard(state)
    return await adopt(winner)
