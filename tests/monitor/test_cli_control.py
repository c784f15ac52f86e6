"""A person's control through the `assistant` CLI against the real stack (devhost with keys enforced, set_lamp
under the approval policy, scripted devmodel): approving and denying in an interactive chat, the approvals /
approve / deny / cancel subcommands with their exit codes, and Ctrl-C offering to cancel a running turn. Each
outcome is checked through the app's API (the approval rows and the turn record)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.monitor.cli import CLI_USER, run, terminal
from tests.monitor.conftest import KeyedStack
from tests.monitor.terminal import plain

pytestmark = pytest.mark.slow

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def approvals(stack: KeyedStack, conversation_id: str) -> list[dict[str, Any]]:
    response = stack.get(f"/conversations/{conversation_id}/approvals", status="all")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["approvals"]
    return found


def call(record: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in record["toolCalls"] if c["name"] == name)
    return found


def test_chat_asks_about_each_waiting_call_and_posts_approve_and_deny(approval_stack: KeyedStack) -> None:
    with terminal(approval_stack, "chat") as term:
        conversation_id = term.expect(r"conversation (\w+) \(new\)").group(1)
        term.expect("you ›")
        first_prompt = term.mark()
        term.type("Turn the kitchen lamp on and tell me the weather")
        term.expect(r'approval needed: 1\.1 set_lamp \{"lamp": ?"kitchen", ?"state": ?true\} · expires')
        term.expect(r"approve, deny or skip.*\[a/d/s\]")
        mark = term.mark()
        term.type("a")
        term.expect("reason", after=mark)
        term.type("kitchen is fine")
        term.expect(f"1.1 approved by {CLI_USER}")
        term.expect(r"assistant › Done:")
        term.expect("you ›", after=first_prompt)
        mark = term.mark()
        term.type("Turn the living room lamp on and tell me the weather")
        term.expect(r"approval needed: 2\.1 set_lamp", after=mark)
        term.expect(r"\[a/d/s\]", after=mark)
        mark = term.mark()
        term.type("d")
        term.expect("reason", after=mark)
        term.type("nobody is home")
        term.expect(f"2.1 denied by {CLI_USER}")
        term.expect(r"assistant › Done:.*denied", after=mark)
        term.type("/quit")
        assert term.wait() == 0, term.output
    decided = approvals(approval_stack, conversation_id)
    assert [(a["approvalId"], a["status"], a["decidedBy"], a["reason"]) for a in decided] == [
        ("1.1", "approved", CLI_USER, "kitchen is fine"), ("2.1", "denied", CLI_USER, "nobody is home")]
    first, second = (approval_stack.turn_record(conversation_id, n) for n in (1, 2))
    assert first is not None and second is not None
    assert call(first, "set_lamp")["ok"] is True and call(first, "set_lamp")["approval"]["status"] == "approved"
    denied = call(second, "set_lamp")
    assert denied["ok"] is False and denied["approval"]["reason"] == "nobody is home"
    assert "nobody is home" in json.loads(denied["output"])["error"]
    assert call(second, "get_weather")["ok"] is True  # the call that needed no approval ran
    history = plain(run(approval_stack, "history", conversation_id).stdout)
    assert f"approved by {CLI_USER}" in history and f"denied by {CLI_USER}: nobody is home" in history


def test_approvals_approve_and_deny_subcommands_with_their_exit_codes(approval_stack: KeyedStack) -> None:
    conversation_id = approval_stack.new_conversation()
    status_url = approval_stack.start_turn(conversation_id, "Turn living room lamp and kitchen lamp on. Set both "
                                                            "lamps to half brightness.")

    def both_listed() -> subprocess.CompletedProcess[str] | None:
        listed = run(approval_stack, "approvals", conversation_id)
        return listed if listed.returncode == 0 and "1.2" in listed.stdout else None

    listed = eventually(both_listed, "two pending approvals in `assistant approvals`")
    out = plain(listed.stdout)
    assert "1.1" in out and "set_lamp" in out and "living room" in out and "pending" in out
    denied = run(approval_stack, "deny", conversation_id, "1.2", "--reason", "kitchen stays dark")
    assert denied.returncode == 0, denied.stderr
    assert f"1.2 set_lamp: denied by {CLI_USER}" in plain(denied.stdout)
    approved = run(approval_stack, "--json", "approve", conversation_id, "1.1", "--by", "night-shift")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] == "approved"
    closed = run(approval_stack, "approve", conversation_id, "1.2")  # already denied
    assert closed.returncode == 6 and "approval_closed" in plain(closed.stderr), closed.stderr
    unknown = run(approval_stack, "approve", conversation_id, "9.1")
    assert unknown.returncode == 5 and "unknown_approval" in plain(unknown.stderr)
    nowhere = run(approval_stack, "approvals", "no-such-conversation")
    assert nowhere.returncode == 5 and "does not exist" in plain(nowhere.stderr)
    bad_id = run(approval_stack, "deny", conversation_id, "first")
    assert bad_id.returncode == 2 and "not an approval id" in bad_id.stderr

    final, _ = approval_stack.stack.http.wait(status_url)
    assert final["output"]["status"] == "completed"
    listing = json.loads(run(approval_stack, "--json", "approvals", conversation_id, "--all").stdout)
    assert [(a["approvalId"], a["status"], a["decidedBy"]) for a in listing["approvals"]] == [
        ("1.1", "approved", "night-shift"), ("1.2", "denied", CLI_USER)]
    assert "no pending approvals" in run(approval_stack, "approvals", conversation_id).stdout
    record = approval_stack.turn_record(conversation_id, 1)
    assert record is not None
    switches = [c for c in record["toolCalls"] if c["name"] == "set_lamp"]
    assert [c["ok"] for c in switches] == [True, False]


def test_cancel_subcommand_waits_for_the_cancelled_turn(approval_stack: KeyedStack) -> None:
    conversation_id = approval_stack.new_conversation()
    approval_stack.start_turn(conversation_id, "Turn the living room lamp on and tell me the weather")
    eventually(lambda: approvals(approval_stack, conversation_id), "the turn to wait for approval")
    cancelled = run(approval_stack, "cancel", conversation_id, "1", "--reason", "wrong room", "--wait")
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"turn 1 cancelled: cancelled by {CLI_USER}: wrong room" in " ".join(plain(cancelled.stderr).split())
    record = approval_stack.turn_record(conversation_id, 1)
    assert record is not None and record["status"] == "cancelled"
    assert (record["cancelledBy"], record["cancelReason"]) == (CLI_USER, "wrong room")
    assert call(record, "set_lamp")["approval"]["status"] == "cancelled"
    again = run(approval_stack, "cancel", conversation_id, "1")
    assert again.returncode == 6 and "turn_finished" in plain(again.stderr)
    unknown = run(approval_stack, "cancel", conversation_id, "7")
    assert unknown.returncode == 5 and "unknown_turn" in plain(unknown.stderr)
    history = plain(run(approval_stack, "history", conversation_id).stdout)
    assert f"cancelled by {CLI_USER}: wrong room" in history


def test_ctrl_c_during_a_turn_offers_to_cancel_it(approval_stack: KeyedStack) -> None:
    with terminal(approval_stack, "chat", "-m", "Turn the kitchen lamp on and tell me the weather") as term:
        conversation_id = term.expect(r"conversation (\w+) \(new\)").group(1)
        term.expect(r"approval needed: 1\.1 set_lamp(?s:.*)\[a/d/s\]")
        mark = term.mark()
        term.type("s")  # skip: the turn keeps waiting for someone else
        term.expect(f"left pending: assistant approve\\|deny {conversation_id} 1.1", after=mark)
        term.expect("turn 1: ", after=mark)  # the spinner is back: it follows the turn again
        term.interrupt()
        term.expect(r"cancel turn 1\?.*\[y/n\]", after=mark)
        mark = term.mark()
        term.type("n")  # no: keep following it
        term.expect("turn 1: ", after=mark)
        mark = term.mark()
        term.interrupt()
        term.expect(r"cancel turn 1\?.*\[y/n\]", after=mark)
        mark = term.mark()
        term.type("y")
        term.expect("reason", after=mark)
        term.type("changed my mind")
        term.expect(f"turn 1 cancelled: cancelled by {CLI_USER}: changed my mind")
        assert term.wait() == 1, term.output
    record = eventually(lambda: approval_stack.turn_record(conversation_id, 1), "the turn record")
    assert record["status"] == "cancelled" and record["cancelReason"] == "changed my mind"
    assert record["cancelledBy"] == CLI_USER and call(record, "set_lamp")["approval"]["status"] == "cancelled"
