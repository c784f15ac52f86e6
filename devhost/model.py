"""The shared vocabulary of devhost: history events, runtime statuses, instance records and queue messages.

Names and codes follow DurableTask.Core (DTFx) and the Azure Storage provider exactly (see
shared/reference/durable-functions-host.md sections 2.2, 6.3, 6.4), because they are what the Python SDK parses
and what Durable Functions Monitor reads.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class EventType(enum.IntEnum):
    """DTFx ``EventType``: integers in the orchestrator context JSON, names in the History table."""

    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


class RuntimeStatus(enum.StrEnum):
    """``OrchestrationStatus`` names, as stored in Instances.RuntimeStatus and returned by the status API."""

    Running = "Running"
    Completed = "Completed"
    ContinuedAsNew = "ContinuedAsNew"
    Failed = "Failed"
    Canceled = "Canceled"
    Terminated = "Terminated"
    Pending = "Pending"
    Suspended = "Suspended"

    @property
    def is_terminal(self) -> bool:
        return self in (RuntimeStatus.Completed, RuntimeStatus.Failed, RuntimeStatus.Canceled, RuntimeStatus.Terminated)


# Fields whose value is a DateTime in DTFx (ISO text in the context JSON, Edm.DateTime in tables).
DATETIME_FIELDS = frozenset({"FireAt", "ScheduledStartTime"})
# Fields holding a nested object (serialized as JSON text in tables, as objects in the context JSON).
OBJECT_FIELDS = frozenset({"OrchestrationInstance", "ParentInstance", "Tags", "ParentTraceContext", "FailureDetails"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_execution_id() -> str:
    """DTFx execution ids are ``Guid.ToString("N")``: 32 lowercase hex digits."""
    return uuid.uuid4().hex


def format_timestamp(value: datetime) -> str:
    """ISO-8601 with 7 fractional digits and ``Z``, like Newtonsoft writes DateTime (UTC)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def compact_json(value: Any) -> str:
    """Newtonsoft ``Formatting.None``: no spaces, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass
class HistoryEvent:
    """One DTFx history event.

    ``fields`` holds the type-specific DataMembers under their .NET names (``Name``, ``Input``, ``Result``,
    ``TaskScheduledId``, ``TimerId``, ``FireAt`` (a datetime), ``OrchestrationInstance`` (a dict), ...).
    ``message_id`` is devhost bookkeeping (the id of the queue message that delivered the event), used to drop
    duplicates after a crash; it is not a DTFx DataMember and never reaches the SDK or the status API.
    """

    event_type: EventType
    event_id: int = -1
    is_played: bool = False
    timestamp: datetime = field(default_factory=utcnow)
    fields: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    # The event's context JSON text for its is_played value: a stored event goes into every later episode's
    # context unchanged, so it is encoded once, not once per episode (copies made with replace() start empty).
    _context_text: tuple[bool, str] | None = field(default=None, init=False, repr=False, compare=False)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def context_json_text(self) -> str:
        """``json.dumps(self.to_context_json(), ensure_ascii=False)``, remembered per ``is_played`` value."""
        cached = self._context_text
        if cached is not None and cached[0] == self.is_played:
            return cached[1]
        text = json.dumps(self.to_context_json(), ensure_ascii=False)
        self._context_text = (self.is_played, text)
        return text

    def to_context_json(self) -> dict[str, Any]:
        """The event as the Python SDK expects it inside ``context.history`` (section 2.2)."""
        out: dict[str, Any] = {
            "EventType": int(self.event_type),
            "EventId": self.event_id,
            "IsPlayed": self.is_played,
            "Timestamp": format_timestamp(self.timestamp),
        }
        for key, value in self.fields.items():
            out[key] = format_timestamp(value) if isinstance(value, datetime) else value
        if self.event_type is EventType.ExecutionStarted:
            out.setdefault("Version", "")
        return out


@dataclass
class InstanceRecord:
    """One row of ``{hub}Instances`` (PartitionKey = escaped instance id, RowKey = "")."""

    instance_id: str
    name: str
    runtime_status: RuntimeStatus
    execution_id: str
    created_time: datetime
    last_updated_time: datetime
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None  # JSON text; "null" once an episode ran without a custom status
    completed_time: datetime | None = None
    version: str = ""
    generation: int = 0
    task_hub_name: str | None = None
    scheduled_start_time: datetime | None = None


@dataclass
class QueueMessage:
    """The body of a control-queue or work-item message: one history event for one orchestration instance.

    ``execution_id`` is the target execution (None for ExecutionStarted of a new instance and for client
    operations that target whatever execution is current). ``message_id`` is unique per message.
    """

    instance_id: str
    event: HistoryEvent
    execution_id: str | None = None
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # For work items: which orchestration episode scheduled the activity (diagnostics only).
    episode: int | None = None
