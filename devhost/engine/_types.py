"""The engine's inputs and outputs: what the runtime hands to ``run_episode`` and what it must persist and send."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from devhost.model import HistoryEvent, RuntimeStatus

FunctionExists = Callable[[str, str], bool]
"""``function_exists(kind, name)`` with kind "activity" or "orchestrator" (names compared as the host does)."""


@dataclass(kw_only=True)
class EpisodeInput:
    """The stored state of one instance, as the runtime loaded it."""

    instance_id: str
    history: list[HistoryEvent]
    """The current execution's stored events in RowKey order (empty for a new instance)."""
    name: str = ""
    """Orchestrator name (Instances.Name); the ExecutionStarted event wins when present."""
    execution_id: str | None = None
    """Current execution id; the ExecutionStarted event wins when present."""
    input_text: str | None = None
    """ExecutionStarted.Input; the ExecutionStarted event wins when present."""
    parent: dict[str, Any] | None = None
    """DTFx ParentInstance (see ``parent_instance``) for sub-orchestrations; the ExecutionStarted event wins."""
    custom_status: str | None = None
    """Instances.CustomStatus (JSON text) before this episode; carried when the orchestrator sets none."""
    suspended: bool = False
    """Informational: the engine derives suspension from the ExecutionSuspended/Resumed events in history."""
    generation: int = 0


class ActivityRequest(NamedTuple):
    """Run activity ``name``; ``input_text`` is the SDK's JSON text (the worker passes ``df_loads`` of it)."""

    task_id: int
    name: str
    input_text: str | None


class TimerRequest(NamedTuple):
    """Deliver ``timer_fired(timer_id, fire_at)`` at ``fire_at``."""

    timer_id: int
    fire_at: datetime


class SubOrchestrationRequest(NamedTuple):
    """Start child ``instance_id``; ``input_text`` is already the child's ExecutionStarted.Input."""

    task_id: int
    name: str
    instance_id: str
    input_text: str | None


@dataclass
class ParentNotification:
    """A child's result for its parent: send ``event`` to ``instance_id`` (execution ``execution_id``)."""

    instance_id: str
    execution_id: str | None
    event: HistoryEvent
    """SubOrchestrationInstanceCompleted/Failed with TaskScheduledId = the parent's task id."""


@dataclass
class DroppedMessage:
    event: HistoryEvent
    reason: str


@dataclass
class EpisodeOutcome:
    """Everything the runtime must persist and send after one episode."""

    instance_id: str
    name: str
    """The orchestrator name (from ExecutionStarted)."""
    execution_id: str
    """The execution the history belongs to (a new one after continue-as-new)."""
    history: list[HistoryEvent]
    """The full history of that execution after the episode."""
    first_new_index: int
    """Index of the first row to write (0 after continue-as-new; ``len(history)`` when nothing changed)."""
    runtime_status: RuntimeStatus
    custom_status: str
    """Instances.CustomStatus: compact JSON text, ``"null"`` when unset."""
    input_text: str | None
    """Instances.Input of the (possibly new) execution."""
    generation: int
    output: str | None = None
    """Instances.Output text for this status; None = leave the stored value alone."""
    completed_time: datetime | None = None
    activities: list[ActivityRequest] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)
    sub_orchestrations: list[SubOrchestrationRequest] = field(default_factory=list)
    parent_notification: ParentNotification | None = None
    """Set when a sub-orchestration reached Completed/Failed/Terminated."""
    dropped_messages: list[DroppedMessage] = field(default_factory=list)
    failure: str | None = None
    """Why the orchestration failed (same text as ``output``), for logs."""
    nondeterminism: str | None = None
    """Set (as well as ``failure``) when replay found a history row the code no longer schedules."""
    warnings: list[str] = field(default_factory=list)
    """Known Python SDK / DTFx divergences met in this episode (behaviour stays that of the real host)."""
    continued_as_new: int = 0
    """How many times the instance continued as new during this episode."""
    invocations: int = 0
    """How many times the orchestrator function was called."""

    @property
    def new_events(self) -> list[HistoryEvent]:
        return self.history[self.first_new_index :]

    @property
    def changed(self) -> bool:
        """False when every message was dropped: nothing to write."""
        return self.first_new_index < len(self.history)
