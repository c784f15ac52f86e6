"""The shadow replay on hand-written OrchestratorStates: host-side rules the Python SDK cannot exercise alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost.engine import (
    EpisodeInput,
    InvocationResult,
    activity_failed,
    event_raised,
    execution_started,
    run_episode,
    timer_fired,
)
from devhost.model import HistoryEvent, RuntimeStatus

from ._host import timeline

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _run(
    state: dict[str, Any], history: list[HistoryEvent], messages: list[HistoryEvent], now: datetime = NOW
) -> Any:
    """One episode whose orchestrator always answers ``state`` (a scripted reply, like the SDK's own tests)."""
    return run_episode(
        instance=EpisodeInput(instance_id="i", name="scripted", execution_id="e", history=history),
        messages=messages,
        now=now,
        invoke=lambda name, body: InvocationResult(state, None),
        function_exists=lambda kind, name: True,
        new_execution_id=lambda: "e2",
    )


def _start() -> HistoryEvent:
    return execution_started(
        name="scripted", instance_id="i", execution_id="e", input_text=None, timestamp=NOW
    )


def test_external_event_names_match_case_insensitively_like_dotnet() -> None:
    state = {
        "isDone": False,
        "schemaVersion": 2,
        "actions": [
            [
                {"actionType": 6, "externalEventName": "Approval", "reason": "ExternalEvent"},
                {"actionType": 0, "functionName": "next", "input": "1"},
            ]
        ],
    }
    first = _run(state, [], [_start()])
    assert first.activities == []
    second = _run(state, first.history, [event_raised("APPROVAL", '"ok"')], NOW + timedelta(seconds=1))
    assert timeline(second.new_events) == [
        "OrchestratorStarted", "EventRaised:APPROVAL", "TaskScheduled#0:next", "OrchestratorCompleted",
    ]  # fmt: skip


def test_retry_delays_follow_backoff_and_the_max_interval() -> None:
    retry = {
        "firstRetryIntervalInMilliseconds": 1000,
        "maxNumberOfAttempts": 4,
        "backoffCoefficient": 3,
        "maxRetryIntervalInMilliseconds": 5000,
    }
    state = {
        "isDone": False,
        "schemaVersion": 2,
        "actions": [
            [
                {
                    "actionType": 12,
                    "compoundActions": [{"actionType": 1, "functionName": "f", "retryOptions": retry}],
                }
            ]
        ],
    }
    outcome = _run(state, [], [_start()])
    delays = []
    for attempt, task_id in enumerate((0, 2, 4)):
        now = NOW + timedelta(minutes=attempt + 1)
        outcome = _run(state, outcome.history, [activity_failed(task_id, "f", "E: x")], now)
        (timer,) = outcome.timers
        delays.append(timer.fire_at - now)
        outcome = _run(state, outcome.history, [timer_fired(timer.timer_id, timer.fire_at)], now)
        assert [a.task_id for a in outcome.activities] == [task_id + 2]
    assert delays == [timedelta(seconds=1), timedelta(seconds=3), timedelta(seconds=5)]


def test_cancelled_timer_is_recorded_but_not_open() -> None:
    state = {
        "isDone": True,
        "schemaVersion": 2,
        "output": "done",
        "actions": [[{"actionType": 5, "fireAt": "2026-03-02T00:00:00.000000Z", "isCanceled": True}]],
    }
    outcome = _run(state, [], [_start()])
    assert outcome.runtime_status is RuntimeStatus.Completed
    assert timeline(outcome.history) == [
        "OrchestratorStarted", "ExecutionStarted", "TimerCreated#0", "ExecutionCompleted#1:Completed",
        "OrchestratorCompleted",
    ]  # fmt: skip
    assert outcome.history[2].get("FireAt") == datetime(2026, 3, 2, tzinfo=UTC)
    assert outcome.timers == []  # a finished instance gets no outbound work


def test_history_row_the_code_never_reaches_is_non_deterministic() -> None:
    waits = {"isDone": False, "schemaVersion": 2, "actions": [[{"actionType": 6, "externalEventName": "E"}]]}
    calls = {
        "isDone": False,
        "schemaVersion": 2,
        "actions": [[{"actionType": 0, "functionName": "f", "input": "1"}]],
    }
    first = _run(calls, [], [_start()])
    outcome = _run(waits, first.history, [event_raised("other", "1")])
    assert outcome.runtime_status is RuntimeStatus.Failed
    assert outcome.nondeterminism is not None
    assert "hasn't (yet?) scheduled this task" in outcome.nondeterminism


def test_v1_replay_schema_is_rejected_clearly() -> None:
    outcome = _run({"isDone": False, "actions": [[]]}, [], [_start()])
    assert outcome.runtime_status is RuntimeStatus.Failed
    assert outcome.output == (
        "Orchestrator function 'scripted' failed: devhost could not replay the orchestrator's reply: "
        "OrchestratorState uses replay schema V1, which devhost does not replay"
    )


@pytest.mark.parametrize(
    ("actions", "reason"),
    [
        (
            [{"actionType": 0}],
            "invalid OrchestratorState at actions/0/0: 'functionName' is a required property",
        ),
        (
            [{"actionType": 99}],
            "invalid OrchestratorState at actions/0/0/actionType: 99 is greater than the maximum of 12",
        ),
        (
            [
                {
                    "actionType": 1,
                    "functionName": "f",
                    "retryOptions": {"firstRetryIntervalInMilliseconds": 0, "maxNumberOfAttempts": 2},
                }
            ],
            "invalid OrchestratorState at actions/0/0/retryOptions/firstRetryIntervalInMilliseconds: 0 is less than or "
            "equal to the minimum of 0",
        ),
        ([{"actionType": 5, "fireAt": "soon"}], "invalid timer fireAt 'soon'"),
    ],
)
def test_malformed_actions_fail_with_the_reason(actions: list[dict[str, Any]], reason: str) -> None:
    outcome = _run({"isDone": False, "schemaVersion": 2, "actions": [actions]}, [], [_start()])
    assert outcome.runtime_status is RuntimeStatus.Failed
    assert outcome.output == (
        f"Orchestrator function 'scripted' failed: devhost could not replay the orchestrator's reply: {reason}"
    )
