"""Status payloads of the management API, built from an Instances row and the stored history (spec §5).

Mirrors the extension's ``ConvertOrchestrationStateToStatus`` and the ``historyEvents`` rewrite of
``GetDurableOrchestrationStatusAsync``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from devhost.model import EventType, HistoryEvent, InstanceRecord, RuntimeStatus, format_timestamp

# Statuses for which GET /instances/{id} answers 202 (still in progress).
IN_PROGRESS = frozenset({RuntimeStatus.Running, RuntimeStatus.Pending, RuntimeStatus.ContinuedAsNew,
                         RuntimeStatus.Suspended})


def format_status_time(value: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ``: the status payload drops fractional seconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_token(text: str | None) -> Any:
    """The extension's ``ParseToJToken``: JSON when it parses, else the raw (trimmed) text; None stays null."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return ""
    try:
        return json.loads(text)
    except ValueError:
        return text  # e.g. a termination reason


def status_payload(
    record: InstanceRecord,
    history: list[HistoryEvent] | None = None,
    *,
    show_input: bool = True,
    show_history_output: bool = False,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": str(record.runtime_status),
        "input": parse_token(record.input) if show_input else None,
        "customStatus": parse_token(record.custom_status),
        "output": parse_token(record.output),
        "createdTime": format_status_time(record.created_time),
        "lastUpdatedTime": format_status_time(record.last_updated_time),
    }
    if history is not None and record.runtime_status is not RuntimeStatus.Pending:
        payload["historyEvents"] = history_events(
            history, show_input=show_input, show_history_output=show_history_output
        )
    return payload


def _event_json(event: HistoryEvent) -> dict[str, Any]:
    """The event as DTFx serializes it (EventType as a number here; renamed below like the extension does)."""
    item: dict[str, Any] = {
        "EventType": event.event_type.name,
        "EventId": event.event_id,
        "IsPlayed": event.is_played,
        "Timestamp": format_timestamp(event.timestamp),
    }
    for key, value in event.fields.items():
        item[key] = format_timestamp(value) if isinstance(value, datetime) else value
    return item


_COMPLETION_OF = {
    EventType.TaskCompleted: EventType.TaskScheduled,
    EventType.TaskFailed: EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCompleted: EventType.SubOrchestrationInstanceCreated,
    EventType.SubOrchestrationInstanceFailed: EventType.SubOrchestrationInstanceCreated,
}
_RESULT_SHOWN = frozenset({EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted})


def history_events(
    history: list[HistoryEvent], *, show_input: bool, show_history_output: bool
) -> list[dict[str, Any]]:
    """The ``historyEvents`` array: schedule events folded into their completions, bookkeeping events dropped."""
    items = [_event_json(e) for e in history]
    scheduled: dict[tuple[EventType, int], tuple[int, HistoryEvent]] = {}
    dropped: set[int] = set()
    for index, (event, item) in enumerate(zip(history, items, strict=True)):
        kind = event.event_type
        if kind in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated):
            scheduled[(kind, event.event_id)] = (index, event)
            item.pop("Version", None)
        elif kind in _COMPLETION_OF:
            match = scheduled.get((_COMPLETION_OF[kind], int(event.get("TaskScheduledId", -1))))
            if match is not None:
                sched_index, sched = match
                item["ScheduledTime"] = format_timestamp(sched.timestamp)
                item["FunctionName"] = sched.get("Name")
                if show_input:
                    item["Input"] = sched.get("Input")
                dropped.add(sched_index)
            item.pop("TaskScheduledId", None)
            if kind in _RESULT_SHOWN:
                if show_history_output:
                    item["Result"] = parse_token(item.get("Result"))
                else:
                    item.pop("Result", None)
        elif kind is EventType.ExecutionStarted:
            name = item.pop("Name", None)
            item["FunctionName"] = name
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(key, None)
        elif kind is EventType.ExecutionCompleted:
            status = item.get("OrchestrationStatus")
            if isinstance(status, int):
                item["OrchestrationStatus"] = _ORCHESTRATION_STATUS_NAMES.get(status, status)
            if show_history_output:
                item["Result"] = parse_token(item.get("Result"))
            else:
                item.pop("Result", None)
        elif kind is EventType.TimerFired:
            item.pop("TimerId", None)
        elif kind in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
            dropped.add(index)
        if not show_input:
            item.pop("Input", None)
        item.pop("EventId", None)
        item.pop("IsPlayed", None)
    return [item for index, item in enumerate(items) if index not in dropped]


# DTFx OrchestrationStatus numbers (ExecutionCompleted.OrchestrationStatus may be stored as a number).
_ORCHESTRATION_STATUS_NAMES = {
    0: "Running", 1: "Completed", 2: "ContinuedAsNew", 3: "Failed", 4: "Canceled", 5: "Terminated", 6: "Pending",
    7: "Suspended",
}
