"""Replay tests of the controls a person has over a turn: approval of tool calls (granted, denied, timed out,
mixed with calls that need none) and cancel requests (queued, while creating, running tools, awaiting approval).
Synthetic histories go through the Durable Functions SDK as the host would feed them (tests/app/replay.py)."""

from __future__ import annotations

from typing import Any

from orchestrations.turn_orchestration import turn_orchestration
from tests.app.replay import Episode, Replay
from tests.app.test_turn_replay import INPUT, checkpoint_result, fire_delay, step

APPROVAL = {"tools": ["set_lamp"], "timeout_seconds": 600.0, "approvers": ["alice@contoso.com"]}
GATED = {**INPUT, "approval": APPROVAL}
CALLS = [{"number": 1, "name": "get_weather"}, {"number": 2, "name": "set_lamp"}]
CANCEL = {"by": "bob@contoso.com", "reason": "changed my mind", "requested_at": "2026-11-21T12:00:09+00:00"}


def approval(number: int, status: str, tool: str = "set_lamp", **extra: Any) -> dict[str, Any]:
    return {"number": number, "tool": tool, "status": status, "expires_at": "2026-11-21T12:10:01+00:00",
            "arguments_preview": '{"lamp": "kitchen", "state": true}', "decided_by": None, **extra}


def to_tool_round(r: Replay, calls: list[dict[str, Any]] = CALLS) -> Episode:
    """Create the run, which asks for tools at once; returns the first episode of the tool round."""
    r.run()
    r.advance(1)
    r.complete(0, step("requires_action", tool_calls=calls, reads=1))
    return r.run()


def to_approval_wait(r: Replay) -> Episode:
    ep = to_tool_round(r)
    assert ep.names() == ["request_approvals"]
    request = r.activity_input(ep)
    assert request["numbers"] == [2] and request["approvers"] == ["alice@contoso.com"]
    assert request["expires_at"] == "2026-11-21T12:10:01+00:00"  # the orchestration's clock + the timeout
    r.complete(r.task_id(ep, "request_approvals"), {"approvals": [approval(2, "pending")], "error": None})
    ep = r.run()
    # The approval wait and the free call start together: the weather call does not wait for a person.
    assert ep.names() == ["event:approval_2", "timer", "run_tool"]
    assert fire_delay(r, ep, 1) == 600.0 and r.activity_input(ep, 2)["number"] == 1
    status = ep.custom_status
    assert status["phase"] == "awaiting_approval" and status["approvers"] == ["alice@contoso.com"]
    assert status["pendingApprovals"] == [{"approvalId": "1.2", "tool": "set_lamp",
                                           "arguments": '{"lamp": "kitchen", "state": true}',
                                           "expiresAt": "2026-11-21T12:10:01+00:00"}]
    assert status["tools"] == ["get_weather"]
    return ep


def finish(r: Replay, ep: Episode, status: str = "completed") -> dict[str, Any]:
    r.complete(r.task_id(ep, "checkpoint"), checkpoint_result("done" if status == "completed" else None, status))
    done = r.run()
    assert done.done
    return dict(done.state["output"])


def test_an_approved_call_runs_once_approved_while_the_free_call_ran_meanwhile() -> None:
    r = Replay(turn_orchestration, GATED)
    wait = to_approval_wait(r)
    r.complete(r.task_id(wait, "run_tool"), {"number": 1, "ok": True})  # the free call finishes first
    ep = r.run()
    assert ep.names() == ["event:approval_2", "timer"]  # a fresh wait (the host's shim needs new tasks)
    assert fire_delay(r, ep, 1) == 600.0 and ep.custom_status["phase"] == "awaiting_approval"
    r.advance(30)
    r.raise_event("approval_2", {"decision": "approve"})
    ep = r.run()
    assert ep.names() == ["settle_approvals"]
    assert r.activity_input(ep) == {"conversation_id": "conv1", "turn": 1, "numbers": [2], "expire": False}
    r.complete(r.task_id(ep, "settle_approvals"),
               {"approvals": [approval(2, "approved", decided_by="alice@contoso.com")], "error": None})
    ep = r.run()
    assert ep.names() == ["run_tool"] and r.activity_input(ep)["number"] == 2
    assert ep.custom_status["phase"] == "running_tools" and ep.custom_status["tools"] == ["get_weather", "set_lamp"]
    r.complete(r.task_id(ep, "run_tool"), {"number": 2, "ok": True})
    ep = r.run()
    assert ep.names() == ["submit_outputs"] and r.activity_input(ep)["numbers"] == [1, 2]
    r.complete(r.task_id(ep, "submit_outputs"), step("completed", run_id="resp_2"))
    ep = r.run()
    assert ep.names() == ["checkpoint"] and r.activity_input(ep)["approvals"] is True
    assert finish(r, ep)["status"] == "completed"


def test_a_denied_call_never_runs_and_the_model_gets_its_output() -> None:
    r = Replay(turn_orchestration, GATED)
    wait = to_approval_wait(r)
    r.raise_event("approval_2", {"decision": "deny"})
    ep = r.run()
    assert ep.names() == ["settle_approvals"]
    r.complete(r.task_id(ep, "settle_approvals"),
               {"approvals": [approval(2, "denied", decided_by="alice@contoso.com")], "error": None})
    ep = r.run()
    assert ep.names() == []  # waits for the free call; the denied one is not run
    r.complete(r.task_id(wait, "run_tool"), {"number": 1, "ok": True})
    ep = r.run()
    assert ep.names() == ["submit_outputs"] and r.activity_input(ep)["numbers"] == [1, 2]


def test_a_decision_that_lands_while_settling_is_not_missed() -> None:
    calls = [{"number": 1, "name": "set_lamp"}, {"number": 2, "name": "set_lamp"}]
    r = Replay(turn_orchestration, GATED)
    ep = to_tool_round(r, calls)
    r.complete(r.task_id(ep, "request_approvals"),
               {"approvals": [approval(1, "pending"), approval(2, "pending")], "error": None})
    ep = r.run()
    assert ep.names() == ["event:approval_1", "event:approval_2", "timer"]
    r.raise_event("approval_1", {"decision": "approve"})
    ep = r.run()
    assert ep.names() == ["settle_approvals"] and r.activity_input(ep)["numbers"] == [1]
    r.raise_event("approval_2", {"decision": "deny"})  # reaches the older wait while call 1 is settled
    r.complete(r.task_id(ep, "settle_approvals"), {"approvals": [approval(1, "approved")], "error": None})
    ep = r.run()
    assert ep.names() == ["settle_approvals"] and r.activity_input(ep)["numbers"] == [2]
    r.complete(r.task_id(ep, "settle_approvals"), {"approvals": [approval(2, "denied")], "error": None})
    ep = r.run()
    assert ep.names() == ["run_tool"] and r.activity_input(ep)["number"] == 1


def test_an_approval_nobody_gives_expires_on_the_timer_and_the_wait_does_not_count_against_the_deadline() -> None:
    r = Replay(turn_orchestration, {**GATED, "deadline_seconds": 60.0})
    wait = to_approval_wait(r)
    r.complete(r.task_id(wait, "run_tool"), {"number": 1, "ok": True})
    ep = r.run()
    r.advance(600)
    r.fire(r.task_id(ep, "timer"))
    ep = r.run()
    assert ep.names() == ["settle_approvals"] and r.activity_input(ep)["expire"] is True
    r.complete(r.task_id(ep, "settle_approvals"), {"approvals": [approval(2, "expired")], "error": None})
    ep = r.run()
    # 601 s after the run was created, far past the 60 s deadline: the approval wait is not counted.
    assert ep.names() == ["submit_outputs"]
    r.complete(r.task_id(ep, "submit_outputs"), step("in_progress", run_id="resp_2"))
    ep = r.run()
    assert ep.names() == ["timer"] and ep.custom_status["phase"] == "waiting_for_run"


def test_cancel_while_awaiting_approval_cancels_the_run_and_records_who_cancelled() -> None:
    r = Replay(turn_orchestration, GATED)
    to_approval_wait(r)
    r.raise_event("cancel_turn", CANCEL)
    ep = r.run()
    assert ep.names() == ["cancel_run"] and ep.custom_status["phase"] == "cancelling"
    r.complete(r.task_id(ep, "cancel_run"), step("cancelled"))
    ep = r.run()
    ck = r.activity_input(ep)
    assert ep.names() == ["checkpoint"] and ck["status"] == "cancelled" and ck["skipped"] is False
    assert ck["cancel"] == CANCEL and ck["approvals"] is True
    assert ck["error"] == "cancelled by bob@contoso.com: changed my mind; run resp_1 cancelled at the provider"
    out = finish(r, ep, "cancelled")
    assert out["status"] == "cancelled" and out["answer"] is None


def test_cancel_while_tools_run_ends_the_turn_without_waiting_for_them() -> None:
    r = Replay(turn_orchestration, INPUT)
    ep = to_tool_round(r, [{"number": 1, "name": "get_weather"}])
    assert ep.names(cancel_waits=True) == ["run_tool", "event:cancel_turn"]
    r.raise_event("cancel_turn", CANCEL)
    ep = r.run()
    assert ep.names() == ["cancel_run"]
    r.complete(r.task_id(ep, "cancel_run"), step("cancelled"))
    ep = r.run()
    assert ep.names() == ["checkpoint"] and r.activity_input(ep)["status"] == "cancelled"
    assert finish(r, ep, "cancelled")["status"] == "cancelled"


def test_cancel_while_queued_gives_up_the_turns_place_without_creating_a_run() -> None:
    r = Replay(turn_orchestration, {**INPUT, "turn": 2})
    r.run()
    r.complete(0, step("not_ready", run_id=None))
    ep = r.run()
    assert ep.names() == ["event:turn_ready", "timer"]
    r.raise_event("cancel_turn", CANCEL)
    ep = r.run()
    ck = r.activity_input(ep)
    assert ep.names() == ["checkpoint"] and ck["status"] == "cancelled" and ck["skipped"] is True
    assert ck["error"] == "cancelled by bob@contoso.com: changed my mind"
    assert finish(r, ep, "cancelled")["status"] == "cancelled"


def test_cancel_while_the_run_is_being_created_cancels_the_run_it_created() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.raise_event("cancel_turn", {"by": None, "reason": None})
    assert r.run().new_actions == []  # the create step always finishes: it may have created a run
    r.complete(0, step("in_progress"))
    ep = r.run()
    assert ep.names() == ["cancel_run"]
    r.complete(r.task_id(ep, "cancel_run"), step("cancelled"))
    ep = r.run()
    ck = r.activity_input(ep)
    assert ck["status"] == "cancelled" and ck["skipped"] is False
    assert ck["error"].startswith("cancelled by a caller; run resp_1 cancelled")


def test_a_cancel_after_the_run_completed_changes_nothing() -> None:
    r = Replay(turn_orchestration, INPUT)
    r.run()
    r.complete(0, step("completed"))
    r.raise_event("cancel_turn", CANCEL)
    ep = r.run()
    assert ep.names() == ["checkpoint"] and r.activity_input(ep)["status"] == "completed"
