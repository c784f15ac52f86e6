"""Inputs and outputs of the turn orchestration and its activities.

Each activity takes ONE of these dataclasses as a JSON object, so fields can be added later without
breaking in-flight histories (new fields need defaults). They carry ids and small numbers only: message
text, tool arguments and outputs stay in Storage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Self

StepStatus = Literal[
    # where the provider's run stands (RunStatus)
    "queued", "in_progress", "requires_action", "completed", "failed", "cancelled", "expired", "incomplete",
    # what the step itself found
    "error",  # the provider call (or the step's storage) failed; see transient / retry_after
    "not_ready",  # create_run: an earlier turn of the conversation is still running; nothing was created
    "already_done",  # create_run: this turn finished before (its instance was purged and the message re-sent)
]
ACTIVE: frozenset[str] = frozenset({"queued", "in_progress"})

TurnOutcome = Literal["completed", "failed", "deadline_exceeded", "cancelled", "already_done"]
"""How a turn ended, as its checkpoint records it."""


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
class PollSchedule(_Json):
    """Durable-timer delays between provider reads: ``first``, then times ``growth`` up to ``cap`` seconds.
    With webhooks the timer is only the safety net for a lost webhook, so its delays are longer."""

    first: float = 2.0
    growth: float = 2.0
    cap: float = 15.0

    def delay(self, reads: int) -> float:
        """Delay before read number ``reads + 1`` of the current wait (reads counts from 0)."""
        return min(self.cap, self.first * self.growth ** min(reads, 64))


@dataclass(frozen=True)
class ApprovalPolicy(_Json):
    """Which tool calls of the turn wait for a person, and for how long (fixed for the turn by the starter, so
    the orchestration stays deterministic whatever the settings become)."""

    tools: tuple[str, ...] = ()
    timeout_seconds: float = 600.0
    approvers: tuple[str, ...] = ()
    """Who may decide (principal names); empty: any caller holding the function key."""

    @classmethod
    def from_json(cls, data: Any) -> Self:
        base = super().from_json(data)
        return cls(tuple(base.tools), float(base.timeout_seconds), tuple(base.approvers))

    def requires(self, tool: str) -> bool:
        return tool in self.tools


@dataclass(frozen=True)
class Resume(_Json):
    """Where a long turn stood when it continued as new (bounds the history of very long runs)."""

    run_id: str
    thread_id: str | None
    started_at: str
    run_created_at: str
    reads: int
    wait_reads: int
    paused_seconds: float = 0.0
    """Time spent waiting for approvals so far (it does not count against the deadline)."""


@dataclass(frozen=True)
class TurnInput(_Json):
    """Input of the turn orchestration (set by the HTTP starter)."""

    conversation_id: str
    turn: int
    message_id: str
    deadline_seconds: float = 300.0
    """The turn fails (and its run is cancelled) this long after its run was created."""
    schedule: PollSchedule = field(default_factory=PollSchedule)
    webhooks: bool = False
    """The provider signals a run's end by webhook (raised as RUN_ENDED_EVENT): poll on ``webhook_schedule``."""
    webhook_schedule: PollSchedule = field(default_factory=lambda: PollSchedule(30.0, 2.0, 60.0))
    first_look_seconds: float = 1.0
    """create_run / submit_outputs watch a new run this long, so that fast runs stay fast."""
    resume: Resume | None = None
    approval: ApprovalPolicy = field(default_factory=ApprovalPolicy)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        base = super().from_json(data)
        schedule, hooks, resume, approval = base.schedule, base.webhook_schedule, base.resume, base.approval
        return cls(**{
            **{f.name: getattr(base, f.name) for f in fields(cls)},
            "schedule": PollSchedule.from_json(schedule) if isinstance(schedule, dict) else schedule,
            "webhook_schedule": PollSchedule.from_json(hooks) if isinstance(hooks, dict) else hooks,
            "resume": Resume.from_json(resume) if isinstance(resume, dict) else resume,
            "approval": ApprovalPolicy.from_json(approval) if isinstance(approval, dict) else approval,
        })

    @property
    def poll_schedule(self) -> PollSchedule:
        return self.webhook_schedule if self.webhooks else self.schedule


@dataclass(frozen=True)
class CreateRunInput(_Json):
    conversation_id: str
    turn: int
    instance_id: str = ""
    """The turn's orchestration (the owner a provider webhook is routed to)."""
    look_seconds: float = 1.0
    # create_run first checks that every earlier turn has finished (strict per-conversation order); doing
    # that in the same activity saves an activity round trip (two history events) per turn.


@dataclass(frozen=True)
class PollRunInput(_Json):
    conversation_id: str
    turn: int
    run_id: str
    thread_id: str | None = None


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
    instance_id: str = ""
    look_seconds: float = 1.0


@dataclass(frozen=True)
class CancelRunInput(_Json):
    conversation_id: str
    turn: int
    run_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class CancelRequest(_Json):
    """The payload of CANCEL_EVENT: who asked (a principal name or the caller's own label) and why."""

    by: str | None = None
    reason: str | None = None
    requested_at: str | None = None


ApprovalStatus = Literal["pending", "approved", "denied", "expired", "cancelled"]
"""expired: nobody decided in time (the call is denied); cancelled: the turn ended while it was pending."""


@dataclass(frozen=True)
class ApprovalView(_Json):
    """One call's approval as history sees it: enough for customStatus, never the full arguments."""

    number: int
    tool: str
    status: ApprovalStatus
    expires_at: str
    arguments_preview: str = ""
    """The call's arguments as JSON, cut to a few hundred characters (the full call is in turn-work)."""
    decided_by: str | None = None


@dataclass(frozen=True)
class RequestApprovalsInput(_Json):
    conversation_id: str
    turn: int
    instance_id: str
    numbers: list[int]
    expires_at: str
    """From the orchestration's clock, so a retried activity keeps the first request's expiry."""
    approvers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SettleApprovalsInput(_Json):
    conversation_id: str
    turn: int
    numbers: list[int]
    expire: bool = False
    """The approval timer fired: calls still pending become ``expired`` (denied)."""


@dataclass(frozen=True)
class ApprovalsResult(_Json):
    approvals: tuple[ApprovalView, ...] = ()
    error: str | None = None
    """Storage failed: the orchestration retries on a timer."""

    @classmethod
    def from_json(cls, data: Any) -> Self:
        base = super().from_json(data)
        views = tuple(v if isinstance(v, ApprovalView) else ApprovalView.from_json(v) for v in base.approvals)
        return cls(views, base.error)


@dataclass(frozen=True)
class CheckpointInput(_Json):
    conversation_id: str
    turn: int
    message_id: str
    instance_id: str
    status: TurnOutcome
    error: str | None = None
    started_at: str = ""
    run_created_at: str = ""
    finished_at: str = ""
    reads: int = 0
    """Provider status reads the turn made (a followed event stream counts as one)."""
    minimal: bool = False
    """The full record could not be written: write a small failure record and release the conversation."""
    cancel: CancelRequest | None = None
    """Who cancelled the turn and why (status ``cancelled``)."""
    skipped: bool = False
    """The turn was cancelled before its run was created: it gives up its place in the conversation's order
    (the turn before it may still be running) instead of completing it."""
    approvals: bool = False
    """Some calls of the turn asked for approval: the record lists each decision; open requests are closed."""

    @classmethod
    def from_json(cls, data: Any) -> Self:
        base = super().from_json(data)
        cancel = CancelRequest.from_json(base.cancel) if isinstance(base.cancel, dict) else base.cancel
        return cls(**{**{f.name: getattr(base, f.name) for f in fields(cls)}, "cancel": cancel})


@dataclass(frozen=True)
class ToolCallRef(_Json):
    """A tool call as history knows it: its turn-wide number (payload in Storage) and the tool's name."""

    number: int
    name: str


@dataclass(frozen=True)
class StepResult(_Json):
    """What create/poll/submit/cancel report back: the run's status and ids, never payloads."""

    status: StepStatus
    run_id: str | None = None
    thread_id: str | None = None
    tool_calls: tuple[ToolCallRef, ...] = ()
    """In call order when status is requires_action."""
    error: str | None = None
    transient: bool = False
    """The step failed with 429/5xx/timeout or a storage hiccup: retry after ``retry_after`` seconds."""
    retry_after: float | None = None
    reads: int = 0
    """Provider status reads made by this step."""
    created_at: str | None = None
    """create_run: when the run was created (the step's clock, after the turn-order check), for the record."""

    @classmethod
    def from_json(cls, data: Any) -> Self:
        base = super().from_json(data)
        calls = tuple(c if isinstance(c, ToolCallRef) else ToolCallRef.from_json(c) for c in base.tool_calls)
        return cls(**{**{f.name: getattr(base, f.name) for f in fields(cls)}, "tool_calls": calls})

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True)
class ToolRunResult(_Json):
    number: int
    ok: bool
    retry: bool = False
    """The call's outcome could not be stored (a storage hiccup): run the activity again later."""
    error: str | None = None


@dataclass(frozen=True)
class CheckpointResult(_Json):
    answer: str | None
    record_written: bool
    next_instance_id: str | None = None
    """The conversation's next turn, if its message has arrived: it is told (TURN_READY_EVENT) to go on."""
    status: str | None = None
    """The turn's recorded status (for an already_done turn: the status of its earlier run)."""
    error: str | None = None
    """The checkpoint failed (storage): the orchestration retries it, then falls back to a minimal record."""


class ActivityNames:
    """Durable names of the turn's activities (function names in activities/)."""

    CREATE_RUN = "create_run"
    POLL_RUN = "poll_run"
    RUN_TOOL = "run_tool"
    SUBMIT_OUTPUTS = "submit_outputs"
    CANCEL_RUN = "cancel_run"
    CHECKPOINT = "checkpoint"
    REQUEST_APPROVALS = "request_approvals"
    SETTLE_APPROVALS = "settle_approvals"


TURN_ORCHESTRATION = "turn_orchestration"
TURN_READY_EVENT = "turn_ready"
"""Raised by a turn's checkpoint at the conversation's next turn, which may be waiting for it."""
RUN_ENDED_EVENT = "run_ended"
"""Raised by the provider webhook route at the turn whose run ended: ``{"runId", "type"}``."""
CANCEL_EVENT = "cancel_turn"
"""Raised by the cancel route (and by DELETE of a conversation with ``?cancel=true``) at a running turn:
``{"by": str | None, "reason": str | None}``. The turn cancels its run at the provider, records itself as
``cancelled`` and releases the conversation."""


def approval_event(number: int) -> str:
    """The event the approval route raises when call ``number`` of a turn is decided (one name per call: the
    Python SDK keeps only the last of several same-named events nobody waits for yet)."""
    return f"approval_{number}"
