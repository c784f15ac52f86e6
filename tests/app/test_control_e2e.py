"""End to end through devhost, devmodel and Azurite: a person approves or denies tool calls, and cancels turns
(queued, running tools, awaiting approval). Every request goes over HTTP to the real function app; the
provider-side effect of a cancel is checked with the official openai client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from openai import OpenAI

from devhost.azurite import AzuriteProcess
from durable_assistant.config import Settings
from durable_assistant.store import StorageClients
from durable_assistant.tools import ToolContext, lamp_states
from tests.app.scenarios import write_scenarios
from tests.app.stack import HttpClient, Stack, app_stack

pytestmark = pytest.mark.slow

SEED_002 = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."
ALICE = {"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com"}
BOB = {"X-MS-CLIENT-PRINCIPAL-NAME": "bob@contoso.com"}
T = TypeVar("T")


@pytest.fixture(scope="module")
def stack(azurite: AzuriteProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """set_lamp needs alice's approval (120 s to decide); the slow test tool comes from ASSISTANT_TOOL_MODULES."""
    logs = Path(tmp_path_factory.mktemp("control"))
    settings = {"ASSISTANT_TOOL_MODULES": "tests.app.fault_tools", "ASSISTANT_WEBHOOK_POLL_SECONDS": "4",
                "ASSISTANT_APPROVAL_REQUIRED": "set_lamp", "ASSISTANT_APPROVAL_TIMEOUT_SECONDS": "120",
                "ASSISTANT_APPROVERS": "alice@contoso.com"}
    with app_stack(azurite.connection_string, logs, scenario=write_scenarios(logs), settings=settings,
                   webhooks=True) as s:
        yield s


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start(http: HttpClient, cid: str, content: str) -> str:
    resp = http.send(cid, content)
    assert resp.status == 202, resp
    return str(resp.body["statusQueryGetUri"])


def pending(http: HttpClient, cid: str, count: int) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        resp = http.request("GET", f"/conversations/{cid}/approvals")
        assert resp.status == 200, resp
        found: list[dict[str, Any]] = resp.body["approvals"]
        return found if len(found) == count else None
    return eventually(probe, f"{count} pending approvals")


def phase(http: HttpClient, status_url: str, wanted: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        custom = http.request("GET", status_url).body.get("customStatus") or {}
        return custom if custom.get("phase") == wanted else None
    return eventually(probe, f"phase {wanted}")


def lamps(stack: Stack) -> dict[str, dict[str, Any]]:
    settings = Settings.from_env(stack.env)
    return lamp_states(ToolContext(StorageClients(settings.storage, settings.storage_prefix), "read"))


def turn_record(http: HttpClient, cid: str, turn: int) -> dict[str, Any]:
    turns = http.request("GET", f"/conversations/{cid}").body["turns"]
    record: dict[str, Any] = next(t for t in turns if t["turn"] == turn)
    return record


def decide(http: HttpClient, cid: str, approval_id: str, decision: str, headers: dict[str, str],
           reason: str | None = None) -> Any:
    body = {"decision": decision, **({"reason": reason} if reason else {})}
    return http.request("POST", f"/conversations/{cid}/approvals/{approval_id}", body, headers=headers)


def test_approve_one_call_deny_another_while_calls_needing_none_run_meanwhile(stack: Stack) -> None:
    http = stack.http
    cid = http.new_conversation()
    status_url = start(http, cid, SEED_002)
    waiting = pending(http, cid, 2)
    assert [(a["tool"], json.loads(a["arguments"])["lamp"]) for a in waiting] == [
        ("set_lamp", "living room"), ("set_lamp", "kitchen")]
    assert all(a["approvers"] == ["alice@contoso.com"] and a["status"] == "pending" for a in waiting)
    custom = phase(http, status_url, "awaiting_approval")
    assert [p["approvalId"] for p in custom["pendingApprovals"]] == [a["approvalId"] for a in waiting]
    assert custom["approvers"] == ["alice@contoso.com"]
    # The brightness calls need nobody: they ran while the lamp switches wait.
    eventually(lambda: all(lamps(stack)[n]["brightness"] == 50 for n in ("living room", "kitchen")),
               "brightness calls to run")
    assert not lamps(stack)["living room"]["on"] and not lamps(stack)["kitchen"]["on"]

    living, kitchen = waiting[0]["approvalId"], waiting[1]["approvalId"]
    refused = decide(http, cid, living, "approve", BOB)
    assert refused.status == 403 and refused.body["error"]["code"] == "not_an_approver"
    assert decide(http, cid, living, "approve", ALICE, "fine").status == 200
    assert decide(http, cid, living, "approve", ALICE).status == 200  # a retried request changes nothing
    denied = decide(http, cid, kitchen, "deny", ALICE, "not at night")
    assert denied.status == 200 and denied.body["status"] == "denied"
    closed = decide(http, cid, kitchen, "approve", ALICE)
    assert closed.status == 409 and closed.body["error"]["code"] == "approval_closed"

    final, _ = http.wait(status_url)
    assert final["runtimeStatus"] == "Completed" and final["output"]["status"] == "completed"
    state = lamps(stack)
    assert state["living room"] == {"on": True, "brightness": 50} and state["kitchen"] == {"on": False,
                                                                                             "brightness": 50}
    calls = turn_record(http, cid, 1)["toolCalls"]
    switch = [c for c in calls if c["name"] == "set_lamp"]
    assert switch[0]["approval"]["status"] == "approved" and switch[0]["approval"]["decidedBy"] == "alice@contoso.com"
    assert switch[0]["approval"]["reason"] == "fine" and switch[0]["ok"] is True
    assert switch[1]["approval"]["status"] == "denied" and switch[1]["ok"] is False
    output = json.loads(switch[1]["output"])
    assert output["approved"] is False and "denied by alice@contoso.com: not at night" in output["error"]
    assert all("approval" not in c for c in calls if c["name"] == "set_lamp_brightness")
    assert http.request("GET", f"/conversations/{cid}/approvals").body["approvals"] == []
    history = http.request("GET", f"/conversations/{cid}/approvals?status=all").body["approvals"]
    assert [a["status"] for a in history] == ["approved", "denied"]


def test_approval_requests_reject_bad_input_with_json_errors(stack: Stack) -> None:
    http = stack.http
    cid = http.new_conversation()
    for path, body, status, code in [
        (f"/conversations/{cid}/approvals/1.1", {"decision": "approve"}, 404, "unknown_approval"),
        (f"/conversations/{cid}/approvals/x", {"decision": "approve"}, 404, "unknown_approval"),
        ("/conversations/nope/approvals/1.1", {"decision": "approve"}, 404, "unknown_conversation"),
        (f"/conversations/{cid}/approvals/1.1", {"decision": "maybe"}, 400, "invalid_request"),
    ]:
        resp = http.request("POST", path, body, headers=ALICE)
        assert (resp.status, resp.body["error"]["code"]) == (status, code), (path, resp)
    resp = http.request("GET", f"/conversations/{cid}/approvals?status=odd")
    assert resp.status == 400 and resp.body["error"]["code"] == "invalid_status"
    resp = http.request("POST", f"/conversations/{cid}/turns/1/cancel", {})
    assert resp.status == 404 and resp.body["error"]["code"] == "unknown_turn"
    resp = http.request("POST", f"/conversations/{cid}/turns/abc/cancel", {})
    assert resp.status == 400 and resp.body["error"]["code"] == "invalid_turn"


def test_cancel_while_awaiting_approval_releases_the_conversation_at_once(stack: Stack) -> None:
    http = stack.http
    cid = http.new_conversation()
    status_url = start(http, cid, "Turn the kitchen lamp on and tell me the weather")
    [request] = pending(http, cid, 1)
    resp = http.request("POST", f"/conversations/{cid}/turns/1/cancel", {"reason": "wrong lamp"}, headers=BOB)
    assert resp.status == 202 and resp.body["status"] == "cancelling", resp
    final, _ = http.wait(status_url, timeout=30)
    assert final["runtimeStatus"] == "Completed" and final["output"]["status"] == "cancelled"
    assert final["customStatus"]["phase"] == "cancelled"
    record = turn_record(http, cid, 1)
    assert record["status"] == "cancelled" and record["cancelledBy"] == "bob@contoso.com", (final, record)
    assert record["cancelReason"] == "wrong lamp" and record["answer"] is None
    switch = next(c for c in record["toolCalls"] if c["name"] == "set_lamp")
    assert switch["approval"]["status"] == "cancelled" and switch["output"] is None
    assert decide(http, cid, request["approvalId"], "approve", ALICE).status == 409
    again = http.request("POST", f"/conversations/{cid}/turns/1/cancel", {})
    assert again.status == 409 and again.body["error"]["code"] == "turn_finished"
    # Released: the next message runs at once.
    nxt, _ = http.wait(start(http, cid, "What is the weather in Tokyo?"), timeout=30)
    assert nxt["output"]["status"] == "completed"


def test_cancel_while_a_tool_runs_releases_the_conversation_without_waiting_for_the_tool(stack: Stack) -> None:
    http = stack.http
    cid = http.new_conversation()
    status_url = start(http, cid, "echo slowly: never mind")
    custom = phase(http, status_url, "running_tools")
    started = time.monotonic()
    assert http.request("POST", f"/conversations/{cid}/turns/1/cancel", {"by": "ops-console"}).status == 202
    # The turn is recorded and the conversation released at once; the slow tool (10 s) is still running.
    record = eventually(lambda: next((t for t in http.request("GET", f"/conversations/{cid}").body["turns"]
                                      if t["status"] == "cancelled"), None), "the cancelled record", timeout=9)
    assert record["cancelledBy"] == "ops-console" and record["error"].startswith("cancelled by ops-console")
    nxt, _ = http.wait(start(http, cid, "What is the weather in Tokyo?"), timeout=30)
    assert nxt["output"]["status"] == "completed"
    assert time.monotonic() - started < 9, "the next turn waited for the slow tool"
    # The host completes an orchestration only once none of its activities runs: the instance ends after the tool.
    final, _ = http.wait(status_url, timeout=30)
    assert final["runtimeStatus"] == "Completed" and final["output"]["status"] == "cancelled"
    model = OpenAI(base_url=stack.model.base_url, api_key="local-dev-key")
    assert model.responses.retrieve(custom["runId"]).status == "completed"  # it was only waiting for tool output


def test_cancel_while_the_model_thinks_cancels_the_run_at_the_provider(stack: Stack) -> None:
    http = stack.http
    cid = http.new_conversation()
    status_url = start(http, cid, "think hard about the meaning of life")
    custom = phase(http, status_url, "waiting_for_run")
    assert http.request("POST", f"/conversations/{cid}/turns/1/cancel", {}).status == 202
    final, _ = http.wait(status_url, timeout=30)
    assert final["output"]["status"] == "cancelled" and "cancelled at the provider" in final["output"]["error"]
    model = OpenAI(base_url=stack.model.base_url, api_key="local-dev-key")
    assert model.responses.retrieve(custom["runId"]).status == "cancelled"


def test_cancel_a_queued_turn_then_the_running_one_and_the_next_turn_still_runs_in_order(stack: Stack) -> None:
    http = stack.http
    cid = http.new_conversation()
    first = start(http, cid, "echo slowly: first")
    second = start(http, cid, "What is the weather in Tokyo?")
    phase(http, second, "waiting_for_turn")
    assert http.request("POST", f"/conversations/{cid}/turns/2/cancel", {}).status == 202
    queued, _ = http.wait(second, timeout=30)
    assert queued["output"]["status"] == "cancelled"
    third = start(http, cid, "What is the weather in Paris?")
    assert http.request("GET", third).body["runtimeStatus"] in ("Pending", "Running")
    assert http.request("POST", f"/conversations/{cid}/turns/1/cancel", {}).status == 202
    assert http.wait(first, timeout=30)[0]["output"]["status"] == "cancelled"
    done, _ = http.wait(third, timeout=30)
    assert done["output"]["status"] == "completed" and "Paris" in done["output"]["answer"]
    body = http.request("GET", f"/conversations/{cid}").body
    assert body["turnsFinished"] == 3
    assert [(t["turn"], t["status"]) for t in body["turns"]] == [(1, "cancelled"), (2, "cancelled"),
                                                                 (3, "completed")]
    assert body["turns"][1]["providerIds"] == []  # the queued turn never reached the provider


@pytest.fixture(scope="module")
def hasty(azurite: AzuriteProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Approvals expire after 2 s and nobody answers."""
    logs = Path(tmp_path_factory.mktemp("hasty"))
    settings = {"ASSISTANT_APPROVAL_REQUIRED": "side_effects", "ASSISTANT_APPROVAL_TIMEOUT_SECONDS": "2"}
    with app_stack(azurite.connection_string, logs, scenario=write_scenarios(logs), settings=settings) as s:
        yield s


def test_an_approval_nobody_gives_expires_and_the_call_is_not_run(hasty: Stack) -> None:
    http = hasty.http
    cid = http.new_conversation()
    final, _ = http.wait(start(http, cid, "Turn the living room lamp on and tell me the weather"), timeout=60)
    assert final["output"]["status"] == "completed"
    calls = {c["name"]: c for c in turn_record(http, cid, 1)["toolCalls"]}
    assert calls["set_lamp"]["approval"]["status"] == "expired" and calls["set_lamp"]["ok"] is False
    assert "nobody approved it" in json.loads(calls["set_lamp"]["output"])["error"]
    assert calls["get_weather"]["ok"] is True and "approval" not in calls["get_weather"]
    assert lamps(hasty)["living room"]["on"] is False
