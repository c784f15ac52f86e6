# The SDK's decorators are untyped.
# mypy: disable-error-code="untyped-decorator"
"""Host-side retries (DTFx RetryInterceptor), the id interleaving example of spec 2.5, and sub-orchestrations."""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import timedelta

import azure.durable_functions as df
import pytest

from devhost.engine import activity_completed, activity_failed
from devhost.model import EventType, RuntimeStatus

from ._host import InMemoryHost, timeline

app = df.DFApp()
calls: Counter[str] = Counter()
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


@app.activity_trigger(input_name="value")
def fails_twice(value: int) -> int:
    calls["fails_twice"] += 1
    if calls["fails_twice"] <= 2:
        raise ValueError(f"attempt {calls['fails_twice']} failed")
    return value + 100


@app.activity_trigger(input_name="value")
def always_fails(value: int) -> int:
    calls["always_fails"] += 1
    raise ValueError("nope")


@app.activity_trigger(input_name="value")
def triple(value: int) -> int:
    return value * 3


@app.orchestration_trigger(context_name="context")
def retry_until_ok(context: df.DurableOrchestrationContext):
    result = yield context.call_activity_with_retry("fails_twice", RETRY, 1)
    return result


@app.orchestration_trigger(context_name="context")
def retry_forever(context: df.DurableOrchestrationContext):
    result = yield context.call_activity_with_retry("always_fails", RETRY, 1)
    return result


@app.orchestration_trigger(context_name="context")
def interleave(context: df.DurableOrchestrationContext):
    plain = context.call_activity("triple", 1)
    retried = context.call_activity_with_retry("fails_twice", RETRY, 2)
    yield context.task_any([plain, retried])
    last = yield context.call_activity("triple", 3)
    return last


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    first = yield context.call_sub_orchestrator("child", 1)
    second = yield context.call_sub_orchestrator("child", 2, "fixed-child")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    value = yield context.call_activity("triple", context.get_input())
    return {"value": value, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def parent_with_retry(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator_with_retry("flaky_child", RETRY, 5)
    return result


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    # Deterministic per instance: the first attempt (child id "<parent execution>:0") always fails.
    if context.instance_id.endswith(":0"):
        raise RuntimeError("first attempt fails")
    value = yield context.call_activity("triple", context.get_input())
    return value


def test_activity_retry_fails_twice_then_succeeds() -> None:
    host = InMemoryHost(app)
    host.start("retry_until_ok")
    host.run_until_idle()

    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert stored.output == "101"
    assert timeline(stored.history) == [
        "OrchestratorStarted", "ExecutionStarted", "TaskScheduled#0:fails_twice", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskFailed->0", "TimerCreated#1", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->1", "TaskScheduled#2:fails_twice", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskFailed->2", "TimerCreated#3", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->3", "TaskScheduled#4:fails_twice", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted->4", "ExecutionCompleted#5:Completed", "OrchestratorCompleted",
    ]  # fmt: skip
    # Retry delay = first interval (backoff 1) from the time of the episode that saw the failure.
    assert stored.history[6].get("FireAt") == stored.history[4].timestamp + timedelta(seconds=1)
    assert calls["fails_twice"] == 3


def test_activity_retry_exhausted_adds_the_dummy_timer_then_fails() -> None:
    host = InMemoryHost(app)
    host.start("retry_forever")
    host.run_until_idle()

    stored = host.instances["inst"]
    assert calls["always_fails"] == 3
    assert timeline(stored.history) == [
        "OrchestratorStarted", "ExecutionStarted", "TaskScheduled#0:always_fails", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskFailed->0", "TimerCreated#1", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->1", "TaskScheduled#2:always_fails", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskFailed->2", "TimerCreated#3", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->3", "TaskScheduled#4:always_fails", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskFailed->4", "TimerCreated#5", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->5", "ExecutionCompleted#6:Failed", "OrchestratorCompleted",
    ]  # fmt: skip
    # The back-compat timer after the last attempt fires "now" (the failure episode's time).
    assert stored.history[22].get("FireAt") == stored.history[20].timestamp
    assert stored.status is RuntimeStatus.Failed
    assert stored.output is not None
    assert stored.output.startswith(
        "Orchestrator function 'retry_forever' failed: Activity function 'always_fails' failed:  ValueError: nope \n "
    )
    assert stored.outcomes[-1].failure == stored.output


def test_interleaving_of_retry_timer_and_new_call_matches_the_sdk() -> None:
    """Spec 2.5: TaskCompleted(0) + TaskFailed(1) in one episode under task_any -> new call gets 2, timer 3."""
    host = InMemoryHost(app)
    host.start("interleave")
    first = host.run_episode("inst")
    assert [(a.task_id, a.name) for a in first.activities] == [(0, "triple"), (1, "fails_twice")]

    host.pending_activities.clear()
    host.send("inst", activity_completed(0, "3"))
    host.send("inst", activity_failed(1, "fails_twice", "ValueError: attempt 1 failed"))
    calls["fails_twice"] = 1
    second = host.run_episode("inst")
    assert timeline(second.new_events) == [
        "OrchestratorStarted", "TaskCompleted->0", "TaskFailed->1", "TaskScheduled#2:triple", "TimerCreated#3",
        "OrchestratorCompleted",
    ]  # fmt: skip
    assert [(a.task_id, a.name, a.input_text) for a in second.activities] == [(2, "triple", "3")]
    assert [t.timer_id for t in second.timers] == [3]

    host.run_until_idle()
    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert stored.output == "9"
    # The orchestrator returned after task 2, but the retry kept running: completion waits for it (rule 5).
    assert timeline(stored.history)[11:] == [
        "OrchestratorStarted", "TaskCompleted->2", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->3", "TaskScheduled#4:fails_twice", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskFailed->4", "TimerCreated#5", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->5", "TaskScheduled#6:fails_twice", "OrchestratorCompleted",
        "OrchestratorStarted", "TaskCompleted->6", "ExecutionCompleted#7:Completed", "OrchestratorCompleted",
    ]  # fmt: skip


def test_sub_orchestrations_with_generated_and_explicit_ids() -> None:
    host = InMemoryHost(app)
    host.start("parent")
    host.run_until_idle()

    stored = host.instances["inst"]
    execution_id = stored.execution_id
    assert stored.status is RuntimeStatus.Completed
    generated = f"{execution_id}:0"
    assert stored.output == '[{"value":3,"parent":"inst"},{"value":6,"parent":"inst"}]'
    assert timeline(stored.history) == [
        "OrchestratorStarted", "ExecutionStarted", "SubOrchestrationInstanceCreated#0:child", "OrchestratorCompleted",
        "OrchestratorStarted", "SubOrchestrationInstanceCompleted->0", "SubOrchestrationInstanceCreated#1:child",
        "OrchestratorCompleted",
        "OrchestratorStarted", "SubOrchestrationInstanceCompleted->1", "ExecutionCompleted#2:Completed",
        "OrchestratorCompleted",
    ]  # fmt: skip
    assert stored.history[2].get("InstanceId") == generated
    assert stored.history[6].get("InstanceId") == "fixed-child"
    assert stored.history[5].get("Result") == '{"value":3,"parent":"inst"}'

    child_started = host.instances[generated].history[1]
    assert child_started.event_type is EventType.ExecutionStarted
    assert child_started.get("Input") == '"1"'
    assert child_started.get("ParentInstance") == {
        "Name": "parent",
        "Version": "",
        "OrchestrationInstance": {"InstanceId": "inst", "ExecutionId": execution_id},
        "TaskScheduleId": 0,
    }
    assert host.instances["fixed-child"].status is RuntimeStatus.Completed


def test_sub_orchestration_retry_starts_a_new_child_per_attempt() -> None:
    host = InMemoryHost(app)
    host.start("parent_with_retry")
    host.run_until_idle()

    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Completed
    assert stored.output == "15"
    assert timeline(stored.history) == [
        "OrchestratorStarted", "ExecutionStarted", "SubOrchestrationInstanceCreated#0:flaky_child",
        "OrchestratorCompleted",
        "OrchestratorStarted", "SubOrchestrationInstanceFailed->0", "TimerCreated#1", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired->1", "SubOrchestrationInstanceCreated#2:flaky_child",
        "OrchestratorCompleted",
        "OrchestratorStarted", "SubOrchestrationInstanceCompleted->2", "ExecutionCompleted#3:Completed",
        "OrchestratorCompleted",
    ]  # fmt: skip
    first_child = host.instances[f"{stored.execution_id}:0"]
    assert first_child.status is RuntimeStatus.Failed
    assert first_child.output == "Orchestrator function 'flaky_child' failed: first attempt fails"
    failed = stored.history[5]
    assert failed.get("Reason") == first_child.output
    assert host.instances[f"{stored.execution_id}:2"].status is RuntimeStatus.Completed


TWO_ATTEMPTS = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)


@app.activity_trigger(input_name="value")
def submit(value: int) -> str:
    return "submitted"


@app.orchestration_trigger(context_name="context")
def tools_then_submit(context: df.DurableOrchestrationContext):
    # The app's turn pattern: parallel retried tools, a failure suppressed, then more work.
    tasks = [context.call_activity_with_retry("always_fails", TWO_ATTEMPTS, n) for n in (1, 2)]
    with contextlib.suppress(Exception):
        yield context.task_all(tasks)
    result = yield context.call_activity("submit", 0)
    return result


def test_suppressed_task_all_failure_waits_for_all_children_like_dotnet() -> None:
    """Spec 2.5 rule 5 / open question 8: the SDK's task_all fails fast, .NET's WhenAll waits for every child.

    While tool 2's first attempt is still running, tool 1 exhausts its retries: the SDK moves on and gives
    ``submit`` the next id (5) at once; DTFx schedules nothing until tool 2 finishes, and tool 2's retry timer takes
    id 5 instead. devhost reproduces the real host (and warns): the SDK then reads that timer as submit's result.
    """
    host = InMemoryHost(app)
    host.start("tools_then_submit")
    host.run_episode("inst")
    tool_two = next(r for _, r in host.pending_activities if r.task_id == 1)
    host.pending_activities.remove(("inst", tool_two))
    host.run_until_idle()  # tool 1: fail, timer 2, attempt 3, fail, dummy timer 4, fired -> task_all failed in Python

    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Running
    assert timeline(stored.history)[-3:] == ["OrchestratorStarted", "TimerFired->4", "OrchestratorCompleted"]
    warnings = stored.outcomes[-1].warnings
    assert len(warnings) == 1
    assert "task_all" in warnings[0]

    host.pending_activities.append(("inst", tool_two))
    host.run_activity("inst", tool_two)
    outcome = host.run_episode("inst")
    assert timeline(outcome.new_events) == [
        "OrchestratorStarted", "TaskFailed->1", "TimerCreated#5", "OrchestratorCompleted",
    ]  # fmt: skip
    assert outcome.warnings[-1].startswith(
        "DTFx scheduled a timer task with sequence ID 5, but the Python SDK expects an activity task with "
        "sequence ID 5 and name 'submit'"
    )

    # The SDK resolves its "submit" (id 5 on its side) with TimerFired(5) and returns None; the real submit runs
    # later as task 8 and its result is ignored. This is the real host's behaviour, reproduced on purpose.
    host.run_until_idle()
    final = host.instances["inst"]
    assert final.status is RuntimeStatus.Completed
    assert final.output == "null"
    assert "TaskScheduled#8:submit" in timeline(final.history)


ONE_ATTEMPT = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=1)


@app.orchestration_trigger(context_name="context")
def race_with_retry(context: df.DurableOrchestrationContext):
    deadline = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    retried = context.call_activity_with_retry("always_fails", ONE_ATTEMPT, 1)
    ping = context.wait_for_external_event("Ping")
    yield context.task_any([ping, deadline, retried])
    if not deadline.is_completed:
        deadline.cancel()
    result = yield context.call_activity("submit", 0)
    return result


def test_cancelled_timer_replays_its_task_any_early_like_dotnet() -> None:
    """Second known divergence: DTFx replays with the final actions, where the deadline is already cancelled, so
    its task_any completes at once and ``submit`` takes id 2 before the retry's back-compat timer (3). The SDK saw
    the failure first and gave the timer 2 and ``submit`` 3. devhost reproduces the real host."""
    host = InMemoryHost(app)
    host.start("race_with_retry")
    host.run_episode("inst")
    host.pending_activities.clear()
    host.send("inst", activity_failed(1, "always_fails", "ValueError: nope"))
    host.raise_event("inst", "Ping", "now")
    outcome = host.run_episode("inst")
    assert timeline(outcome.new_events) == [
        "OrchestratorStarted", "TaskFailed->1", "EventRaised:Ping", "TaskScheduled#2:submit", "TimerCreated#3",
        "OrchestratorCompleted",
    ]  # fmt: skip
    assert outcome.warnings == [
        "DTFx scheduled an activity task with sequence ID 2 and name 'submit' (version ''), but the Python SDK "
        "expects a timer task with sequence ID 2: from here on the orchestrator receives results meant for other "
        "tasks. This is how the real Durable Functions host behaves too (fail-fast task_all or a cancelled timer "
        "racing a retry; spec 2.5)."
    ]
    host.run_until_idle()
    final = host.instances["inst"]
    assert final.status is RuntimeStatus.Completed
    assert final.output == "null"  # the SDK took TimerFired(3) as submit's result
