"""Inputs and outputs of the turn orchestration and its activities.

Each activity takes ONE of these dataclasses as a JSON object, so fields can be added later without
breaking in-flight histories (new fields need defaults). They carry ids and small numbers only: message
text, tool arguments and outputs stay in Storage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Self


class _Json:
    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_json(cls, data: Any) -> Self:
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TurnInput(_Json):
    """Input of the turn orchestration (set by the HTTP starter)."""

    conversation_id: str
    turn: int
    message_id: str
    deadline_seconds: float = 300.0
    """The turn fails (and its run is cancelled) this long after its run was created."""
    poll_window_max_seconds: float = 20.0
    """Cap of the exponential watch window of one polling activity."""


@dataclass(frozen=True)
class CreateRunInput(_Json):
    conversation_id: str
    turn: int
    wait_seconds: float = 1.0
    """After creating, keep watching the run this long (saves a polling round for fast runs)."""
    # create_run first checks that every earlier turn has finished (strict per-conversation order); doing
    # that in the same activity saves an activity round trip (two history events) per turn.


@dataclass(frozen=True)
class WatchRunInput(_Json):
    conversation_id: str
    turn: int
    run_id: str
    thread_id: str | None = None
    wait_seconds: float = 1.0


@dataclass(frozen=True)
class RunToolInput(_Json):
    conversation_id: str
    turn: int
    number: int
    """Turn-wide number of the tool call (its payload is in turn-work storage)."""


@dataclass(frozen=True)
class SubmitOutputsInput(_Json):
    conversation_id: str
    turn: int
    run_id: str
    thread_id: str | None = None
    numbers: list[int] = field(default_factory=list)
    """Tool calls whose outputs go back together, in call order."""
    wait_seconds: float = 1.0


@dataclass(frozen=True)
class CancelRunInput(_Json):
    conversation_id: str
    turn: int
    run_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class CheckpointInput(_Json):
    conversation_id: str
    turn: int
    message_id: str
    instance_id: str
    status: str
    """completed | failed | deadline_exceeded | already_done (the turn ran before: report its record)"""
    error: str | None = None
    started_at: str = ""
    run_created_at: str = ""
    finished_at: str = ""
    polls: int = 0


@dataclass(frozen=True)
class ToolCallRef(_Json):
    number: int
    name: str


@dataclass(frozen=True)
class StepResult(_Json):
    """What create/watch/submit/cancel report back: the run's status and ids, never payloads."""

    status: str
    """A RunStatus; "error" when the provider call itself failed (see transient/error); "not_ready" when
    create_run found earlier turns of the conversation still running (nothing was created); "already_done"
    when the turn itself finished before (its instance was purged and the message re-sent)."""
    run_id: str | None = None
    thread_id: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """[{number, name}] in call order when status is requires_action."""
    error: str | None = None
    transient: bool = False
    """The provider call failed with 429/5xx/timeout: retry after ``retry_after`` seconds."""
    retry_after: float | None = None
    polls: int = 0
    """Provider status reads made by this step."""


@dataclass(frozen=True)
class ToolRunResult(_Json):
    number: int
    ok: bool


@dataclass(frozen=True)
class CheckpointResult(_Json):
    answer: str | None
    record_written: bool
    next_instance_id: str | None = None
    """The conversation's next turn, if its message has arrived: it is told (TURN_READY_EVENT) to go on."""
    status: str | None = None
    """The turn's recorded status (for an already_done turn: the status of its earlier run)."""


class ActivityNames:
    """Durable names of the turn's activities (function names in activities/)."""

    CREATE_RUN = "create_run"
    WATCH_RUN = "watch_run"
    RUN_TOOL = "run_tool"
    SUBMIT_OUTPUTS = "submit_outputs"
    CANCEL_RUN = "cancel_run"
    CHECKPOINT = "checkpoint"


TURN_ORCHESTRATION = "turn_orchestration"
TURN_READY_EVENT = "turn_ready"
"""Raised by a turn's checkpoint at the conversation's next turn, which may be waiting for it."""
