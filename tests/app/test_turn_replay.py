"""Orchestrator replay tests: synthetic histories fed through the Durable Functions SDK; assert the
actions the turn orchestration emits and its customStatus at each step."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from orchestrations.turn_orchestration import MAX_READS_PER_EXECUTION, turn_orchestration
from tests.app.replay import Episode, Replay

INPUT: dict[str, Any] = {"conversation_id": "conv1", "turn": 1, "message_id": "m1", "deadline_seconds": 60.0,
                         "schedule": {"first": 1.0, "growth": 2.0, "cap": 15.0}, "webhooks": False,
                         "webhook_schedule": {"first": 30.0, "growth": 2.0, "cap": 60.0}, "first_look_seconds": 1.0}
HOOKED = {**INPUT, "webhooks": True}


def step(status: str, run_id: str | None = "resp_1", **extra: object) -> dict[str, object]:
    return {"status": status, "run_id": run_id, "thread_id": None, "tool_calls": [], "error": None,
            "transient": False, "retry_after": None, "reads": 0, **extra}


def checkpoint_result(answer: str | None, status: str = "completed") -> dict[str, object]:
    return {"answer": answer, "record_written": True, "status": status, "error": None}


def fire_delay(r: Replay, ep: Episode, index: int = 0) -> float:
    fire_at = datetime.strptime(ep.new_actions[index][1]["fireAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return (fire_at - r.now.replace(tzinfo=None)).total_seconds()


def test_happy_path_waits_on_timers_and_runs_tools_in_parallel_in_call_order() -> None:
    r = Replay(turn_orchestration, INPUT)
    ep = r.run()
    assert ep.names(cancel_waits=True) == ["create_run", "event:cancel_turn"]
    assert ep.custom_status["phase"] == "creating_run"
    assert r.activity_input(ep) == {"conversation_id": "conv1", "turn": 1, "instance_id": "turn-conv1-000001",
                                    "look_seconds": 1.0}
    assert ep.new_actions[0][1]["actionType"] == 0  # no retry options anywhere: retries are our own timers

    r.advance(1)
    r.complete(0, step("in_progress", reads=3, created_at="2026-11-21T12:00:00.250000+00:00"))
    ep = r.run()
    assert ep.names() == ["timer"] and fire_delay(r, ep) == 1.0
    assert ep.custom_status == {"phase": "waiting_for_run", "conversationId": "conv1", "turn": 1, "reads": 3,
                                "runId": "resp_1", "runStatus": "in_progress", "nextReadSeconds": 1.0,
                                "webhooks": False}
    r.advance(1)
    r.fire(1)
    ep = r.run()
    assert ep.names() == ["poll_run"]
    assert r.activity_input(ep) == {"conversation_id": "conv1", "turn": 1, "run_id": "resp_1", "thread_id": None}

    calls = [{"number": 1, "name": "get_customer_info"}, {"number": 2, "name": "analyze_metrics"},
             {"number": 3, "name": "get_weather"}]
    r.complete(2, step("requires_action", tool_calls=calls, reads=1))
    ep = r.run()
    assert ep.names() == ["run_tool", "run_tool", "run_tool"]
    assert [a["actionType"] for _, a in ep.new_actions] == [0, 0, 0, 6]  # three activities, the cancel wait
    assert [r.activity_input(ep, i)["number"] for i in range(3)] == [1, 2, 3]
    assert ep.custom_status["phase"] == "running_tools"
    assert ep.custom_status["tools"] == ["get_customer_info", "analyze_metrics", "get_weather"]

    # Tools finish out of order (one with an error output); nothing is submitted until all are done.
    r.complete(5, {"number": 3, "ok": True})
    r.complete(3, {"number": 1, "ok": False, "error": "boom"})
    assert r.run().new_actions == []
    r.complete(4, {"number": 2, "ok": True})
    ep = r.run()
    assert ep.names() == ["submit_outputs"] and ep.custom_status["phase"] == "submitting"
    submit = r.activity_input(ep)
    assert submit["numbers"] == [1, 2, 3] and submit["look_seconds"] == 1.0

    r.complete(6, step("in_progress", run_id="resp_2", reads=2))
    ep = r.run()
    assert ep.names() == ["timer"] and fire_delay(r, ep) == 1.0  # the schedule starts again for the new run
    r.advance(1)
    r.fire(7)
    ep = r.run()
    r.complete(8, step("completed", run_id="resp_2", reads=1))
    ep = r.run()
    assert ep.names() == ["checkpoint"]
    ck = r.activity_input(ep)
    assert ck["status"] == "completed" and ck["reads"] == 7 and ck["instance_id"] == "turn-conv1-000001"
    assert ck["run_created_at"] == "2026-11-21T12:00:00.250000+00:00"  # the step's clock, not the schedule
    assert ck["minimal"] is False

    r.complete(9, checkpoint_result("Here is the report."))
    ep = r.run()
    assert ep.done and ep.state["output"] == {"conversationId": "conv1", "turn": 1, "status": "completed",
                                              "answer": "Here is the report."}
    assert ep.custom_status["phase"] == "completed"
    assert len(r.history) <= 50


def test_reads_follow_the_capped_backoff_schedule() -> None:
    r = Replay(turn_orchestration, {**INPUT, "deadline_seconds": 300.0})
    r.run()
    r.complete(0, step("in_progress"))
    delays, task = [], 1
    for _ in range(7):
        ep = r.run()
        assert ep.names() == ["timer"]
        delays.append(fire_delay(r, ep))
        r.advance(delays[-1])
        r.fire(task)
        assert r.run().names() == ["poll_run"]
        r.complete(task + 1, step("in_progress", reads=1))
        task += 2
    assert delays == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]


def test_a_webhook_event_ends_the_wait_at_once() -> None:
    r = Replay(turn_orchestration, HOOKED)
    r.run()
    r.complete(0, step("in_progress"))
    ep = r.run()
    assert ep.names() == ["event:run_ended", "timer"] and fire_delay(r, ep, 1) == 30.0
    assert ep.custom_status["webhooks"] is True
    r.advance(4.2)
    r.raise_event("run_ended", {"runId": "resp_1", "type": "response.completed"})
    ep = r.run()
    assert ep.names() == ["poll_run"]
    timers = [a for a in ep.state["actions"][0][1]["compoundActions"] if a["actionType"] == 5]
    assert timers[0]["isCanceled"] is True
    r.complete(2, step("completed", reads=1))
    assert r.run().names() == ["checkpoint"]


def test_a_lost_webhook_is_covered_by_the_timer() -> None:
    r = Replay(turn_orchestration, HOOKED)
    r.run()
    r.complete(0, step("in_progress"))
    r.run()
    r.advance(30)
    r.fire(1)
    ep = r.run()
    assert ep.names() == ["poll_run"]
    r.complete(2, step("in_progress", reads=1))
    ep = r.run()
    assert ep.names() == ["event:run_ended", "timer"] and fire_delay(r, ep, 1) == 30.0  # the run's deadline


def test_waits_for_earlier_turns_on_durable_timers_with_backoff() -> None:
    r = Replay(turn_orchestration, {**INPUT, "turn": 3})
    ep = r.run()
    assert ep.names() == ["create_run"] and ep.custom_status["phase"] == "waiting_for_turn"
    delays = []
    task = 0
    for _ in range(6):
        r.complete(task, step("not_ready", run_id=None))
        ep = r.run()
        assert ep.names() == ["event:turn_ready", "timer"] and ep.custom_status["phase"] == "waiting_for_turn"
        delays.append(fire_delay(r, ep, 1))
        r.advance(delays[-1])
        r.fire(task + 1)
        ep = r.run()
        assert ep.names() == ["create_run"]
        task += 2
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0]
    r.complete(task, step("in_progress"))
    assert r.run().names() == ["timer"]


def test_the_previous_turns_event_wakes_a_waiting_turn_at_once() -> None:
    r = Replay(turn_orchestration, {**INPUT, "turn": 2})
    r.run()
    r.complete(0, step("not_ready", run_id=None))
    ep = r.run()
    assert ep.names() == ["event:turn_ready", "timer"]
    r.advance(0.2)
    r.raise_event("turn_ready", {"after": 1})
    ep = r.run()
    assert ep.names() == ["create_run"]
    timers = [a for a in ep.state["actions"][0][1]["compoundActions"] if a["actionType"] == 5]
    assert timers[0]["isCanceled"] is True  # the fallback timer no longer keeps the instance open


def test_a_long_queue_continues_as_new_to_bound_history() -> None:
    r = Replay(turn_orchestration, {**INPUT, "turn": 2})
    r.run()
    task = 0
    for _ in range(20):
        r.complete(task, step("not_ready", run_id=None))
        r.run()
        r.fire(task + 1)
        r.run()
        task += 2
    r.complete(task, step("not_ready", run_id=None))
    ep = r.run()
    assert ep.done and ep.new_actions[-1][1]["actionType"] == 4  # ContinueAsNew with the same input
    assert json.loads(ep.new_actions[-1][1]["input"])["turn"] == 2


def test_a_very_long_run_continues_as_new_where_it_stood() -> None:
    r = Replay(turn_orchestration, {**INPUT, "deadline_seconds": 3600.0})
    r.run()
    r.advance(1)
    r.complete(0, step("in_progress", reads=2))
    task = 1
    while True:
        ep = r.run()
        if ep.done:
            break
        r.advance(fire_delay(r, ep))
        r.fire(task)
        r.run()
        r.complete(task + 1, step("in_progress", reads=1))
        task += 2
    resumed = json.loads(ep.new_actions[-1][1]["input"])
    assert resumed["resume"]["run_id"] == "resp_1" and resumed["resume"]["reads"] == MAX_READS_PER_EXECUTION
    assert resumed["resume"]["run_created_at"] == "2026-11-21T12:00:00+00:00"
    assert len(r.history) < 4 * 2 * MAX_READS_PER_EXECUTION + 20

    again = Replay(turn_orchestration, resumed, now=r.now)
    ep = again.run()
    assert ep.names() == ["timer"] and fire_delay(again, ep) == 15.0  # the schedule goes on, no new run
    assert ep.custom_status["reads"] == MAX_READS_PER_EXECUTION
    again.fire(0)
    assert again.run().names() == ["poll_run"]


def test_provider_throttling_waits_retry_after_on_a_timer_then_retries() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.complete(0, step("error", run_id=None, transient=True, retry_after=7.0, error="HTTP 429"))
    ep = r.run()
    assert ep.names() == ["timer"]
    assert ep.custom_status["phase"] == "retrying" and ep.custom_status["retryAfter"] == 7.0
    assert ep.new_actions[0][1]["fireAt"] == "2026-11-21T12:00:07.000000Z"
    r.advance(7)
    r.fire(1)
    assert r.run().names() == ["create_run"]


def test_an_activity_the_host_fails_is_retried_on_a_timer() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.fail(0, "Activity function 'create_run' failed: worker crashed")
    ep = r.run()
    assert ep.names() == ["timer"] and fire_delay(r, ep) == 1.0
    assert "worker crashed" in ep.custom_status["error"]
    r.advance(1)
    r.fire(1)
    assert r.run().names() == ["create_run"]


def test_permanent_provider_error_checkpoints_then_fails() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.complete(0, step("error", run_id=None, error="responses.create: provider returned HTTP 400: bad model"))
    ep = r.run()
    assert ep.names() == ["checkpoint"]
    assert r.activity_input(ep)["status"] == "failed"
    r.complete(1, checkpoint_result(None, "failed"))
    ep = r.run()
    assert r.error is not None and "HTTP 400: bad model" in r.error
    assert ep.custom_status["phase"] == "failed"


def test_a_read_that_fails_for_good_cancels_the_run_then_fails() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.complete(0, step("in_progress"))
    r.run()
    r.fire(1)
    r.run()
    r.complete(2, step("error", error="responses.retrieve: provider returned HTTP 404: gone"))
    ep = r.run()
    assert ep.names() == ["cancel_run"]
    r.complete(3, step("error", error="HTTP 404"))
    ep = r.run()
    assert ep.names() == ["checkpoint"] and "HTTP 404: gone" in r.activity_input(ep)["error"]


def test_deadline_cancels_the_run_and_no_timer_outlives_it() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.complete(0, step("in_progress"))
    task = 1
    while True:
        ep = r.run()
        if ep.names() != ["timer"]:
            break
        delay = fire_delay(r, ep)
        elapsed = (r.now.replace(tzinfo=None) - datetime(2026, 11, 21, 12)).total_seconds()
        assert elapsed + delay <= 60.0
        r.advance(delay)
        r.fire(task)
        r.run()
        r.complete(task + 1, step("in_progress", reads=1))
        task += 2
    assert ep.names() == ["cancel_run"] and ep.custom_status["phase"] == "cancelling"
    r.complete(task, step("cancelled"))
    ep = r.run()
    assert ep.names() == ["checkpoint"] and r.activity_input(ep)["status"] == "deadline_exceeded"
    r.complete(task + 1, checkpoint_result(None, "deadline_exceeded"))
    r.run()
    assert r.error is not None and "deadline of 60s exceeded" in r.error and "cancelled at the provider" in r.error


def test_a_tool_whose_outcome_was_not_stored_runs_again_after_a_timer() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    calls = [{"number": 1, "name": "set_lamp"}, {"number": 2, "name": "get_weather"}]
    r.complete(0, step("requires_action", tool_calls=calls))
    ep = r.run()
    r.complete(1, {"number": 1, "ok": False, "retry": True, "error": "storing the output failed"})
    r.complete(2, {"number": 2, "ok": True})
    ep = r.run()
    assert ep.names() == ["timer"] and ep.custom_status["phase"] == "retrying_tools"
    r.fire(3)
    ep = r.run()
    assert ep.names() == ["run_tool"] and r.activity_input(ep)["number"] == 1
    r.complete(4, {"number": 1, "ok": True})
    ep = r.run()
    assert ep.names() == ["submit_outputs"] and r.activity_input(ep)["numbers"] == [1, 2]


def test_a_checkpoint_that_keeps_failing_falls_back_to_a_minimal_record() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.complete(0, step("completed"))
    task = 1
    for attempt in range(4):
        ep = r.run()
        assert ep.names() == ["checkpoint"] and r.activity_input(ep)["minimal"] is False
        r.complete(task, {"answer": None, "record_written": False, "error": "HttpResponseError: 500"})
        task += 1
        if attempt < 3:
            ep = r.run()
            assert ep.names() == ["timer"]
            r.fire(task)
            task += 1
    ep = r.run()
    minimal = r.activity_input(ep)
    assert ep.names() == ["checkpoint"] and minimal["minimal"] is True and minimal["status"] == "failed"
    assert "HttpResponseError: 500" in minimal["error"]
    r.complete(task, checkpoint_result(None, "failed"))
    ep = r.run()
    assert r.error is not None and "recorded as failed" in r.error


def test_custom_status_stays_far_below_the_hosts_16_kb_limit() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    huge = "x" * 100_000
    r.complete(0, step("error", run_id=None, transient=True, retry_after=1.0, error=huge))
    ep = r.run()
    assert ep.custom_status["phase"] == "retrying"
    assert len(json.dumps(ep.custom_status)) * 2 < 16 * 1024 // 4
    r.fire(1)
    r.run()
    calls = [{"number": n, "name": "tool_" + "n" * 55 + str(n)} for n in range(1, 501)]
    r.complete(2, step("requires_action", tool_calls=calls))
    ep = r.run()
    assert ep.custom_status["phase"] == "running_tools" and len(ep.names()) == 500
    assert len(ep.custom_status["tools"]) == 21 and ep.custom_status["tools"][-1] == "... 480 more"
    assert len(json.dumps(ep.custom_status)) * 2 < 16 * 1024 // 2


def test_a_turn_that_already_ran_reports_its_record_and_runs_nothing() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.complete(0, step("already_done", run_id=None))
    ep = r.run()
    assert ep.names() == ["checkpoint"] and r.activity_input(ep)["status"] == "already_done"
    r.complete(1, {"answer": "Sunny.", "record_written": False, "status": "completed"})
    ep = r.run()
    assert ep.done and ep.state["output"] == {"conversationId": "conv1", "turn": 1, "status": "completed",
                                              "answer": "Sunny."}
    assert ep.custom_status["replayed"] is True
