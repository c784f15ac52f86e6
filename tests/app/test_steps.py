"""The turn's steps run twice (a redelivered activity) against real Storage (Azurite) and an in-process FAKE
provider that counts calls: no provider step is repeated for an answer the app has already seen, tool calls act
once, and failures come back as values."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from durable_assistant import api, contracts, steps
from durable_assistant.config import Settings
from durable_assistant.providers import RunState, ToolCall
from durable_assistant.services import Services
from durable_assistant.store import BlobStepJournal
from tests.app.fake_provider import FakeProvider

LAMP_CALLS = [ToolCall("call_a", "set_lamp", json.dumps({"lamp": "kitchen", "state": True})),
              ToolCall("call_b", "get_weather", json.dumps({"location": "Tokyo"}))]


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider(tool_calls=list(LAMP_CALLS))


@pytest.fixture
def svc(app_env: dict[str, str], fake: FakeProvider) -> Iterator[Services]:
    services = Services(Settings.from_env(app_env), provider_factory=lambda: fake)
    services.ensure_storage()
    yield services


def new_turn(services: Services, content: str = "lamps please") -> tuple[str, int]:
    cid = api.create_conversation(services).body["conversationId"]
    accepted = api.accept_message(services, cid, json.dumps({"content": content}).encode())
    return cid, accepted.record.seq


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_redelivered_create_run_creates_nothing_new(svc: Services, fake: FakeProvider) -> None:
    cid, seq = new_turn(svc)
    inp = contracts.CreateRunInput(cid, seq, "turn-x", look_seconds=0)
    first = run(steps.create_run(svc, inp))
    again = run(steps.create_run(svc, inp))
    assert first.status == again.status == "queued" and first.run_id == again.run_id == "run_1"
    assert fake.calls["create"] == 1 and fake.calls["poll"] == 1  # the second time: one read, no create


def test_the_whole_turn_twice_over_calls_each_provider_step_once(svc: Services, fake: FakeProvider) -> None:
    cid, seq = new_turn(svc)
    created = run(steps.create_run(svc, contracts.CreateRunInput(cid, seq, "turn-x", look_seconds=0)))
    fake.finish(created.run_id)
    polls = [run(steps.poll_run(svc, contracts.PollRunInput(cid, seq, created.run_id))) for _ in range(2)]
    assert polls[0] == polls[1] and polls[0].status == "requires_action"
    assert [(c.number, c.name) for c in polls[0].tool_calls] == [(1, "set_lamp"), (2, "get_weather")]

    for call in polls[0].tool_calls:
        results = [steps.run_tool(svc, contracts.RunToolInput(cid, seq, call.number)) for _ in range(2)]
        assert results[0] == results[1] and results[0].ok and not results[0].retry
    submit = contracts.SubmitOutputsInput(cid, seq, created.run_id, None, [1, 2], "turn-x", look_seconds=0)
    submitted = [run(steps.submit_outputs(svc, submit)) for _ in range(2)]
    assert submitted[0].run_id == submitted[1].run_id == "run_2"
    assert fake.calls["submit"] == 1 and [o.call_id for o in fake.submitted["run_1"]] == ["call_a", "call_b"]

    fake.finish("run_2")
    done = run(steps.poll_run(svc, contracts.PollRunInput(cid, seq, "run_2")))
    cancel = contracts.CancelRunInput(cid, seq, "run_2")
    assert [run(steps.cancel_run(svc, cancel)).status for _ in range(2)] == ["completed", "completed"]
    ck = contracts.CheckpointInput(cid, seq, accepted_message_id(svc, cid, seq), "turn-x", status="completed",
                              reads=done.reads)
    records = [steps.checkpoint(svc, ck) for _ in range(2)]
    assert records[0].answer == records[1].answer == "answer of run_2"
    assert (records[0].record_written, records[1].record_written) == (True, False)
    assert fake.calls["create"] == 1 and fake.calls["submit"] == 1
    # The side-effect tool acted once (its op ledger row), whatever the redeliveries.
    ops = [r["RowKey"] for r in svc.storage.table("lamps").list_entities() if r["RowKey"].startswith("op|")]
    assert ops == [f"op|{cid}:{seq}:call_a"]


def accepted_message_id(services: Services, conversation_id: str, seq: int) -> str:
    record = services.conversations.message_for_turn(conversation_id, seq)
    assert record is not None
    return record.message_id


class CrashingJournal:
    """Wraps a real journal; its first ``record`` fails as if the worker died between the provider's answer
    and the journal write (the residual window)."""

    def __init__(self, inner: BlobStepJournal) -> None:
        self.inner, self.crashed = inner, False

    @property
    def key(self) -> str:
        return self.inner.key

    async def recall(self, key: str) -> str | None:
        return await self.inner.recall(key)

    async def record(self, key: str, value: str) -> str:
        if not self.crashed:
            self.crashed = True
            raise ConnectionError("worker died before the journal write")
        return await self.inner.record(key, value)


def test_the_residual_window_costs_one_extra_run_and_no_transcript_entry(svc: Services, fake: FakeProvider,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cid, seq = new_turn(svc)
    real = svc.turns.journal
    crashing = CrashingJournal(real(cid, seq, "create"))
    monkeypatch.setattr(svc.turns, "journal", lambda *a: crashing)
    inp = contracts.CreateRunInput(cid, seq, "turn-x", look_seconds=0)
    with pytest.raises(ConnectionError):
        run(steps.create_run(svc, inp))  # the activity wrapper turns this into a transient error value
    second = run(steps.create_run(svc, inp))
    assert fake.calls["create"] == 2 and second.run_id == "run_2"  # run_1 is an orphan at the provider
    assert run(steps.create_run(svc, inp)).run_id == "run_2" and fake.calls["create"] == 2
    assert svc.turns.run_doc(cid, seq)["providerIds"] == ["run_2"]  # the orphan never reaches the record


def test_a_webhook_for_an_orphan_lets_the_retried_step_adopt_it(svc: Services, fake: FakeProvider,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The residual window closed by the provider's webhook: the orphan carries its step's key (metadata.step),
    so the webhook route journals it for the step, and the step's retry adopts it instead of creating again."""
    cid, seq = new_turn(svc)
    crashing = CrashingJournal(svc.turns.journal(cid, seq, "create"))
    monkeypatch.setattr(svc.turns, "journal", lambda *a: crashing)
    inp = contracts.CreateRunInput(cid, seq, "turn-x", look_seconds=0)
    with pytest.raises(ConnectionError):
        run(steps.create_run(svc, inp))
    fake.finish("run_1")
    monkeypatch.undo()
    assert run(steps.adopt_orphan(svc, "run_1")) == "adopted"
    retried = run(steps.create_run(svc, inp))
    assert retried.run_id == "run_1" and retried.status == "requires_action" and fake.calls["create"] == 1
    assert run(steps.adopt_orphan(svc, "run_1")) == "adopted"  # a duplicate webhook changes nothing
    fake.runs["run_9"] = dataclasses.replace(fake.runs["run_1"], run_id="run_9")  # a second orphan, too late
    assert run(steps.adopt_orphan(svc, "run_9")) == "discarded" and fake.runs["run_9"].status == "cancelled"
    assert fake.calls["cancel"] == 1
    assert run(steps.adopt_orphan(svc, "run_404")) == "unknown"


def test_a_tool_that_raises_becomes_a_stored_error_output(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    cid, seq = new_turn(svc)
    svc.turns.record_run(cid, seq, RunState("requires_action", "run_9",
                                            tool_calls=[ToolCall("c1", "get_weather", '{"location": "Tokyo"}')]))
    attempts = []

    def broken(*args: object, **kwargs: object) -> None:
        attempts.append(1)
        raise ValueError("bug in the tool")

    monkeypatch.setattr(svc.tools, "run", broken)
    result = steps.run_tool(svc, contracts.RunToolInput(cid, seq, 1))
    assert (result.ok, result.retry) == (False, False) and len(attempts) == 1  # not transient: no retry
    _, doc = svc.turns.load_call(cid, seq, 1)
    assert json.loads(doc["output"]) == {"success": False, "error": "get_weather failed: ValueError: bug in the tool"}
    assert doc["error"] == "get_weather failed: ValueError: bug in the tool"


def test_a_checkpoint_that_cannot_write_its_record_still_releases_the_conversation(
        svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    cid, seq = new_turn(svc)
    api.accept_message(svc, cid, b'{"content": "next"}')

    def refuse(record: dict[str, Any]) -> bool:
        raise OSError("the blob service refused the write")

    monkeypatch.setattr(svc.turns, "write_record", refuse)
    ck = contracts.CheckpointInput(cid, seq, accepted_message_id(svc, cid, seq), "turn-x", status="completed")
    failed = steps.checkpoint(svc, ck)
    assert failed.error is not None and "refused the write" in failed.error
    assert svc.conversations.get(cid).completed_seq == 0  # nothing released yet: the orchestration retries
    minimal = steps.checkpoint(svc, dataclasses.replace(ck, status="failed", minimal=True, error=failed.error))
    assert minimal.error is None and minimal.status == "failed" and minimal.next_instance_id is not None
    assert svc.conversations.get(cid).completed_seq == 1
    body = api.get_conversation(svc, cid).body
    assert body["turns"] == [{"conversationId": cid, "turn": 1, "status": "failed", "answer": None,
                              "error": "the turn could not be checkpointed: OSError: the blob service refused "
                                       "the write", "toolCalls": [], "recorded": False}]


def test_approval_steps_store_a_clear_refusal_and_the_record_keeps_every_decision(svc: Services) -> None:
    cid, seq = new_turn(svc)
    svc.turns.record_run(cid, seq, RunState("requires_action", "run_7", tool_calls=list(LAMP_CALLS) + [
        ToolCall("call_c", "set_lamp", json.dumps({"lamp": "living room", "state": True})),
        ToolCall("call_d", "set_lamp", json.dumps({"lamp": "desk", "state": True}))]))
    request = contracts.RequestApprovalsInput(cid, seq, "turn-x", [1, 3, 4], "2099-01-01T00:00:00+00:00", ["alice"])
    opened = steps.request_approvals(svc, request)
    assert opened.error is None and [v.status for v in opened.approvals] == ["pending"] * 3
    assert opened.approvals[0].arguments_preview == '{"lamp": "kitchen", "state": true}'
    assert steps.request_approvals(svc, request) == opened  # a redelivered activity opens nothing new
    svc.approvals.decide(cid, seq, 1, "deny", "alice", "not now")
    svc.approvals.decide(cid, seq, 3, "approve", "alice", None)
    settled = steps.settle_approvals(svc, contracts.SettleApprovalsInput(cid, seq, [1, 3]))
    assert [(v.number, v.status, v.decided_by) for v in settled.approvals] == [(1, "denied", "alice"),
                                                                               (3, "approved", "alice")]
    _, denied = svc.turns.load_call(cid, seq, 1)
    refusal = json.loads(denied["output"])
    assert refusal["approved"] is False and refusal["status"] == "denied"
    assert refusal["error"].startswith("set_lamp was not run: denied by alice: not now")
    _, approved = svc.turns.load_call(cid, seq, 3)
    assert "output" not in approved  # runs as usual
    ck = contracts.CheckpointInput(cid, seq, accepted_message_id(svc, cid, seq), "turn-x", status="cancelled",
                                   cancel=contracts.CancelRequest("bob", "enough"), approvals=True)
    assert steps.checkpoint(svc, ck).error is None
    record = api.get_conversation(svc, cid).body["turns"][0]
    assert record["status"] == "cancelled" and (record["cancelledBy"], record["cancelReason"]) == ("bob", "enough")
    decisions = {c["callId"]: c.get("approval", {}).get("status") for c in record["toolCalls"]}
    # call_d was still pending when the turn ended: its request is closed as cancelled.
    assert decisions == {"call_a": "denied", "call_b": None, "call_c": "approved", "call_d": "cancelled"}
    assert svc.approvals.pending(cid) == []
