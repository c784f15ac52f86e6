"""Inputs and results of ``TaskHubStorage`` that are specific to storage (the shared ones live in devhost.model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from devhost.model import HistoryEvent, QueueMessage, RuntimeStatus


@dataclass
class HistorySnapshot:
    """The stored history of an instance's current execution.

    ``execution_id`` and ``etag`` come from the sentinel row (both None when nothing was ever written).
    ``etag`` is what ``append_history`` needs next, also when the runtime starts a *new* execution of the
    instance (continue-as-new, or a terminal id started again): the sentinel is shared by all executions.
    ``checkpoint_complete`` is False only if a multi-batch write stopped half-way.
    ``blob_names`` maps (row index, property) to the large-message blob holding that offloaded value: the
    Instances row points its large ``Input``/``Output`` at these blobs instead of uploading the values again.
    """

    execution_id: str | None
    events: list[HistoryEvent]
    etag: str | None
    checkpoint_complete: bool = True
    blob_names: dict[tuple[int, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryCheckpoint:
    """What ``checkpoint_history`` wrote: the sentinel's new ETag and the blobs of the values it offloaded,
    keyed like ``HistorySnapshot.blob_names``."""

    etag: str
    blob_names: dict[tuple[int, str], str]


@dataclass
class ReceivedMessage:
    """A dequeued control or work-item message; hand it back to ``delete_message`` / ``renew_message``."""

    message: QueueMessage
    queue_name: str
    queue_message_id: str
    pop_receipt: str  # replaced by renew_message (the service issues a new receipt on every update)
    dequeue_count: int
    inserted_on: datetime | None = None


@dataclass(frozen=True)
class InstanceQuery:
    """Filter of the instance list / purge-by-filter (spec section 5, ``GET/DELETE /instances``).

    Empty ``runtime_statuses`` means any status. Time bounds are inclusive and compare ``CreatedTime``.
    """

    created_from: datetime | None = None
    created_to: datetime | None = None
    runtime_statuses: frozenset[RuntimeStatus] = field(default_factory=frozenset)
    instance_id_prefix: str | None = None
