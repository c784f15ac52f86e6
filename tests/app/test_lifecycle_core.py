"""Deleting conversations and the retention sweep, driven in process: the app's stores on a real Azurite, the
FAKE provider of tests/app/fake_provider.py and a FAKE of the durable client (the real one needs a running host;
tests/app/test_lifecycle.py covers it over HTTP). Each turn runs through the real steps, so what the deletion must
find (blobs, journals, runowners rows, lamp records) is what a real turn leaves."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from durable_assistant import api, contracts, lifecycle, steps
from durable_assistant.config import Settings
from durable_assistant.providers import ObjectsDeleted, ProviderObjects, TransientProviderError
from durable_assistant.services import Services
from durable_assistant.store import (
    CHAT_CONTAINER,
    CONVERSATIONS_TABLE,
    TRANSCRIPTS_CONTAINER,
    WORK_CONTAINER,
    ConversationDeletingError,
    instance_id_for,
)
from durable_assistant.tools import ToolContext, lamp_states
from tests.app.fake_provider import FakeProvider
from tests.app.test_steps import LAMP_CALLS


@dataclass
class FakeTurnInstances:
    """A FAKE durable client: instance statuses in a dict. ``obey`` decides whether a cancelled instance ends."""

    statuses: dict[str, str] = field(default_factory=dict)
    obey: bool = True
    cancelled: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)

    async def runtime_status(self, instance_id: str) -> str | None:
        return self.statuses.get(instance_id)

    async def cancel(self, instance_id: str, payload: dict[str, Any]) -> bool:
        assert payload == {"by": "delete", "reason": "conversation deleted"}
        if self.statuses.get(instance_id) not in lifecycle.ACTIVE_RUNTIME_STATUSES:
            return False
        self.cancelled.append(instance_id)
        if self.obey:
            self.statuses[instance_id] = "Completed"
        return True

    async def purge(self, instance_id: str) -> int:
        self.purged.append(instance_id)
        return 1 if self.statuses.pop(instance_id, None) is not None else 0


class UnreachableProvider(FakeProvider):
    """The FAKE provider, failing every delete as a 503 would."""

    async def delete_objects(self, objects: ProviderObjects) -> ObjectsDeleted:
        raise TransientProviderError("responses.delete: provider returned HTTP 503", 503, retry_after=2.0)


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider(tool_calls=list(LAMP_CALLS))


@pytest.fixture
def svc(app_env: dict[str, str], fake: FakeProvider) -> Iterator[Services]:
    # A webhook secret makes the steps claim their runs in the runowners table, as with webhooks on.
    env = {**app_env, "ASSISTANT_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(24)).decode()}
    services = Services(Settings.from_env(env), provider_factory=lambda: fake)
    services.ensure_storage()
    yield services


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def accept(services: Services, cid: str, content: str = "lamps please") -> int:
    return api.accept_message(services, cid, json.dumps({"content": content}).encode()).record.seq


def full_turn(services: Services, fake: FakeProvider, cid: str) -> None:
    """One turn through the real steps: create, tools (a lamp switch: an exactly-once record), submit, checkpoint."""
    seq = accept(services, cid)
    instance = instance_id_for(cid, seq)
    created = run(steps.create_run(services, contracts.CreateRunInput(cid, seq, instance, look_seconds=0)))
    fake.finish(created.run_id)
    polled = run(steps.poll_run(services, contracts.PollRunInput(cid, seq, created.run_id)))
    for call in polled.tool_calls:
        assert steps.run_tool(services, contracts.RunToolInput(cid, seq, call.number)).ok
    numbers = [c.number for c in polled.tool_calls]
    # The lamp call asked a person first (its approval request stays as the turn's record of the decision).
    requested = steps.request_approvals(services, contracts.RequestApprovalsInput(
        cid, seq, instance, [numbers[0]], (datetime.now(UTC) + timedelta(minutes=10)).isoformat()))
    assert requested.error is None and [a.tool for a in requested.approvals] == ["set_lamp"]
    submitted = run(steps.submit_outputs(services, contracts.SubmitOutputsInput(
        cid, seq, created.run_id, None, numbers, instance, look_seconds=0)))
    fake.finish(submitted.run_id)
    run(steps.poll_run(services, contracts.PollRunInput(cid, seq, submitted.run_id)))
    message = services.conversations.message_for_turn(cid, seq)
    assert message is not None
    result = steps.checkpoint(services, contracts.CheckpointInput(cid, seq, message.message_id, instance,
                                                                  status="completed"))
    assert result.status == "completed" and result.record_written


def leftovers(services: Services, cid: str) -> dict[str, list[str]]:
    """Everything stored under the conversation's id, wherever the app keeps things."""
    storage = services.storage
    found = {name: [b.name for b in storage.container(name).list_blobs(name_starts_with=prefix)]
             for name, prefix in ((TRANSCRIPTS_CONTAINER, f"{cid}/"), (WORK_CONTAINER, f"{cid}/"),
                                  (CHAT_CONTAINER, f"chat/{cid}/"))}
    table = storage.table(CONVERSATIONS_TABLE)
    found["rows"] = [r["RowKey"] for r in table.query_entities("PartitionKey eq @pk", parameters={"pk": cid})]
    found["listing"] = [r["RowKey"] for r in table.query_entities(
        "PartitionKey eq 'list|newest-first' and conversationId eq @cid", parameters={"cid": cid})]
    found["approvals"] = [r["RowKey"] for r in storage.table("approvals").query_entities(
        "PartitionKey eq @pk", parameters={"pk": cid})]
    with contextlib.suppress(ResourceNotFoundError):  # no lamp tool ran in this storage yet
        found["lamp records"] = [r["RowKey"] for r in storage.table("lamps").query_entities(
            "PartitionKey eq 'lamps'") if r["RowKey"].startswith(f"op|{cid}:")]
    return {k: v for k, v in found.items() if v}


def test_deleting_a_finished_conversation_removes_everything_once(svc: Services, fake: FakeProvider) -> None:
    cid = svc.conversations.create().conversation_id
    other = svc.conversations.create().conversation_id
    full_turn(svc, fake, cid)
    full_turn(svc, fake, other)
    instances = FakeTurnInstances({instance_id_for(cid, 1): "Completed", instance_id_for(other, 1): "Completed"})
    before = leftovers(svc, cid)
    assert set(before) == {TRANSCRIPTS_CONTAINER, WORK_CONTAINER, "rows", "listing", "lamp records", "approvals"}
    assert svc.storage.table("runowners").get_entity("run_1", "owner")["instanceId"] == instance_id_for(cid, 1)

    result = run(lifecycle.delete_conversation(svc, instances, cid))

    assert result.status == "deleted" and result.removed is not None
    assert leftovers(svc, cid) == {}
    assert result.removed.provider.deleted == ("run_1", "run_2") and "run_1" not in fake.runs
    assert not list(svc.storage.table("runowners").query_entities("PartitionKey eq 'run_1' or PartitionKey eq 'run_2'"))
    assert instances.purged == [instance_id_for(cid, 1)] and result.removed.instances_purged == 1
    removed = result.removed
    assert (removed.turn_records, removed.tool_records, removed.approvals, removed.conversation_rows) == (1, 1, 1, 4)
    assert lamp_states(ToolContext(svc.storage, "read"))["kitchen"]["on"] is True  # the lamp itself stays switched
    # The other conversation is untouched; a second DELETE finds nothing.
    assert set(leftovers(svc, other)) == set(before) and "run_3" in fake.runs
    assert run(lifecycle.delete_conversation(svc, instances, cid)).status == "not_found"
    assert api.deletion_response(run(lifecycle.delete_conversation(svc, instances, cid))).status == 204


def test_a_running_turn_is_refused_without_cancel_and_nothing_changes(svc: Services, fake: FakeProvider) -> None:
    cid = svc.conversations.create().conversation_id
    accept(svc, cid)
    instances = FakeTurnInstances({instance_id_for(cid, 1): "Running"})
    result = run(lifecycle.delete_conversation(svc, instances, cid))
    assert result.status == "turn_running" and result.busy == (lifecycle.BusyTurn(1, instance_id_for(cid, 1), "Running"),)
    assert svc.conversations.get(cid).deleting_since is None and instances.cancelled == []
    with pytest.raises(api.ApiError) as refused:
        api.deletion_response(result)
    assert refused.value.status == 409 and refused.value.response().body["error"]["code"] == "turn_running"
    assert refused.value.response().body["error"]["turns"] == [
        {"turn": 1, "instanceId": instance_id_for(cid, 1), "runtimeStatus": "Running"}]
    assert accept(svc, cid, "and another") == 2  # still open for messages


def test_cancel_raises_the_event_at_every_running_turn_then_deletes(svc: Services, fake: FakeProvider) -> None:
    cid = svc.conversations.create().conversation_id
    full_turn(svc, fake, cid)
    accept(svc, cid, "second")
    accept(svc, cid, "third, queued behind the second")
    accept(svc, cid, "fourth, accepted but never started")
    instances = FakeTurnInstances({instance_id_for(cid, 1): "Completed", instance_id_for(cid, 2): "Running",
                                   instance_id_for(cid, 3): "Pending"})
    result = run(lifecycle.delete_conversation(svc, instances, cid, cancel=True))
    assert result.status == "deleted" and result.cancelled == (2, 3)
    assert instances.cancelled == [instance_id_for(cid, 2), instance_id_for(cid, 3)]
    assert leftovers(svc, cid) == {} and instances.statuses == {}
    # The never-started turn's orchestration, started late by a racing POST, creates nothing and records nothing.
    late = run(steps.create_run(svc, contracts.CreateRunInput(cid, 4, instance_id_for(cid, 4), look_seconds=0)))
    assert late.status == "already_done" and fake.calls["create"] == 1
    done = steps.checkpoint(svc, contracts.CheckpointInput(cid, 4, "m", instance_id_for(cid, 4), "already_done"))
    assert done.status == "conversation_deleted" and leftovers(svc, cid) == {}


def test_turns_that_ignore_the_cancel_leave_the_deletion_marked_and_a_retry_finishes_it(
        svc: Services, fake: FakeProvider) -> None:
    cid = svc.conversations.create().conversation_id
    accept(svc, cid)
    instances = FakeTurnInstances({instance_id_for(cid, 1): "Running"}, obey=False)
    started = time.monotonic()
    result = run(lifecycle.delete_conversation(svc, instances, cid, cancel=True, wait_seconds=1.0))
    assert result.status == "turn_still_running" and result.cancelled == (1,)
    assert 1.0 <= time.monotonic() - started < 10
    with pytest.raises(api.ApiError) as still:
        api.deletion_response(result)
    assert still.value.status == 409 and still.value.code == "turn_still_running"
    # Marked: messages are refused (retries of an accepted one too), and a queued turn creates no run.
    assert svc.conversations.get(cid).deleting_since is not None
    with pytest.raises(ConversationDeletingError):
        svc.conversations.accept_message(cid, "new", "hello")
    message = svc.conversations.message_for_turn(cid, 1)
    assert message is not None
    with pytest.raises(api.ApiError) as deleting:
        api.accept_message(svc, cid, json.dumps({"content": message.content, "messageId": message.message_id}).encode())
    assert deleting.value.status == 409 and deleting.value.code == "conversation_deleting"
    queued = run(steps.create_run(svc, contracts.CreateRunInput(cid, 1, instance_id_for(cid, 1), look_seconds=0)))
    assert queued.status == "already_done" and fake.calls["create"] == 0
    # Without cancel the marked conversation still waits for its turn; once it ended, a retry completes it.
    assert run(lifecycle.delete_conversation(svc, instances, cid)).status == "turn_running"
    instances.statuses[instance_id_for(cid, 1)] = "Terminated"
    assert run(lifecycle.delete_conversation(svc, instances, cid)).status == "deleted"
    assert leftovers(svc, cid) == {}


def test_an_unreachable_provider_loses_nothing_and_a_retry_completes(app_env: dict[str, str]) -> None:
    unreachable = UnreachableProvider(tool_calls=list(LAMP_CALLS))
    svc = Services(Settings.from_env(app_env), provider_factory=lambda: unreachable)
    svc.ensure_storage()
    cid = svc.conversations.create().conversation_id
    full_turn(svc, unreachable, cid)
    instances = FakeTurnInstances({instance_id_for(cid, 1): "Completed"})
    before = leftovers(svc, cid)
    answer = run(api.delete_conversation(svc, instances, cid, {}))
    assert answer.status == 503 and answer.body["error"]["code"] == "provider_unavailable"
    assert answer.headers["Retry-After"] == "2"
    after = leftovers(svc, cid)
    assert after == before and svc.conversations.get(cid).deleting_since is not None
    assert svc.turns.recorded_objects(cid) == ProviderObjects(runs=frozenset({"run_1", "run_2"}))

    working = FakeProvider(runs=dict(unreachable.runs))
    retry = Services(svc.settings, provider_factory=lambda: working)
    answer = run(api.delete_conversation(retry, instances, cid, {"cancel": "false"}))
    assert answer.status == 200 and answer.body["removed"]["providerObjects"]["deleted"] == ["run_1", "run_2"]
    assert leftovers(svc, cid) == {}


@pytest.mark.parametrize(("cid", "params", "code"), [
    ("bad/id", {}, "invalid_conversation_id"), ("x" * 65, {}, "invalid_conversation_id"),
    ("abc", {"cancel": "maybe"}, "invalid_cancel")])
def test_bad_deletes_get_a_json_400(svc: Services, cid: str, params: dict[str, str], code: str) -> None:
    with pytest.raises(api.ApiError) as refused:
        run(api.delete_conversation(svc, FakeTurnInstances(), cid, params))
    assert refused.value.status == 400 and refused.value.code == code


def test_retention_deletes_only_idle_conversations_and_skips_busy_ones(app_env: dict[str, str],
                                                                       fake: FakeProvider) -> None:
    off = Services(Settings.from_env(app_env), provider_factory=lambda: fake)
    off.ensure_storage()
    assert run(lifecycle.sweep(off, FakeTurnInstances(), datetime.now(UTC))) is None
    svc = Services(Settings.from_env({**app_env, "ASSISTANT_RETENTION_DAYS": str(2 / 86400)}),
                   provider_factory=lambda: fake)
    old = svc.conversations.create().conversation_id
    full_turn(svc, fake, old)
    busy = svc.conversations.create().conversation_id
    accept(svc, busy)
    active = svc.conversations.create().conversation_id
    time.sleep(3)  # all three are idle for longer than the 2 s retention now
    accept(svc, active)  # ... but this one is active again
    fresh = svc.conversations.create().conversation_id
    instances = FakeTurnInstances({instance_id_for(old, 1): "Completed", instance_id_for(busy, 1): "Running",
                                   instance_id_for(active, 1): "Completed"})
    report = run(lifecycle.sweep(svc, instances, datetime.now(UTC)))
    assert report is not None and report.deleted == (old,) and report.busy == (busy,)
    assert leftovers(svc, old) == {} and instances.cancelled == []
    for kept in (busy, fresh, active):
        assert svc.conversations.get(kept).deleting_since is None
