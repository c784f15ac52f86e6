"""Conversation lifecycle: deleting a conversation and everything of it, and the retention sweep."""

from durable_assistant.lifecycle._deletion import (
    CANCEL_PAYLOAD,
    CANCEL_WAIT_SECONDS,
    BusyTurn,
    DeletionResult,
    DeletionStatus,
    Removed,
    busy_turns,
    delete_conversation,
)
from durable_assistant.lifecycle._instances import (
    ACTIVE_RUNTIME_STATUSES,
    DurableTurnInstances,
    TurnInstances,
)
from durable_assistant.lifecycle._retention import MAX_DELETIONS_PER_SWEEP, SweepReport, is_due, sweep

__all__ = [
    "ACTIVE_RUNTIME_STATUSES",
    "CANCEL_PAYLOAD",
    "CANCEL_WAIT_SECONDS",
    "MAX_DELETIONS_PER_SWEEP",
    "BusyTurn",
    "DeletionResult",
    "DeletionStatus",
    "DurableTurnInstances",
    "Removed",
    "SweepReport",
    "TurnInstances",
    "busy_turns",
    "delete_conversation",
    "is_due",
    "sweep",
]
