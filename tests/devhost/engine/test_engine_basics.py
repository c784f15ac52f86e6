# The SDK's decorators are untyped.
# mypy: disable-error-code="untyped-decorator"
"""Chaining, fan-out/fan-in, timers and the completion rules, driven through the real 1.7.0 SDK."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from devhost.engine import InvocationResult, build_context_json, execution_started
from devhost.model import EventType, RuntimeStatus

from ._host import T0, InMemoryHost, timeline

app = df.DFApp()


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("say_hello", "Tokyo")
    b = yield context.call_activity("say_hello", "Seattle")
    c = yield context.call_activity("say_hello", "London")
    return [a, b, c]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()["count"]
    results = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def sleepy(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(minutes=5))
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return "rested"


@app.orchestration_trigger(context_name="context")
def first_of_two(context: df.DurableOrchestrationContext):
    winner = yield context.task_any([context.call_activity("double", 1), context.call_activity("double", 2)])
    return winner.result


def test_chaining_history_is_exactly_like_dtfx() -> None:
    host = InMemoryHost(app)
    host.start("chain", {"a": 1})
    host.run_until_idle()

    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert json.loads(stored.output or "") == ["Hello Tokyo", "Hello Seattle", "Hello London"]
    assert stored.output == '["Hello Tokyo","Hello Seattle","Hello London"]'  # compact, like Newtonsoft
    assert timeline(stored.history) == [
        "OrchestratorStarted", "ExecutionStarted", "TaskScheduled#0:say_hello", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted->0", "TaskScheduled#1:say_hello", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted->1", "TaskScheduled#2:say_hello", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted->2", "ExecutionCompleted#3:Completed", "OrchestratorCompleted",
    ]  # fmt: skip
    # IsPlayed as DTFx persists it: processed messages true, markers and new decisions false.
    played = [(e.event_type.name, e.is_played) for e in stored.history[:6]]
    assert played == [
        ("OrchestratorStarted", False), ("ExecutionStarted", True), ("TaskScheduled", False),
        ("OrchestratorCompleted", False), ("OrchestratorStarted", False), ("TaskCompleted", True),
    ]  # fmt: skip
    assert stored.history[1].get("Input") == '"{\\"a\\": 1}"'
    assert host.invocations == 4
    last = stored.outcomes[-1]
    assert last.completed_time == host.now
    assert last.custom_status == "null"


def test_each_episode_reports_only_its_new_rows_and_work() -> None:
    host = InMemoryHost(app)
    host.start("chain")
    first = host.run_episode("inst")
    assert first.first_new_index == 0
    assert [e.event_type for e in first.new_events] == [
        EventType.OrchestratorStarted,
        EventType.ExecutionStarted,
        EventType.TaskScheduled,
        EventType.OrchestratorCompleted,
    ]
    assert first.activities == [(0, "say_hello", '"Tokyo"')]
    assert first.runtime_status is RuntimeStatus.Running
    assert first.output is None

    host.run_activity("inst", host.pending_activities[0][1])
    second = host.run_episode("inst")
    assert second.first_new_index == 4
    assert timeline(second.new_events) == [
        "OrchestratorStarted", "TaskCompleted->0", "TaskScheduled#1:say_hello", "OrchestratorCompleted",
    ]  # fmt: skip
    assert second.activities == [(1, "say_hello", '"Seattle"')]


def test_fan_out_fan_in_of_fifty() -> None:
    host = InMemoryHost(app)
    host.start("fan_out", {"count": 50})
    first = host.run_episode("inst")
    assert [a.task_id for a in first.activities] == list(range(50))
    assert [a.input_text for a in first.activities] == [str(i) for i in range(50)]
    host.run_until_idle()

    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert stored.output == str(sum(2 * i for i in range(50)))
    expected = ["OrchestratorStarted", "ExecutionStarted"]
    expected += [f"TaskScheduled#{i}:double" for i in range(50)]
    expected += ["OrchestratorCompleted", "OrchestratorStarted"]
    expected += [f"TaskCompleted->{i}" for i in range(50)]
    expected += ["ExecutionCompleted#50:Completed", "OrchestratorCompleted"]
    assert timeline(stored.history) == expected


def test_fan_in_waits_for_every_result_even_across_episodes() -> None:
    host = InMemoryHost(app)
    host.start("fan_out", {"count": 3})
    host.run_episode("inst")
    # Results arrive one per episode, in reverse order.
    for instance_id, request in sorted(host.pending_activities, key=lambda p: -p[1].task_id):
        host.run_activity(instance_id, request)
        outcome = host.run_episode("inst")
    assert outcome.runtime_status is RuntimeStatus.Completed
    assert timeline(host.instances["inst"].history)[-4:] == [
        "OrchestratorStarted", "TaskCompleted->0", "ExecutionCompleted#3:Completed", "OrchestratorCompleted",
    ]  # fmt: skip
    assert [o.runtime_status for o in host.instances["inst"].outcomes] == [
        RuntimeStatus.Running, RuntimeStatus.Running, RuntimeStatus.Running, RuntimeStatus.Completed,
    ]  # fmt: skip


def test_timers_are_created_at_fire_time_and_fired_in_order() -> None:
    host = InMemoryHost(app)
    host.start("sleepy")
    first = host.run_episode("inst")
    assert first.timers == [(0, T0 + timedelta(seconds=1, minutes=5))]
    host.run_until_idle()

    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert stored.output == '"rested"'
    assert timeline(stored.history) == [
        "OrchestratorStarted", "ExecutionStarted", "TimerCreated#0", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->0", "TimerCreated#1", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->1", "ExecutionCompleted#2:Completed", "OrchestratorCompleted",
    ]  # fmt: skip
    second_timer = stored.history[6]
    # current_utc_datetime is the OrchestratorStarted timestamp of the episode that created the timer.
    assert second_timer.get("FireAt") == stored.history[4].timestamp + timedelta(hours=1)


def test_losing_activity_of_task_any_keeps_the_instance_running_until_it_completes() -> None:
    host = InMemoryHost(app)
    host.start("first_of_two")
    host.run_episode("inst")
    winner = next(r for _, r in host.pending_activities if r.task_id == 1)
    host.run_activity("inst", winner)
    outcome = host.run_episode("inst")
    # The orchestrator returned (isDone) but activity 0 is still open: DTFx does not complete yet.
    assert outcome.runtime_status is RuntimeStatus.Running
    assert timeline(outcome.new_events) == [
        "OrchestratorStarted",
        "TaskCompleted->1",
        "OrchestratorCompleted",
    ]

    host.run_until_idle()
    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert stored.output == "4"
    assert timeline(stored.history)[-3:] == [
        "TaskCompleted->0",
        "ExecutionCompleted#2:Completed",
        "OrchestratorCompleted",
    ]


def test_context_json_has_the_keys_the_extension_sends() -> None:
    started = execution_started(
        name="chain", instance_id="i1", execution_id="e1", input_text='"{\\"a\\": 1}"', timestamp=T0
    )
    body = json.loads(
        build_context_json(
            instance_id="i1", history=[started], input_text='"{\\"a\\": 1}"', parent_instance_id=None
        )
    )
    assert body["input"] == '{"a": 1}'
    assert body["upperSchemaVersion"] == 1
    assert body["upperSchemaVersionNew"] == 2
    assert body["longRunningTimerIntervalDuration"] == "3.00:00:00"
    assert body["maximumShortTimerDuration"] == "6.00:00:00"
    assert body["parentInstanceId"] is None
    assert body["isReplaying"] is False
    event = body["history"][0]
    assert event["EventType"] == 0
    assert event["Version"] == ""
    assert event["Timestamp"] == "2026-01-01T00:00:00.0000000Z"
    assert event["OrchestrationInstance"] == {"InstanceId": "i1", "ExecutionId": "e1"}


def test_the_sdk_sees_earlier_episodes_as_played_and_this_one_as_new() -> None:
    host = InMemoryHost(app)
    bodies: list[dict[str, Any]] = []
    invoke = host.invoke

    def recording_invoke(name: str, body: str) -> InvocationResult:
        bodies.append(json.loads(body))
        return invoke(name, body)

    host.invoke = recording_invoke  # type: ignore[method-assign]
    host.start("chain")
    host.run_until_idle()
    second = bodies[1]
    flags = [(e["EventType"], e["IsPlayed"]) for e in second["history"]]
    assert flags == [
        (EventType.OrchestratorStarted, False), (EventType.ExecutionStarted, True), (EventType.TaskScheduled, False),
        (EventType.OrchestratorCompleted, False), (EventType.OrchestratorStarted, False),
        (EventType.TaskCompleted, False),
    ]  # fmt: skip
    assert second["isReplaying"] is True
    assert bodies[0]["isReplaying"] is False
    assert [b["instanceId"] for b in bodies] == ["inst"] * 4
