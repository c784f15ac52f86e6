"""Constructors for the history events that carry work results and client operations.

The runtime builds these messages (activity results, timer firings, child completions, client operations); keeping
their formats here means the engine and the runtime agree on every field name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devhost.model import EventType, HistoryEvent, utcnow


def _event(event_type: EventType, timestamp: datetime | None, fields: dict[str, Any]) -> HistoryEvent:
    return HistoryEvent(event_type, event_id=-1, timestamp=timestamp or utcnow(), fields=fields)


def parent_instance(
    *, name: str, instance_id: str, execution_id: str, task_scheduled_id: int
) -> dict[str, Any]:
    """DTFx ``ParentInstance`` of a sub-orchestration's ExecutionStarted event."""
    return {
        "Name": name,
        "Version": "",
        "OrchestrationInstance": {"InstanceId": instance_id, "ExecutionId": execution_id},
        "TaskScheduleId": task_scheduled_id,
    }


def execution_started(
    *,
    name: str,
    instance_id: str,
    execution_id: str,
    input_text: str | None,
    parent: dict[str, Any] | None = None,
    generation: int = 0,
    scheduled_start_time: datetime | None = None,
    timestamp: datetime | None = None,
) -> HistoryEvent:
    """ExecutionStarted for a new instance (``parent=None``) or a child (``parent=parent_instance(...)``)."""
    fields: dict[str, Any] = {
        "OrchestrationInstance": {"InstanceId": instance_id, "ExecutionId": execution_id},
        "ParentInstance": parent,
        "Name": name,
        "Version": "",
        "Input": input_text,
        "Tags": None,
        "Correlation": None,
        "ScheduledStartTime": scheduled_start_time,
        "Generation": generation,
    }
    return _event(EventType.ExecutionStarted, timestamp, fields)


def activity_completed(
    task_id: int, result_json: str | None, *, timestamp: datetime | None = None
) -> HistoryEvent:
    """TaskCompleted; ``result_json`` is the compact JSON text of the activity's return value (None for null)."""
    return _event(EventType.TaskCompleted, timestamp, {"TaskScheduledId": task_id, "Result": result_json})


def activity_failure_reason(name: str, exception_text: str) -> str:
    """``"Activity function '<name>' failed: <friendly>"`` where friendly is ``" <Type>: <message>"`` (spec 3).

    The leading space of the friendly message (the worker's ``"\\nException: "`` framing) produces the real
    host's double space after "failed:".
    """
    return f"Activity function '{name}' failed:  {exception_text}"


def activity_failed(
    task_id: int,
    name: str,
    exception_text: str,
    details: str | None = None,
    *,
    timestamp: datetime | None = None,
) -> HistoryEvent:
    """TaskFailed for an activity whose code raised; ``exception_text`` is ``"<ExceptionType>: <message>"``."""
    reason = activity_failure_reason(name, exception_text)
    if not details:
        details = f"Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException: Result: Failure\nException: {exception_text}"
    return _event(
        EventType.TaskFailed, timestamp, {"TaskScheduledId": task_id, "Reason": reason, "Details": details}
    )


def timer_fired(timer_id: int, fire_at: datetime, *, timestamp: datetime | None = None) -> HistoryEvent:
    return _event(EventType.TimerFired, timestamp, {"TimerId": timer_id, "FireAt": fire_at})


def sub_orchestration_completed(
    task_id: int, result_json: str | None, *, timestamp: datetime | None = None
) -> HistoryEvent:
    return _event(
        EventType.SubOrchestrationInstanceCompleted,
        timestamp,
        {"TaskScheduledId": task_id, "Result": result_json},
    )


def sub_orchestration_failed(
    task_id: int, reason: str, details: str | None, *, timestamp: datetime | None = None
) -> HistoryEvent:
    return _event(
        EventType.SubOrchestrationInstanceFailed,
        timestamp,
        {"TaskScheduledId": task_id, "Reason": reason, "Details": details},
    )


def event_raised(name: str, input_text: str | None, *, timestamp: datetime | None = None) -> HistoryEvent:
    """EventRaised; ``input_text`` is the request body exactly as received (spec 2.10)."""
    return _event(EventType.EventRaised, timestamp, {"Name": name, "Input": input_text})


def execution_terminated(reason: str | None, *, timestamp: datetime | None = None) -> HistoryEvent:
    return _event(EventType.ExecutionTerminated, timestamp, {"Input": reason})


def execution_suspended(reason: str | None, *, timestamp: datetime | None = None) -> HistoryEvent:
    return _event(EventType.ExecutionSuspended, timestamp, {"Reason": reason})


def execution_resumed(reason: str | None, *, timestamp: datetime | None = None) -> HistoryEvent:
    return _event(EventType.ExecutionResumed, timestamp, {"Reason": reason})
