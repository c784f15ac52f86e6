"""Conversation index and turn records on real Azurite."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from durable_assistant.providers import RunState, ToolCall
from durable_assistant.services import Services
from durable_assistant.store import ApprovalClosedError, UnknownConversationError
from durable_assistant.tools import ToolResult


def test_messages_get_consecutive_sequence_numbers_under_concurrency(services: Services) -> None:
    conv = services.conversations.create()
    with ThreadPoolExecutor(8) as pool:
        records = list(pool.map(lambda i: services.conversations.accept_message(conv.conversation_id, f"m{i}",
                                                                               f"hello {i}"), range(8)))
    assert sorted(r.seq for r in records) == list(range(1, 9))
    assert all(r.created for r in records)
    again = services.conversations.accept_message(conv.conversation_id, "m3", "ignored")
    assert again.created is False and again.seq == records[3].seq and again.content == "hello 3"
    assert services.conversations.message_content_for_turn(conv.conversation_id, records[5].seq) == "hello 5"


def test_turns_are_released_in_order(services: Services) -> None:
    cid = services.conversations.create().conversation_id
    for i in range(3):
        services.conversations.accept_message(cid, f"m{i}", "x")
    assert services.conversations.is_turn_ready(cid, 1)
    assert not services.conversations.is_turn_ready(cid, 2)
    services.conversations.complete_turn(cid, 1, "resp_1")
    services.conversations.complete_turn(cid, 1, "resp_other")  # replayed checkpoint: no change
    conv = services.conversations.get(cid)
    assert conv.completed_seq == 1 and conv.provider_ref == "resp_1"
    assert services.conversations.is_turn_ready(cid, 2) and not services.conversations.is_turn_ready(cid, 3)


def test_a_skipped_turn_is_stepped_over_whichever_finishes_last(services: Services) -> None:
    conversations = services.conversations
    cid = conversations.create().conversation_id
    for i in range(5):
        conversations.accept_message(cid, f"m{i}", "x")
    # Turn 2 is cancelled while turn 1 runs: it gives up its place but cannot release anything yet.
    release = conversations.complete_turn(cid, 2, None, skipped=True)
    assert release.completed_seq == 0 and release.next_turn_after(2) is None
    # Turn 1 finishes: the conversation moves over turn 2, and turn 3 is the one to wake.
    release = conversations.complete_turn(cid, 1, "resp_1")
    assert release.completed_seq == 2 and release.next_turn_after(1) == 3
    assert conversations.get(cid).provider_ref == "resp_1"
    # Turn 3 is cancelled while it is the head: it releases at once; turn 4 goes next.
    release = conversations.complete_turn(cid, 3, None, skipped=True)
    assert release.completed_seq == 3 and release.next_turn_after(3) == 4
    assert conversations.get(cid).provider_ref == "resp_1"  # a skipped turn leaves the provider handle alone
    # Turn 4 finishes: nothing after it was skipped, so nothing more moves.
    assert conversations.complete_turn(cid, 4, "resp_4").completed_seq == 4


def test_concurrent_skip_and_completion_never_strand_the_conversation(services: Services) -> None:
    conversations = services.conversations
    for _ in range(8):
        cid = conversations.create().conversation_id
        for i in range(4):
            conversations.accept_message(cid, f"m{i}", "x")
        with ThreadPoolExecutor(3) as pool:
            done = [pool.submit(conversations.complete_turn, cid, 1, "r"),
                    pool.submit(conversations.complete_turn, cid, 2, None, skipped=True),
                    pool.submit(conversations.complete_turn, cid, 3, None, skipped=True)]
            [f.result() for f in done]
        assert conversations.get(cid).completed_seq == 3


def test_approval_requests_keep_the_first_expiry_and_the_first_decision(services: Services) -> None:
    approvals = services.approvals
    cid = services.conversations.create().conversation_id
    calls = [(1, "call_a", "set_lamp", '{"lamp": "kitchen", "state": true}'), (2, "call_b", "set_lamp", "{}")]
    first = approvals.request(cid, 1, "inst", calls, "2099-01-01T00:00:00+00:00", ("alice",))
    again = approvals.request(cid, 1, "inst", calls, "2099-12-31T00:00:00+00:00", ("alice",))
    assert [r.expires_at for r in again] == [r.expires_at for r in first] == ["2099-01-01T00:00:00+00:00"] * 2
    assert [r.approval_id for r in approvals.pending(cid)] == ["1.1", "1.2"]
    record, changed = approvals.decide(cid, 1, 1, "approve", "alice", "ok")
    assert changed and record.status == "approved" and record.decided_by == "alice"
    assert approvals.decide(cid, 1, 1, "approve", "alice", None)[1] is False  # the same decision again
    with pytest.raises(ApprovalClosedError):
        approvals.decide(cid, 1, 1, "deny", "bob", None)
    # The timer fired: call 2 (still pending) expires; call 1 keeps its decision.
    settled = approvals.settle(cid, 1, [1, 2], close_as="expired")
    assert [r.status for r in settled] == ["approved", "expired"]
    with pytest.raises(ApprovalClosedError):
        approvals.decide(cid, 1, 2, "approve", "alice", None)
    assert approvals.pending(cid) == []


def test_a_request_past_its_expiry_cannot_be_decided_even_before_the_timer_closes_it(services: Services) -> None:
    approvals = services.approvals
    cid = services.conversations.create().conversation_id
    approvals.request(cid, 3, "inst", [(1, "c", "set_lamp", "{}")], "2000-01-01T00:00:00+00:00", ())
    assert approvals.pending(cid) == []
    with pytest.raises(ApprovalClosedError):
        approvals.decide(cid, 3, 1, "approve", "alice", None)
    closed = approvals.close_turn(cid, 3)
    assert [r.status for r in closed] == ["cancelled"]


def test_unknown_conversation(services: Services) -> None:
    with pytest.raises(UnknownConversationError):
        services.conversations.get("nope")
    with pytest.raises(UnknownConversationError):
        services.conversations.accept_message("nope", "m", "x")
    with pytest.raises(UnknownConversationError):
        services.conversations.get("bad/id")


def test_tool_call_payloads_and_turn_record(services: Services) -> None:
    turns = services.turns
    state = RunState(status="requires_action", run_id="resp_1", provider_ids=["resp_1"],
                     tool_calls=[ToolCall("call_a", "get_weather", '{"location": "Tokyo"}'),
                                 ToolCall("call_b", "set_lamp", '{}')], usage={"total_tokens": 10})
    assert turns.record_run("c1", 1, state) == [1, 2]
    assert turns.record_run("c1", 1, state) == [1, 2]  # a retried activity sees the same numbers
    call, _ = turns.load_call("c1", 1, 2)
    assert call == ToolCall("call_b", "set_lamp", "{}")
    turns.save_call_result("c1", 1, 1, ToolResult(output='{"success": true}', ok=True, duration_ms=3))
    done = RunState(status="completed", run_id="resp_2", final_text="Sunny.", conversation_ref="resp_2",
                    provider_ids=["resp_2"], usage={"total_tokens": 5})
    assert turns.record_run("c1", 1, done) == []
    doc = turns.run_doc("c1", 1)
    assert doc["providerIds"] == ["resp_1", "resp_2"] and doc["usage"] == {"total_tokens": 15}
    # threads/runs: the same run asks for tools twice; the second round gets new numbers.
    again = RunState(status="requires_action", run_id="resp_2", tool_calls=[ToolCall("call_c", "get_weather", "{}")])
    assert turns.record_run("c1", 1, again) == [3]
    assert turns.load_call("c1", 1, 3)[1]["round"] == 2
    calls = turns.calls("c1", 1)
    assert [c["callId"] for c in calls] == ["call_a", "call_b", "call_c"] and calls[0]["output"] == '{"success": true}'
    assert turns.write_record({"conversationId": "c1", "turn": 1, "answer": "Sunny."}) is True
    assert turns.write_record({"conversationId": "c1", "turn": 1, "answer": "changed"}) is False
    assert turns.transcript("c1") == [{"schemaVersion": 1, "conversationId": "c1", "turn": 1, "answer": "Sunny."}]
