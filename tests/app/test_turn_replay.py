"""Orchestrator replay tests: synthetic histories fed through the Durable Functions SDK; assert the
actions the turn orchestration emits and its customStatus at each step."""

from __future__ import annotations

import json
from datetime import datetime

from orchestrations.turn_orchestration import turn_orchestration
from tests.app.replay import Replay

INPUT = {"conversation_id": "conv1", "turn": 1, "message_id": "m1", "deadline_seconds": 30.0,
         "poll_window_max_seconds": 8.0}


def step(status: str, run_id: str | None = "resp_1", **extra: object) -> dict[str, object]:
    return {"status": status, "run_id": run_id, "thread_id": None, "tool_calls": [], "error": None,
            "transient": False, "retry_after": None, "polls": 0, **extra}


def checkpoint_result(answer: str | None) -> dict[str, object]:
    return {"answer": answer, "record_written": True}


def test_happy_path_with_parallel_tools_in_call_order() -> None:
    r = Replay(turn_orchestration, INPUT)
    ep = r.run()
    assert ep.names() == ["create_run"] and ep.custom_status["phase"] == "creating_run"
    assert r.activity_input(ep) == {"conversation_id": "conv1", "turn": 1, "wait_seconds": 1.0}

    r.advance(1)
    r.complete(0, step("in_progress", polls=3))
    ep = r.run()
    assert ep.names() == ["watch_run"]
    assert ep.custom_status == {"phase": "polling", "conversationId": "conv1", "turn": 1, "pollCount": 3,
                                "runId": "resp_1", "runStatus": "in_progress"}
    assert r.activity_input(ep)["wait_seconds"] == 3.0  # exponential window

    calls = [{"number": 1, "name": "get_customer_info"}, {"number": 2, "name": "analyze_metrics"},
             {"number": 3, "name": "get_weather"}]
    r.advance(2)
    r.complete(1, step("requires_action", tool_calls=calls, polls=4))
    ep = r.run()
    assert ep.names() == ["run_tool", "run_tool", "run_tool"]
    assert [a["actionType"] for _, a in ep.new_actions] == [1, 1, 1]  # with retry options
    assert ep.new_actions[0][1]["retryOptions"] == {"firstRetryIntervalInMilliseconds": 1000,
                                                     "maxNumberOfAttempts": 3}
    assert [r.activity_input(ep, i)["number"] for i in range(3)] == [1, 2, 3]
    assert ep.custom_status["phase"] == "running_tools"
    assert ep.custom_status["tools"] == ["get_customer_info", "analyze_metrics", "get_weather"]

    # Tools finish out of order; nothing is submitted until all are done.
    r.complete(4, {"number": 3, "ok": True})
    r.complete(2, {"number": 1, "ok": True})
    assert r.run().new_actions == []
    r.complete(3, {"number": 2, "ok": False})
    ep = r.run()
    assert ep.names() == ["submit_outputs"] and ep.custom_status["phase"] == "submitting"
    assert r.activity_input(ep)["numbers"] == [1, 2, 3]

    r.complete(5, step("completed", run_id="resp_2", polls=2))
    ep = r.run()
    assert ep.names() == ["checkpoint"]
    ck = r.activity_input(ep)
    assert ck["status"] == "completed" and ck["polls"] == 9 and ck["instance_id"] == "turn-conv1-000001"

    r.complete(6, checkpoint_result("Here is the report."))
    ep = r.run()
    assert ep.done and ep.state["output"] == {"conversationId": "conv1", "turn": 1, "status": "completed",
                                              "answer": "Here is the report."}
    assert ep.custom_status["phase"] == "completed"
    # History budget: every event of this turn.
    assert len(r.history) <= 36


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
        fire_at = datetime.strptime(ep.new_actions[1][1]["fireAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
        delays.append((fire_at - r.now.replace(tzinfo=None)).total_seconds())
        r.advance(delays[-1])
        r.fire(task + 1)
        ep = r.run()
        assert ep.names() == ["create_run"]
        task += 2
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0]
    r.complete(task, step("in_progress"))
    assert r.run().names() == ["watch_run"]


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


def test_permanent_provider_error_checkpoints_then_fails() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.complete(0, step("error", run_id=None, error="responses.create: provider returned HTTP 400: bad model"))
    ep = r.run()
    assert ep.names() == ["checkpoint"]
    assert r.activity_input(ep)["status"] == "failed"
    r.complete(1, checkpoint_result(None))
    ep = r.run()
    assert r.error is not None and "HTTP 400: bad model" in r.error
    assert ep.custom_status["phase"] == "failed"


def test_deadline_cancels_the_run() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    for task in range(0, 4):
        r.advance(10)
        r.complete(task, step("in_progress"))
        ep = r.run()
        if ep.names() != ["watch_run"]:
            break
        # Never watch past the deadline.
        assert r.activity_input(ep)["wait_seconds"] <= max(0.0, 30 - 10 * (task + 1))
    assert ep.names() == ["cancel_run"] and ep.custom_status["phase"] == "cancelling"
    r.complete(task + 1, step("cancelled"))
    ep = r.run()
    assert ep.names() == ["checkpoint"] and r.activity_input(ep)["status"] == "deadline_exceeded"
    r.complete(task + 2, checkpoint_result(None))
    ep = r.run()
    assert r.error is not None and "deadline of 30s exceeded" in r.error


def test_a_tool_that_fails_after_retries_still_gets_its_outputs_submitted() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.complete(0, step("requires_action", tool_calls=[{"number": 1, "name": "set_lamp"}]))
    ep = r.run()
    assert ep.names() == ["run_tool"]
    # Three failed attempts with host-driven retry timers in between (ids follow the SDK's numbering).
    r.fail(1, "boom")
    r.host_retry(2, "run_tool")
    r.fail(3, "boom")
    r.host_retry(4, "run_tool")
    r.fail(5, "boom")
    r.host_final_retry_timer(6)
    ep = r.run()
    assert ep.names() == ["submit_outputs"]
    assert r.activity_input(ep)["numbers"] == [1]


def test_an_activity_that_keeps_failing_still_checkpoints_the_turn() -> None:
    r = Replay(turn_orchestration, INPUT)
    ep = r.run()
    assert ep.new_actions[0][1]["retryOptions"] == {"firstRetryIntervalInMilliseconds": 1000,
                                                     "maxNumberOfAttempts": 3}
    r.fail(0, "Activity function 'create_run' failed: LookupError: no message stored")
    r.host_retry(1, "create_run")
    r.fail(2, "Activity function 'create_run' failed: LookupError: no message stored")
    r.host_retry(3, "create_run")
    r.fail(4, "Activity function 'create_run' failed: LookupError: no message stored")
    r.host_final_retry_timer(5)
    ep = r.run()
    assert ep.names() == ["checkpoint"]
    ck = r.activity_input(ep)
    assert ck["status"] == "failed" and ck["error"].startswith("create_run failed: Activity function 'create_run'")
    r.complete(6, checkpoint_result(None))
    r.run()
    assert r.error is not None and "create_run failed" in r.error


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
