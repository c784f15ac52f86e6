"""Reading and extending one execution's history: status, dedupe of incoming messages, new rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from devhost.engine._replay import COMPLETION_EVENT_ID_FIELDS
from devhost.engine._types import DroppedMessage
from devhost.model import EventType, HistoryEvent, RuntimeStatus, compact_json

# Rows that record a decision under its sequence id.
SCHEDULING_EVENT_TYPES = frozenset(
    {
        EventType.TaskScheduled,
        EventType.TimerCreated,
        EventType.SubOrchestrationInstanceCreated,
        EventType.EventSent,
    }
)


def new_event(event_type: EventType, now: datetime, event_id: int = -1, **fields: Any) -> HistoryEvent:
    return HistoryEvent(event_type, event_id=event_id, is_played=False, timestamp=now, fields=fields)


def status_of(history: Sequence[HistoryEvent]) -> tuple[RuntimeStatus, str | None]:
    """The runtime status the stored history implies, and the reason text of a suspension."""
    if not history:
        return RuntimeStatus.Pending, None
    status, reason = RuntimeStatus.Running, None
    for event in history:
        if event.event_type is EventType.ExecutionCompleted:
            return RuntimeStatus(str(event.get("OrchestrationStatus", RuntimeStatus.Completed))), None
        if event.event_type is EventType.ExecutionSuspended:
            status, reason = RuntimeStatus.Suspended, event.get("Reason")
        elif event.event_type is EventType.ExecutionResumed:
            status, reason = RuntimeStatus.Running, None
    return status, reason


def execution_id_of(history: Sequence[HistoryEvent]) -> str | None:
    """The ExecutionId named by the first ExecutionStarted in ``history``."""
    for event in history:
        if event.event_type is EventType.ExecutionStarted:
            value = (event.get("OrchestrationInstance") or {}).get("ExecutionId")
            return str(value) if value is not None else None
    return None


def recorded_sequence(history: Sequence[HistoryEvent]) -> int:
    """The next sequence id after every decision recorded in history (used when the replay cannot run)."""
    ids = [e.event_id for e in history if e.event_type in SCHEDULING_EVENT_TYPES]
    return max(ids) + 1 if ids else 0


def filter_messages(
    history: Sequence[HistoryEvent], messages: Sequence[HistoryEvent]
) -> tuple[list[HistoryEvent], list[DroppedMessage]]:
    """Split incoming messages into the ones to record and the duplicates/strays to drop (with reasons).

    After a crash between writing history and deleting queue messages, the same messages come back: they are
    recognised by ``message_id`` or by a completion for a task that already has one.
    """
    seen_message_ids = {e.message_id for e in history if e.message_id}
    scheduled = {e.event_id for e in history if e.event_type in SCHEDULING_EVENT_TYPES}
    completed = {
        int(e.get(COMPLETION_EVENT_ID_FIELDS[e.event_type], -1))
        for e in history
        if e.event_type in COMPLETION_EVENT_ID_FIELDS
    }
    started = any(e.event_type is EventType.ExecutionStarted for e in history)
    accepted: list[HistoryEvent] = []
    dropped: list[DroppedMessage] = []
    for event in messages:
        reason = None
        if event.message_id and event.message_id in seen_message_ids:
            reason = f"message {event.message_id} is already in history"
        elif event.event_type is EventType.ExecutionStarted and started:
            reason = "duplicate ExecutionStarted"
        elif event.event_type in COMPLETION_EVENT_ID_FIELDS:
            task_id = int(event.get(COMPLETION_EVENT_ID_FIELDS[event.event_type], -1))
            if task_id in completed:
                reason = f"duplicate completion for task {task_id}"
            elif task_id not in scheduled:
                reason = f"no task {task_id} was scheduled by this execution"
            else:
                completed.add(task_id)
        if reason is not None:
            dropped.append(DroppedMessage(event, reason))
            continue
        accepted.append(event)
        if event.message_id:
            seen_message_ids.add(event.message_id)
        if event.event_type is EventType.ExecutionStarted:
            started = True
    return accepted, dropped


def input_text_of(action_input: str | None) -> str | None:
    """ExecutionStarted.Input for an action's ``input`` (children, continue-as-new; spec 2.10).

    The SDK sends the input as JSON text; .NET holds it as a string and DTFx serializes that string again, so the
    stored input is a JSON string literal (``6`` -> ``"6"``), which the SDK's ``get_input()`` decodes back.
    """
    return None if action_input is None else compact_json(action_input)


def mark_played(events: Sequence[HistoryEvent]) -> None:
    # DTFx flags every event it processed, except OrchestratorStarted/OrchestratorCompleted markers.
    for event in events:
        if event.event_type not in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
            event.is_played = True
