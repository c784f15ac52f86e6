# The SDK's decorators are untyped.
# mypy: disable-error-code="untyped-decorator"
"""External events, timer races, continue-as-new, terminate, suspend/resume and custom status."""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df
import pytest

from devhost.engine import execution_resumed, execution_started, execution_suspended, execution_terminated
from devhost.model import EventType, RuntimeStatus

from ._host import InMemoryHost, timeline

# The SDK warns when an event arrives before its task exists (it buffers it): expected in these scenarios.
pytestmark = pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")

app = df.DFApp()


@app.activity_trigger(input_name="value")
def add_one(value: int) -> int:
    return value + 1


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return f"approved by {event.result}"
    return "timed out"


@app.orchestration_trigger(context_name="context")
def work_then_wait(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("add_one", 1)
    signal = yield context.wait_for_external_event("Go")
    return [first, signal]


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input()
    if n < 10:
        yield context.call_activity("add_one", n)
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def collector(context: df.DurableOrchestrationContext):
    items = context.get_input()
    item = yield context.wait_for_external_event("item")
    items = [*items, item]
    if len(items) < 3:
        context.continue_as_new(items)
        return None
    return items


@app.orchestration_trigger(context_name="context")
def two_steps(context: df.DurableOrchestrationContext):
    context.set_custom_status({"step": 1})
    a = yield context.call_activity("add_one", 1)
    context.set_custom_status({"step": 2, "note": "fertig ü"})
    b = yield context.call_activity("add_one", a)
    return b


@app.orchestration_trigger(context_name="context")
def chatty_status(context: df.DurableOrchestrationContext):
    context.set_custom_status("x" * 9000)
    yield context.call_activity("add_one", 1)
    return "never"


@app.orchestration_trigger(context_name="context")
def long_sleep(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(days=10))
    return "woke"


def test_external_event_beats_the_timer_and_the_cancelled_timer_does_not_delay_completion() -> None:
    host = InMemoryHost(app)
    host.start("approval")
    first = host.run_episode("inst")
    assert timeline(first.new_events) == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "TimerCreated#0",
        "OrchestratorCompleted",
    ]
    host.raise_event("inst", "Approval", "alice")
    second = host.run_episode("inst")
    assert second.runtime_status is RuntimeStatus.Completed
    assert second.output == '"approved by alice"'
    assert timeline(second.new_events) == [
        "OrchestratorStarted", "EventRaised:Approval", "ExecutionCompleted#1:Completed", "OrchestratorCompleted",
    ]  # fmt: skip
    # The timer message still fires later; a terminal instance drops it.
    host.fire_timer(host.pending_timers[0])
    late = host.run_episode("inst")
    assert not late.changed
    assert [d.reason for d in late.dropped_messages] == ["instance is Completed"]
    assert late.runtime_status is RuntimeStatus.Completed


def test_timer_beats_the_external_event() -> None:
    host = InMemoryHost(app)
    host.start("approval")
    host.run_episode("inst")
    host.fire_timer(host.pending_timers[0])
    outcome = host.run_episode("inst")
    assert outcome.output == '"timed out"'
    assert timeline(outcome.new_events) == [
        "OrchestratorStarted", "TimerFired->0", "ExecutionCompleted#1:Completed", "OrchestratorCompleted",
    ]  # fmt: skip
    host.raise_event("inst", "Approval", "too late")
    assert host.run_episode("inst").dropped_messages[0].reason == "instance is Completed"


def test_event_raised_before_the_wait_is_buffered() -> None:
    host = InMemoryHost(app)
    host.start("work_then_wait")
    host.run_episode("inst")
    host.raise_event("inst", "Go", "early")
    waiting = host.run_episode("inst")
    assert waiting.runtime_status is RuntimeStatus.Running
    assert timeline(waiting.new_events) == ["OrchestratorStarted", "EventRaised:Go", "OrchestratorCompleted"]
    host.run_until_idle()
    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert stored.output == '[2,"early"]'


def test_continue_as_new_counting_to_ten() -> None:
    host = InMemoryHost(app)
    host.start("counter", 0)
    host.run_until_idle()

    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert stored.output == "10"
    # Only the last execution's history remains, restarting at row 0.
    assert timeline(stored.history) == [
        "OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted", "ExecutionCompleted#0:Completed",
        "OrchestratorCompleted",
    ]  # fmt: skip
    started = stored.history[1]
    assert started.get("Input") == '"10"'
    assert started.get("Generation") == 10
    assert started.get("OrchestrationInstance") == {"InstanceId": "inst", "ExecutionId": stored.execution_id}
    continued = [o for o in stored.outcomes if o.continued_as_new]
    assert len(continued) == 10
    assert len({o.execution_id for o in stored.outcomes}) == 11
    middle = continued[3]
    assert middle.first_new_index == 0
    assert middle.runtime_status is RuntimeStatus.Running
    assert timeline(middle.history) == [
        "OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted", "TaskScheduled#0:add_one",
        "OrchestratorCompleted",
    ]  # fmt: skip
    assert middle.activities == [(0, "add_one", "4")]
    assert middle.input_text == '"4"'


def test_events_after_continue_as_new_are_carried_over() -> None:
    host = InMemoryHost(app)
    host.start("collector", [])
    host.run_episode("inst")
    for item in ("a", "b", "c"):
        host.raise_event("inst", "item", item)
    outcome = host.run_episode("inst")

    # "a" ends execution 1; "b" and "c" are carried into execution 2; "b" ends it; "c" moves to execution 3.
    assert outcome.continued_as_new == 2
    assert outcome.invocations == 3
    assert outcome.runtime_status is RuntimeStatus.Completed
    assert outcome.output == '["a","b","c"]'
    assert timeline(outcome.history) == [
        "OrchestratorStarted", "ExecutionStarted", "EventRaised:item", "OrchestratorCompleted",
        "ExecutionCompleted#0:Completed", "OrchestratorCompleted",
    ]  # fmt: skip
    assert outcome.history[2].get("Input") == '"c"'


def test_terminate_needs_no_invocation_and_drops_late_results() -> None:
    host = InMemoryHost(app)
    host.start("work_then_wait")
    host.run_episode("inst")
    invocations = host.invocations
    host.send("inst", execution_terminated("stop please"))
    outcome = host.run_episode("inst")
    assert host.invocations == invocations
    assert outcome.runtime_status is RuntimeStatus.Terminated
    assert outcome.output == "stop please"
    assert outcome.completed_time == host.now
    assert timeline(outcome.new_events) == [
        "OrchestratorStarted", "ExecutionTerminated", "ExecutionCompleted#1:Terminated", "OrchestratorCompleted",
    ]  # fmt: skip
    assert outcome.history[-2].get("Result") == "stop please"

    host.run_activity("inst", host.pending_activities[0][1])
    late = host.run_episode("inst")
    assert not late.changed
    assert late.dropped_messages[0].event.event_type is EventType.TaskCompleted
    assert late.dropped_messages[0].reason == "instance is Terminated"


def test_suspend_records_events_without_running_and_resume_continues() -> None:
    host = InMemoryHost(app)
    host.start("two_steps")
    host.run_episode("inst")
    host.send("inst", execution_suspended("maintenance"))
    suspended = host.run_episode("inst")
    assert suspended.runtime_status is RuntimeStatus.Suspended
    assert suspended.output == "maintenance"
    assert timeline(suspended.new_events) == [
        "OrchestratorStarted",
        "ExecutionSuspended",
        "OrchestratorCompleted",
    ]

    invocations = host.invocations
    host.run_activity("inst", host.pending_activities[0][1])
    still = host.run_episode("inst")
    assert host.invocations == invocations
    assert still.runtime_status is RuntimeStatus.Suspended
    assert still.activities == []
    assert timeline(still.new_events) == ["OrchestratorStarted", "TaskCompleted->0", "OrchestratorCompleted"]

    host.send("inst", execution_resumed("done"))
    resumed = host.run_episode("inst")
    assert resumed.runtime_status is RuntimeStatus.Running
    assert resumed.output == "done"
    assert timeline(resumed.new_events) == [
        "OrchestratorStarted", "ExecutionResumed", "TaskScheduled#1:add_one", "OrchestratorCompleted",
    ]  # fmt: skip
    host.run_until_idle()
    assert host.instances["inst"].output == "3"


def test_custom_status_is_compact_json_per_episode() -> None:
    host = InMemoryHost(app)
    host.start("two_steps")
    first = host.run_episode("inst")
    assert first.custom_status == '{"step":1}'
    host.run_until_idle()
    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert [o.custom_status for o in stored.outcomes] == [
        '{"step":1}', '{"step":2,"note":"fertig ü"}', '{"step":2,"note":"fertig ü"}',
    ]  # fmt: skip


def test_custom_status_over_16_kb_fails_the_orchestration() -> None:
    host = InMemoryHost(app)
    host.start("chatty_status")
    outcome = host.run_episode("inst")
    assert outcome.runtime_status is RuntimeStatus.Failed
    assert outcome.output is not None
    assert outcome.output.startswith(
        "Orchestrator function 'chatty_status' failed: The UTF-16 size of the JSON-serialized custom status payload "
        "must not exceed 16 KB."
    )
    assert outcome.custom_status == "null"


def test_long_timer_is_split_like_azure_storage() -> None:
    host = InMemoryHost(app)
    host.start("long_sleep")
    first = host.run_episode("inst")
    started_at = first.history[0].timestamp
    assert first.timers == [(0, started_at + timedelta(days=3))]
    host.run_until_idle()
    stored = host.instances["inst"]
    assert stored.output == '"woke"'
    created = [e for e in stored.history if e.event_type is EventType.TimerCreated]
    assert [e.event_id for e in created] == [0, 1, 2]
    assert created[-1].get("FireAt") == started_at + timedelta(days=10)


@app.orchestration_trigger(context_name="context")
def waits_for_child(context: df.DurableOrchestrationContext):
    try:
        result = yield context.call_sub_orchestrator("work_then_wait", None, "the-child")
    except Exception as exc:
        return f"child failed: {exc}"
    return result


def test_terminated_child_reports_failure_to_its_parent() -> None:
    host = InMemoryHost(app)
    host.start("waits_for_child")
    host.run_episode("inst")
    host.run_episode("the-child")
    host.send("the-child", execution_terminated("enough"))
    child = host.run_episode("the-child")
    assert child.runtime_status is RuntimeStatus.Terminated
    assert child.parent_notification is not None
    assert child.parent_notification.event.event_type is EventType.SubOrchestrationInstanceFailed
    assert child.parent_notification.event.get("Reason") == "enough"
    parent = host.run_episode("inst")
    assert parent.runtime_status is RuntimeStatus.Completed
    assert parent.output == '"child failed: enough \\n None"'


def test_an_event_that_overtakes_execution_started_is_recorded_after_it() -> None:
    host = InMemoryHost(app)
    host.start("work_then_wait")
    host.raise_event("inst", "Go", "early")
    host.inbox["inst"].reverse()  # EventRaised arrives first
    first = host.run_episode("inst")
    assert timeline(first.history) == [
        "OrchestratorStarted", "ExecutionStarted", "EventRaised:Go", "TaskScheduled#0:add_one", "OrchestratorCompleted",
    ]  # fmt: skip
    host.run_until_idle()
    assert host.instances["inst"].output == '[2,"early"]'


@app.orchestration_trigger(context_name="context")
def ping_rounds(context: df.DurableOrchestrationContext):
    for round_number in range(2):
        timer = context.create_timer(context.current_utc_datetime + timedelta(minutes=1))
        ping = context.wait_for_external_event("Ping")
        winner = yield context.task_any([ping, timer])
        if winner == ping:  # the timer is deliberately left running
            done = yield context.call_activity("add_one", round_number)
            return f"ping in round {round_number}, then {done}"
    return "no ping"


def test_an_event_goes_to_the_newest_waiter_like_the_extension() -> None:
    """The extension keeps waiters on a stack (a WhenAny loop abandons old ones); the SDK pops the newest too."""
    host = InMemoryHost(app)
    host.start("ping_rounds")
    host.run_episode("inst")
    host.fire_timer(host.pending_timers[0])  # round 0 times out; its waiter stays registered
    host.run_episode("inst")
    host.raise_event("inst", "Ping", None)
    pinged = host.run_episode("inst")
    # The newest waiter (round 1) wins, so the follow-up activity is scheduled now, not when timer 1 fires.
    assert pinged.activities == [(2, "add_one", "1")]
    host.run_activity("inst", host.pending_activities[0][1])
    outcome = host.run_episode("inst")
    assert outcome.runtime_status is RuntimeStatus.Running  # timer 1 is still open
    host.run_until_idle()
    assert host.instances["inst"].output == '"ping in round 1, then 2"'


def test_starting_a_finished_instance_again_begins_a_new_execution() -> None:
    host = InMemoryHost(app)
    host.start("two_steps")
    host.run_until_idle()
    first = host.instances["inst"]
    old_execution = first.execution_id
    stale = execution_terminated("for the old execution")
    restart = execution_started(
        name="two_steps", instance_id="inst", execution_id="f" * 32, input_text=None, generation=1
    )
    host.inbox["inst"] = [stale, restart]
    outcome = host.run_episode("inst")
    assert outcome.execution_id == "f" * 32 != old_execution
    assert outcome.first_new_index == 0
    assert outcome.generation == 1
    assert [d.reason for d in outcome.dropped_messages] == ["instance is Completed"]
    assert timeline(outcome.history) == [
        "OrchestratorStarted", "ExecutionStarted", "TaskScheduled#0:add_one", "OrchestratorCompleted",
    ]  # fmt: skip
    host.run_until_idle()
    assert host.instances["inst"].status is RuntimeStatus.Completed

    duplicate = execution_started(
        name="two_steps", instance_id="inst", execution_id="f" * 32, input_text=None
    )
    host.send("inst", duplicate)
    assert host.run_episode("inst").dropped_messages[0].reason == "duplicate ExecutionStarted"
