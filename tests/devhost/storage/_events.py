"""One representative HistoryEvent of every DTFx event type, with the columns spec section 6.4 lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devhost.model import EventType, HistoryEvent, RuntimeStatus

T0 = datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def every_event_type(instance_id: str, execution_id: str) -> list[HistoryEvent]:
    events = [
        HistoryEvent(EventType.OrchestratorStarted, timestamp=at(1)),
        HistoryEvent(
            EventType.ExecutionStarted,
            is_played=True,
            timestamp=at(0),
            fields={
                "Name": "hello_orchestrator",
                "Version": "",
                "Input": '"{\\"a\\": 1}"',
                "OrchestrationInstance": {"InstanceId": instance_id, "ExecutionId": execution_id},
                "ParentInstance": {
                    "Name": "parent",
                    "Version": "",
                    "OrchestrationInstance": {"InstanceId": "p", "ExecutionId": "pe"},
                    "TaskScheduleId": 3,
                },
                "Tags": {"team": "a"},
                "Correlation": "corr",
                "ScheduledStartTime": at(-5),
                "Generation": 0,
            },
            message_id="start-message",
        ),
        HistoryEvent(
            EventType.TaskScheduled, event_id=0, timestamp=at(1), fields={"Name": "hello", "Version": ""}
        ),
        HistoryEvent(
            EventType.TaskScheduled, event_id=1, timestamp=at(1), fields={"Name": "boom", "Version": ""}
        ),
        HistoryEvent(
            EventType.SubOrchestrationInstanceCreated,
            event_id=2,
            timestamp=at(1),
            fields={"Name": "child", "Version": "", "InstanceId": f"{execution_id}:2"},
        ),
        HistoryEvent(
            EventType.SubOrchestrationInstanceCreated,
            event_id=3,
            timestamp=at(1),
            fields={"Name": "child", "Version": "", "InstanceId": f"{execution_id}:3"},
        ),
        HistoryEvent(EventType.TimerCreated, event_id=4, timestamp=at(1), fields={"FireAt": at(60)}),
        HistoryEvent(
            EventType.EventSent,
            event_id=5,
            timestamp=at(1),
            fields={"InstanceId": "other", "Name": "ping", "Input": "1"},
        ),
        HistoryEvent(EventType.OrchestratorCompleted, timestamp=at(1)),
        HistoryEvent(EventType.OrchestratorStarted, timestamp=at(2)),
        HistoryEvent(
            EventType.TaskCompleted,
            timestamp=at(2),
            fields={"TaskScheduledId": 0, "Result": '"Hello Tokyo"'},
            message_id="m-completed",
        ),
        HistoryEvent(
            EventType.TaskFailed,
            timestamp=at(2),
            fields={"TaskScheduledId": 1, "Reason": "Activity function 'boom' failed: x", "Details": "trace"},
        ),
        HistoryEvent(
            EventType.SubOrchestrationInstanceCompleted,
            timestamp=at(2),
            fields={"TaskScheduledId": 2, "Result": "[1,2]"},
        ),
        HistoryEvent(
            EventType.SubOrchestrationInstanceFailed,
            timestamp=at(2),
            fields={
                "TaskScheduledId": 3,
                "Reason": "child failed",
                "Details": "d",
                "FailureDetails": {"ErrorType": "Exception", "ErrorMessage": "child failed"},
            },
        ),
        HistoryEvent(EventType.TimerFired, timestamp=at(60), fields={"TimerId": 4, "FireAt": at(60)}),
        HistoryEvent(EventType.EventRaised, timestamp=at(3), fields={"Name": "approval", "Input": '"yes"'}),
        HistoryEvent(EventType.ExecutionSuspended, timestamp=at(4), fields={"Reason": "pause"}),
        HistoryEvent(EventType.ExecutionResumed, timestamp=at(5), fields={"Reason": "go"}),
        HistoryEvent(EventType.GenericEvent, timestamp=at(5), fields={"Data": "generic"}),
        HistoryEvent(EventType.HistoryState, timestamp=at(5), fields={"State": "{}"}),
        HistoryEvent(EventType.ExecutionTerminated, timestamp=at(6), fields={"Input": "stop it"}),
        HistoryEvent(EventType.ExecutionFailed, timestamp=at(6), fields={"Reason": "obsolete"}),
        HistoryEvent(EventType.ContinueAsNew, event_id=6, timestamp=at(6), fields={"Result": "7"}),
        HistoryEvent(
            EventType.ExecutionCompleted,
            event_id=7,
            timestamp=at(6),
            fields={"OrchestrationStatus": RuntimeStatus.Completed, "Result": '"Hello Tokyo"'},
        ),
        HistoryEvent(EventType.OrchestratorCompleted, timestamp=at(6)),
    ]
    assert {event.event_type for event in events} == set(EventType)
    return events
