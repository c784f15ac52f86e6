"""Conversation lifecycle end to end: DELETE and the retention sweep over HTTP against function_app.py on devhost +
Azurite + devmodel (scripted engine). What must be gone is checked where it lived: the app's tables and blobs, the
task hub's Instances/History tables and the durable status API, the provider through the official openai client.

These tests need devhost; if it cannot start they FAIL (StackError), they never skip."""

from __future__ import annotations

import contextlib
import re
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient

from devhost.azurite import AzuriteProcess
from durable_assistant.config import Settings
from durable_assistant.services import Services
from durable_assistant.storage_clients import StorageClients
from durable_assistant.store import (
    CHAT_CONTAINER,
    CONVERSATIONS_TABLE,
    TRANSCRIPTS_CONTAINER,
    WORK_CONTAINER,
    instance_id_for,
)
from tests.app.scenarios import write_scenarios
from tests.app.stack import HttpClient, Stack, app_stack

pytestmark = pytest.mark.slow

LAMPS = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."


@pytest.fixture(scope="module")
def stack(azurite: AzuriteProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Responses with signed webhooks (so turns claim their runs in the runowners table), as scripts/run.sh."""
    logs = Path(tmp_path_factory.mktemp("lifecycle"))
    # Lamp calls run without waiting for a person here (approvals have tests of their own).
    settings = {"ASSISTANT_WEBHOOK_POLL_SECONDS": "4", "ASSISTANT_APPROVAL_REQUIRED": "none"}
    with app_stack(azurite.connection_string, logs, scenario=write_scenarios(logs), settings=settings,
                   webhooks=True) as s:
        yield s


def status_url(stack: Stack, instance_id: str, operation: str = "") -> str:
    """The instance on the stack's Durable management API (keys are not enforced on these stacks), so the tests
    do not depend on which URLs the message route hands out."""
    return f"{stack.api.removesuffix('/api')}/runtime/webhooks/durabletask/instances/{instance_id}{operation}"


def send(stack: Stack, cid: str, content: str) -> str:
    """POST the message; the turn's status URL."""
    resp = stack.http.send(cid, content)
    assert resp.status == 202, resp
    return status_url(stack, instance_id_for(cid, int(resp.body["turn"])))


def run_turn(stack: Stack, cid: str, content: str) -> str:
    url = send(stack, cid, content)
    status, _ = stack.http.wait(url)
    assert status["runtimeStatus"] == "Completed", status
    return url


def terminate(stack: Stack, url: str) -> None:
    assert stack.http.request("POST", url + "/terminate?reason=test").status == 202
    assert stack.http.wait(url)[0]["runtimeStatus"] == "Terminated"


def storage_of(stack: Stack) -> StorageClients:
    settings = Settings.from_env(stack.env)
    return StorageClients(settings.storage, settings.storage_prefix)


def stored(stack: Stack, cid: str, provider_ids: list[str]) -> dict[str, list[str]]:
    """Everything the app and the task hub keep of the conversation, by where it is."""
    storage = storage_of(stack)
    found = {name: [b.name for b in storage.container(name).list_blobs(name_starts_with=prefix)]
             for name, prefix in ((TRANSCRIPTS_CONTAINER, f"{cid}/"), (WORK_CONTAINER, f"{cid}/"),
                                  (CHAT_CONTAINER, f"chat/{cid}/"))}
    table = storage.table(CONVERSATIONS_TABLE)
    found["rows"] = [r["RowKey"] for r in table.query_entities("PartitionKey eq @pk", parameters={"pk": cid})]
    found["listing"] = [r["RowKey"] for r in table.query_entities(
        "PartitionKey eq 'list|newest-first' and conversationId eq @cid", parameters={"cid": cid})]
    owners = storage.table("runowners")
    found["runowners"] = [r["PartitionKey"] for pid in provider_ids
                          for r in owners.query_entities("PartitionKey eq @pk", parameters={"pk": pid})]
    with contextlib.suppress(ResourceNotFoundError):
        found["lamp records"] = [r["RowKey"] for r in storage.table("lamps").query_entities(
            "PartitionKey eq 'lamps'") if r["RowKey"].startswith(f"op|{cid}:")]
    hub = TableServiceClient.from_connection_string(stack.env["AzureWebJobsStorage"])
    for kind in ("Instances", "History"):
        found[f"hub {kind}"] = [r["PartitionKey"] for r in hub.get_table_client(stack.hub + kind).query_entities(
            "PartitionKey ge @low and PartitionKey lt @high",
            parameters={"low": f"turn-{cid}-", "high": f"turn-{cid}."}, select=["PartitionKey"])]
    return {k: v for k, v in found.items() if v}


def provider(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.model.base_url, api_key="local-dev-key", max_retries=0)


def schema(stack: Stack, name: str) -> dict[str, Any]:
    components: dict[str, Any] = stack.http.request("GET", "/openapi.json").body["components"]["schemas"]
    return dict(components[name])


def wait_for_phase(http: HttpClient, status_url: str, phase: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        custom = http.request("GET", status_url).body.get("customStatus") or {}
        if custom.get("phase") == phase:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{status_url} never reached {phase}")


def test_deleting_a_finished_conversation_removes_everything(stack: Stack) -> None:
    http = stack.http
    cid = http.new_conversation()
    started = [run_turn(stack, cid, LAMPS), run_turn(stack, cid, "What is the weather in Tokyo?")]
    turns = http.request("GET", f"/conversations/{cid}").body["turns"]
    response_ids = sorted(i for t in turns for i in t["providerIds"])
    assert len(response_ids) == 4 and all(provider(stack).responses.retrieve(i).id == i for i in response_ids)
    before = stored(stack, cid, response_ids)
    assert set(before) == {TRANSCRIPTS_CONTAINER, WORK_CONTAINER, "rows", "listing", "runowners", "lamp records",
                           "hub Instances", "hub History"}, before

    deleted = http.request("DELETE", f"/conversations/{cid}")

    assert deleted.status == 200, deleted
    jsonschema.validate(deleted.body, schema(stack, "DeletionSummary"))
    removed = deleted.body["removed"]
    assert removed["providerObjects"] == {"deleted": response_ids, "missing": [], "refused": []}
    assert (removed["turnRecords"], removed["instancesPurged"], removed["toolRecords"]) == (2, 2, 4)
    assert removed["conversationRows"] == 2 * 2 + 2 and deleted.body["cancelledTurns"] == []
    assert stored(stack, cid, response_ids) == {}
    for response_id in response_ids:
        with pytest.raises(openai.NotFoundError):
            provider(stack).responses.retrieve(response_id)
    for url in started:
        assert http.request("GET", url).status == 404
    assert http.request("GET", f"/conversations/{cid}").status == 404
    listed = http.request("GET", "/conversations?top=100").body["conversations"]
    assert cid not in [c["conversationId"] for c in listed]
    page = http.request("GET", f"/monitor/conversations/{cid}")
    assert page.status == 404 and "does not exist" in page.body
    # Idempotent: a retried DELETE, and one of an id that never existed, are 204 with no body.
    again = http.request("DELETE", f"/conversations/{cid}")
    assert (again.status, again.body) == (204, None)
    assert http.request("DELETE", "/conversations/never-was-one").status == 204


def test_bad_deletes_get_json_errors(stack: Stack) -> None:
    cid = stack.http.new_conversation()
    for path, code in ((f"/conversations/{'x' * 65}", "invalid_conversation_id"),
                       ("/conversations/a%20b", "invalid_conversation_id"),
                       (f"/conversations/{cid}?cancel=maybe", "invalid_cancel")):
        resp = stack.http.request("DELETE", path)
        assert resp.status == 400 and resp.body["error"]["code"] == code, (path, resp)
    assert stack.http.request("GET", f"/conversations/{cid}").status == 200  # untouched


def test_a_running_turn_refuses_the_delete_until_it_ended(stack: Stack) -> None:
    http = stack.http
    cid = http.new_conversation()
    stuck = send(stack, cid, "hello [fault:never]")
    wait_for_phase(http, stuck, "waiting_for_run")
    refused = http.request("DELETE", f"/conversations/{cid}")
    assert refused.status == 409, refused
    jsonschema.validate(refused.body, schema(stack, "TurnsBusyError"))
    assert refused.body["error"]["code"] == "turn_running"
    assert refused.body["error"]["turns"] == [
        {"turn": 1, "instanceId": instance_id_for(cid, 1), "runtimeStatus": "Running"}]
    assert http.request("GET", f"/conversations/{cid}").body["deletingSince"] is None  # refused: nothing changed
    run_id = http.request("GET", stuck).body["customStatus"]["runId"]

    terminate(stack, stuck)
    deleted = http.request("DELETE", f"/conversations/{cid}")
    assert deleted.status == 200, deleted
    assert deleted.body["removed"]["providerObjects"]["deleted"] == [run_id]
    assert deleted.body["removed"]["instancesPurged"] == 1
    with pytest.raises(openai.NotFoundError):
        provider(stack).responses.retrieve(run_id)
    assert stored(stack, cid, [run_id]) == {}


def test_delete_with_cancel_stops_the_running_and_the_queued_turn_then_deletes(stack: Stack) -> None:
    """Turn 1's run never ends by itself, turn 2 waits behind it: ?cancel=true raises CANCEL_EVENT at both (the
    running one cancels its run at the provider, the queued one gives up its place), waits for them to end and
    deletes everything, the cancelled run included."""
    http = stack.http
    cid = http.new_conversation()
    running = send(stack, cid, "hello [fault:never]")
    wait_for_phase(http, running, "waiting_for_run")
    queued = send(stack, cid, "What is the weather in Tokyo?")
    wait_for_phase(http, queued, "waiting_for_turn")
    run_id = http.request("GET", running).body["customStatus"]["runId"]
    started = time.monotonic()

    deleted = http.request("DELETE", f"/conversations/{cid}?cancel=true")

    assert deleted.status == 200, deleted
    assert time.monotonic() - started < 30
    jsonschema.validate(deleted.body, schema(stack, "DeletionSummary"))
    assert deleted.body["cancelledTurns"] == [1, 2]
    removed = deleted.body["removed"]
    assert removed["providerObjects"]["deleted"] == [run_id] and removed["instancesPurged"] == 2
    # The running turn recorded itself as cancelled; the queued one did too, unless it asked to go on first and
    # found the conversation marked (then it creates and records nothing).
    assert removed["turnRecords"] in (1, 2)
    with pytest.raises(openai.NotFoundError):
        provider(stack).responses.retrieve(run_id)
    for url in (running, queued):
        assert http.request("GET", url).status == 404
    assert stored(stack, cid, [run_id]) == {}
    assert http.send(cid, "hello again").status == 404


def test_an_unfinished_deletion_refuses_messages_and_a_retried_delete_completes_it(stack: Stack) -> None:
    """A DELETE that crashed right after marking the conversation (its first step) leaves it refusing messages;
    the next DELETE finds the mark and finishes the job."""
    http = stack.http
    cid = http.new_conversation()
    run_turn(stack, cid, "What is the weather in London?")
    Services(Settings.from_env(stack.env)).conversations.mark_deleting(cid)  # the crashed DELETE's first step
    refused = http.send(cid, "What is the weather in Paris?")
    assert refused.status == 409 and refused.body["error"]["code"] == "conversation_deleting", refused
    since = http.request("GET", f"/conversations/{cid}").body["deletingSince"]
    listed = {c["conversationId"]: c for c in http.request("GET", "/conversations?top=100").body["conversations"]}
    assert since is not None and listed[cid]["deletingSince"] == since and listed[cid]["turnsAccepted"] == 1
    row = re.search(rf'data-conversation="{cid}">.*?</tr>', http.request("GET", "/monitor").body, re.S)
    assert row is not None and 'class="badge deleting"' in row.group(0)
    assert "being deleted since" in http.request("GET", f"/monitor/conversations/{cid}").body
    deleted = http.request("DELETE", f"/conversations/{cid}")
    assert deleted.status == 200 and deleted.body["removed"]["turnRecords"] == 1, deleted
    assert cid not in http.request("GET", "/monitor").body
    assert http.request("GET", f"/monitor/conversations/{cid}/turns/1").status == 404
    assert stored(stack, cid, []) == {}


@pytest.mark.parametrize("kind", ["threads", "chat"])
def test_other_adapters_delete_what_they_created(azurite: AzuriteProcess, tmp_path: Path, kind: str) -> None:
    with app_stack(azurite.connection_string, tmp_path, provider=kind) as s:
        cid = s.http.new_conversation()
        run_turn(s, cid, "What is the weather in Seattle, WA?")
        run_turn(s, cid, "thank you")
        ids = [i for t in s.http.request("GET", f"/conversations/{cid}").body["turns"] for i in t["providerIds"]]
        before = stored(s, cid, ids)
        deleted = s.http.request("DELETE", f"/conversations/{cid}")
        assert deleted.status == 200, deleted
        objects = deleted.body["removed"]["providerObjects"]
        if kind == "threads":
            threads = sorted({i for i in ids if i.startswith("thread_")})
            assert len(threads) == 1 and objects["deleted"] == threads
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                with pytest.raises(openai.NotFoundError):
                    provider(s).beta.threads.retrieve(threads[0])
        else:
            assert objects == {"deleted": [], "missing": [], "refused": []}  # nothing is stored at the provider
            assert len(before[CHAT_CONTAINER]) >= 2 and deleted.body["removed"]["chatStateBlobs"] == len(
                before[CHAT_CONTAINER])
        assert stored(s, cid, ids) == {}


def test_retention_deletes_idle_conversations_only(azurite: AzuriteProcess, tmp_path: Path) -> None:
    """Retention of 4 s; the sweep's own schedule never comes during the test (1 January), so it runs when the
    host's admin API asks for it (POST /admin/functions/retention_sweep)."""
    settings = {"ASSISTANT_RETENTION_DAYS": str(4 / 86400), "ASSISTANT_RETENTION_SCHEDULE": "0 0 0 1 1 *"}
    with app_stack(azurite.connection_string, tmp_path, settings=settings) as s:
        http = s.http
        old = http.new_conversation()
        run_turn(s, old, "What is the weather in Tokyo?")
        busy = http.new_conversation()
        stuck = send(s, busy, "hello [fault:never]")
        wait_for_phase(http, stuck, "waiting_for_run")
        revived = http.new_conversation()
        time.sleep(5)  # old, busy and revived have been idle longer than the retention now
        run_turn(s, revived, "thank you")
        fresh = http.new_conversation()

        admin = urllib.request.Request(s.api.removesuffix("/api") + "/admin/functions/retention_sweep",
                                       data=b'{"input": ""}', method="POST",
                                       headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(admin, timeout=30) as resp:
            assert resp.status == 202
        deadline = time.monotonic() + 60
        while http.request("GET", f"/conversations/{old}").status != 404:
            assert time.monotonic() < deadline, "the sweep did not delete the idle conversation"
            time.sleep(0.2)
        assert stored(s, old, []) == {}
        for kept in (busy, revived, fresh):
            body = http.request("GET", f"/conversations/{kept}").body
            assert body["deletingSince"] is None, body
        assert http.request("GET", stuck).body["runtimeStatus"] == "Running"
        terminate(s, stuck)
