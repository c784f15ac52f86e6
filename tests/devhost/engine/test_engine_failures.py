# The SDK's decorators are untyped.
# mypy: disable-error-code="untyped-decorator"
"""Orchestrator failures, non-determinism, duplicate messages, unknown functions and unsupported actions."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.durable_functions as df
import pytest

from devhost.engine import (
    InvocationResult,
    activity_completed,
    activity_failed,
    execution_started,
    parse_invocation,
)
from devhost.model import EventType, RuntimeStatus

from ._host import InMemoryHost, timeline

app = df.DFApp()


@app.activity_trigger(input_name="value")
def echo(value: str) -> str:
    return value


@app.activity_trigger(input_name="value")
def explode(value: str) -> str:
    raise KeyError(value)


@app.orchestration_trigger(context_name="context")
def boom(context: df.DurableOrchestrationContext):
    yield context.call_activity("echo", "x")
    raise ValueError("kaboom")


@app.orchestration_trigger(context_name="context")
def steps(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("echo", "a")
    b = yield context.call_activity("echo", "b")
    return a + b


@app.orchestration_trigger(context_name="context")
def calls_unknown(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("does_not_exist", 1)
    return result


@app.orchestration_trigger(context_name="context")
def calls_unknown_child(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator("no_such_orchestrator", 1)
    return result


@app.orchestration_trigger(context_name="context")
def adopts_itself(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator("steps", None, context.instance_id.upper())
    return result


@app.orchestration_trigger(context_name="context")
def calls_http(context: df.DurableOrchestrationContext):
    response = yield context.call_http("GET", "https://example.invalid/")
    return response.status_code


@app.orchestration_trigger(context_name="context")
def signals_entity(context: df.DurableOrchestrationContext):
    context.signal_entity(df.EntityId("Counter", "k"), "add", 1)
    yield context.call_activity("echo", "after")
    return "done"


@app.orchestration_trigger(context_name="context")
def fan_out_with_failure(context: df.DurableOrchestrationContext):
    results = yield context.task_all(
        [context.call_activity("explode", "a"), context.call_activity("echo", "b")]
    )
    return results


def steps_reordered(context: df.DurableOrchestrationContext):
    b = yield context.create_timer(context.current_utc_datetime + timedelta(seconds=5))
    return b


def steps_renamed(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("explode", "a")
    return a


def test_orchestrator_exception_fails_with_the_extension_message() -> None:
    host = InMemoryHost(app)
    host.start("boom")
    host.run_until_idle()
    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Failed
    assert stored.output == "Orchestrator function 'boom' failed: kaboom"
    assert timeline(stored.history)[-4:] == [
        "OrchestratorStarted", "TaskCompleted->0", "ExecutionCompleted#1:Failed", "OrchestratorCompleted",
    ]  # fmt: skip
    assert stored.history[-2].get("Result") == stored.output


def test_task_all_failure_surfaces_only_after_every_child_finished() -> None:
    host = InMemoryHost(app)
    host.start("fan_out_with_failure")
    host.run_episode("inst")
    host.send("inst", activity_failed(0, "explode", "KeyError: 'a'"))
    waiting = host.run_episode("inst")
    # The SDK already raised (fail-fast) but .NET's WhenAll still waits for task 1 (spec 2.5 rule 5).
    assert waiting.runtime_status is RuntimeStatus.Running
    host.send("inst", activity_completed(1, '"b"'))
    done = host.run_episode("inst")
    assert done.runtime_status is RuntimeStatus.Failed
    assert done.output == (
        "Orchestrator function 'fan_out_with_failure' failed: Activity function 'explode' failed:  KeyError: 'a' \n "
        "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException: Result: Failure\nException: KeyError: 'a'"
    )


def test_changed_activity_name_is_non_deterministic() -> None:
    host = InMemoryHost(app)
    host.start("steps")
    host.run_episode("inst")
    host.run_activity("inst", host.pending_activities[0][1])
    host.orchestrators["steps"] = df.Orchestrator.create(steps_renamed)
    outcome = host.run_episode("inst")
    assert outcome.runtime_status is RuntimeStatus.Failed
    assert outcome.nondeterminism == outcome.output == outcome.failure
    assert outcome.output == (
        "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task "
        "with sequence ID 0 and name 'echo' (version ''), but the current replay execution scheduled an activity "
        "task with sequence ID 0 and name 'explode' (version '') with that sequence ID instead. Was a change made "
        "to the orchestrator code after this instance had already started running?"
    )
    assert timeline(outcome.new_events) == [
        "OrchestratorStarted", "TaskCompleted->0", "ExecutionCompleted#1:Failed", "OrchestratorCompleted",
    ]  # fmt: skip
    assert outcome.activities == []


def test_activity_replaced_by_timer_is_non_deterministic() -> None:
    host = InMemoryHost(app)
    host.start("steps")
    host.run_episode("inst")
    host.orchestrators["steps"] = df.Orchestrator.create(steps_reordered)
    host.run_activity("inst", host.pending_activities[0][1])
    outcome = host.run_episode("inst")
    assert outcome.nondeterminism is not None
    assert "scheduled an activity task with sequence ID 0 and name 'echo'" in outcome.nondeterminism
    assert "the current replay execution scheduled a timer task with sequence ID 0" in outcome.nondeterminism


def test_duplicate_messages_are_dropped() -> None:
    host = InMemoryHost(app)
    host.start("steps")
    host.run_episode("inst")
    result = activity_completed(0, '"a"')
    result.message_id = "m-1"
    copy = activity_completed(0, '"a"')
    copy.message_id = "m-1"
    retry_of_same_result = activity_completed(0, '"a"')
    retry_of_same_result.message_id = "m-2"
    stray = activity_completed(7, '"?"')
    second_start = execution_started(name="steps", instance_id="inst", execution_id="e2", input_text=None)
    for event in (result, copy, retry_of_same_result, stray, second_start):
        host.send("inst", event)
    outcome = host.run_episode("inst")
    assert [d.reason for d in outcome.dropped_messages] == [
        "message m-1 is already in history",
        "duplicate completion for task 0",
        "no task 7 was scheduled by this execution",
        "duplicate ExecutionStarted",
    ]
    assert timeline(outcome.new_events) == [
        "OrchestratorStarted", "TaskCompleted->0", "TaskScheduled#1:echo", "OrchestratorCompleted",
    ]  # fmt: skip
    assert outcome.new_events[1].message_id == "m-1"

    host.send("inst", result)  # re-delivered after a crash: already recorded
    again = host.run_episode("inst")
    assert not again.changed
    assert again.first_new_index == len(again.history)
    assert again.dropped_messages[0].reason == "message m-1 is already in history"


def test_messages_for_an_instance_that_never_started_are_dropped() -> None:
    host = InMemoryHost(app)
    host.start("steps")
    host.inbox["inst"] = []
    host.raise_event("inst", "Go", 1)
    outcome = host.run_episode("inst")
    assert not outcome.changed
    assert outcome.runtime_status is RuntimeStatus.Pending
    assert outcome.dropped_messages[0].reason == "instance has not started"


def test_unknown_activity_fails_with_the_extension_message() -> None:
    host = InMemoryHost(app)
    host.start("calls_unknown")
    outcome = host.run_episode("inst")
    assert outcome.runtime_status is RuntimeStatus.Failed
    assert outcome.output == (
        "Orchestrator function 'calls_unknown' failed: The function 'does_not_exist' doesn't exist, is disabled, or "
        "is not an activity function. Additional info: The following are the known activity functions: "
        "'echo', 'explode'."
    )
    assert timeline(outcome.history) == [
        "OrchestratorStarted", "ExecutionStarted", "ExecutionCompleted#0:Failed", "OrchestratorCompleted",
    ]  # fmt: skip


def test_unknown_sub_orchestrator_fails() -> None:
    host = InMemoryHost(app)
    host.start("calls_unknown_child")
    outcome = host.run_episode("inst")
    assert outcome.output is not None
    assert (
        "The function 'no_such_orchestrator' doesn't exist, is disabled, or is not an orchestrator function"
        in (outcome.output)
    )


def test_sub_orchestration_cannot_reuse_the_parent_instance_id() -> None:
    host = InMemoryHost(app)
    host.start("adopts_itself")
    outcome = host.run_episode("inst")
    assert outcome.output == (
        "Orchestrator function 'adopts_itself' failed: Invalid sub-orchestration instance ID 'INST': The instance "
        "ID of a sub-orchestration must be different than the instance ID of a parent orchestration."
    )
    assert outcome.sub_orchestrations == []


def test_call_http_is_reported_as_unsupported() -> None:
    host = InMemoryHost(app)
    host.start("calls_http")
    outcome = host.run_episode("inst")
    assert outcome.runtime_status is RuntimeStatus.Failed
    assert outcome.output is not None
    assert outcome.output.startswith(
        "Orchestrator function 'calls_http' failed: CallHttp is not supported by devhost (CallHttp GET "
        "https://example.invalid/)"
    )


def test_entities_are_reported_as_unsupported() -> None:
    host = InMemoryHost(app)
    host.start("signals_entity")
    outcome = host.run_episode("inst")
    assert outcome.runtime_status is RuntimeStatus.Failed
    assert outcome.output is not None
    assert (
        "Durable entities are not supported by devhost (SignalEntity @counter@k operation 'add')"
        in outcome.output
    )


def test_a_reply_that_is_not_orchestrator_state_fails_clearly() -> None:
    host = InMemoryHost(app)
    host.start("steps")
    host.invoke = lambda name, body: parse_invocation(json.dumps({"isDone": "yes", "actions": []}))  # type: ignore[method-assign]
    outcome = host.run_episode("inst")
    assert outcome.runtime_status is RuntimeStatus.Failed
    assert outcome.output == (
        "Orchestrator function 'steps' failed: devhost could not replay the orchestrator's reply: invalid "
        "OrchestratorState at isDone: 'yes' is not of type 'boolean'"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"isDone": false, "actions": [[]]}', InvocationResult({"isDone": False, "actions": [[]]}, None)),
        (
            Exception('boom\n\n$OutOfProcData$:{"isDone": false, "actions": [[]], "error": "boom"}'),
            InvocationResult({"isDone": False, "actions": [[]], "error": "boom"}, "boom"),
        ),
        (RuntimeError("plain failure"), InvocationResult(None, "plain failure")),
        ("not json", None),
        (42, InvocationResult(None, "the orchestrator returned int, not OrchestratorState JSON")),
    ],
)
def test_parse_invocation(value: object, expected: InvocationResult | None) -> None:
    result = parse_invocation(value)
    if expected is None:
        assert result.state is None
        assert result.error is not None
        assert result.error.startswith("the orchestrator return value is not OrchestratorState JSON")
    else:
        assert result == expected


def test_failure_inside_child_is_delivered_to_the_parent_as_sub_orchestration_failed() -> None:
    host = InMemoryHost(app)
    parent = {"Name": "p", "Version": "", "OrchestrationInstance": {"InstanceId": "p1", "ExecutionId": "pe"}}
    host.start("boom", instance_id="kid")
    host.inbox["kid"][0].fields["ParentInstance"] = {**parent, "TaskScheduleId": 4}
    host.instances["p1"] = host.instances[
        "kid"
    ]  # the notification lands in p1's inbox; no episode is run there
    host.run_episode("kid")
    host.run_activity("kid", host.pending_activities[0][1])
    outcome = host.run_episode("kid")
    notification = outcome.parent_notification
    assert notification is not None
    assert (notification.instance_id, notification.execution_id) == ("p1", "pe")
    note = notification.event
    assert note.event_type is EventType.SubOrchestrationInstanceFailed
    assert note.get("TaskScheduledId") == 4
    assert note.get("Reason") == "Orchestrator function 'boom' failed: kaboom"
    assert note.get("Details") == "Message: kaboom, StackTrace: "


@app.orchestration_trigger(context_name="context")
def busy(context: df.DurableOrchestrationContext):
    results = yield context.task_all([context.call_activity("echo", str(n)) for n in range(5)])
    return results


def test_max_orchestration_actions_fails_the_orchestration() -> None:
    host = InMemoryHost(app)
    host.max_orchestration_actions = 3
    host.start("busy")
    outcome = host.run_episode("inst")
    # The first three calls were made; completion waits for them, then the failure surfaces.
    assert [a.task_id for a in outcome.activities] == [0, 1, 2]
    assert outcome.runtime_status is RuntimeStatus.Running
    host.run_until_idle()
    stored = host.instances["inst"]
    assert stored.status is RuntimeStatus.Failed
    assert stored.output == (
        "Orchestrator function 'busy' failed: Maximum amount of orchestration actions (3) has been reached. "
        "This value can be configured in host.json file as MaxOrchestrationActions."
    )


def test_a_duplicate_after_completion_still_describes_the_finished_instance() -> None:
    """A crash between the History and Instances writes re-delivers the last message; the no-change outcome is
    what repairs the Instances row, so it must carry the output and completion time of the stored history."""
    host = InMemoryHost(app)
    host.start("steps")
    host.run_episode("inst")
    (_, first), = host.pending_activities
    host.run_activity("inst", first)
    host.run_episode("inst")
    (_, second), = host.pending_activities
    last = activity_completed(second.task_id, '"b"')
    last.message_id = "last"
    host.pending_activities.clear()
    host.send("inst", last)
    finished = host.run_episode("inst")
    assert finished.runtime_status is RuntimeStatus.Completed
    assert finished.output == '"ab"'

    host.send("inst", last)  # the same message again, as after a crash before it was deleted
    again = host.run_episode("inst")
    assert not again.changed
    assert again.runtime_status is RuntimeStatus.Completed
    assert again.output == finished.output
    assert again.completed_time == finished.completed_time
