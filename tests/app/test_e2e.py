"""End to end over HTTP: function_app.py on devhost + Azurite, talking to devmodel (scripted engine).

These tests need devhost; if it cannot start they FAIL (StackError), they never skip."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import AzuriteProcess
from durable_assistant.config import Settings
from durable_assistant.storage_clients import StorageClients
from durable_assistant.tools import ToolContext, lamp_states
from tests.app.scenarios import write_scenarios
from tests.app.stack import HttpClient, Stack, app_stack

pytestmark = pytest.mark.slow

SEED_000 = "Can you get information for customer ID CUST001 and analyze our sales metrics for last month?"
SEED_002 = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."


@pytest.fixture(scope="module")
def stack(azurite: AzuriteProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = Path(tmp_path_factory.mktemp("stack"))
    with app_stack(azurite.connection_string, logs, scenario=write_scenarios(logs)) as s:
        yield s


def run_turn(http: HttpClient, conversation_id: str, content: str,
             message_id: str | None = None) -> tuple[dict[str, Any], list[Any]]:
    resp = http.send(conversation_id, content, message_id)
    assert resp.status == 202, resp
    assert resp.headers["Location"] == resp.body["statusQueryGetUri"]
    return http.wait(resp.body["statusQueryGetUri"])


def transcript(http: HttpClient, conversation_id: str) -> dict[str, Any]:
    resp = http.request("GET", f"/conversations/{conversation_id}")
    assert resp.status == 200, resp
    body: dict[str, Any] = resp.body
    return body


def answer(status: dict[str, Any]) -> str:
    assert status["runtimeStatus"] == "Completed", status
    text: str = status["output"]["answer"]
    return text


def test_seed_000_customer_info_and_sales_analytics_in_parallel(stack: Stack) -> None:
    cid = stack.http.new_conversation()
    status, phases = run_turn(stack.http, cid, SEED_000)
    text = answer(status)
    assert "Contoso Retail" in text and "74200" in text
    # running_tools lasts only as long as the tools (tens of ms), so a poller may not catch it; when it does,
    # the names are in call order.
    assert all(p["tools"] == ["get_customer_info", "analyze_metrics"] for p in phases if p["phase"] == "running_tools")
    turn = transcript(stack.http, cid)["turns"][0]
    assert [(c["name"], c["round"], c["ok"]) for c in turn["toolCalls"]] == [
        ("get_customer_info", 1, True), ("analyze_metrics", 1, True)]
    assert json.loads(turn["toolCalls"][0]["arguments"]) == {"customerId": "CUST001", "includeHistory": True}
    assert turn["answer"] == text and turn["userMessage"] == SEED_000 and turn["status"] == "completed"
    assert len(turn["providerIds"]) == 2 and turn["usage"]["total_tokens"] > 0
    settings = Settings.from_env(stack.env)
    blob = StorageClients(settings.storage, settings.storage_prefix).container("conversations")
    stored = json.loads(blob.download_blob(f"{cid}/000001.json").readall())
    assert stored == turn


def test_seed_002_four_parallel_lamp_calls_persist(stack: Stack) -> None:
    cid = stack.http.new_conversation()
    status, phases = run_turn(stack.http, cid, SEED_002)
    assert "Both lamps are on at half brightness" in answer(status)
    expected = ["set_lamp", "set_lamp", "set_lamp_brightness", "set_lamp_brightness"]
    assert all(p["tools"] == expected for p in phases if p["phase"] == "running_tools")
    turn = transcript(stack.http, cid)["turns"][0]
    assert [c["name"] for c in turn["toolCalls"]] == expected
    assert {c["round"] for c in turn["toolCalls"]} == {1}
    settings = Settings.from_env(stack.env)
    lamps = lamp_states(ToolContext(StorageClients(settings.storage, settings.storage_prefix), "read"))
    assert lamps["living room"] == {"on": True, "brightness": 50}
    assert lamps["kitchen"] == {"on": True, "brightness": 50}


def test_seed_001_weather_and_a_follow_up_in_the_same_conversation(stack: Stack) -> None:
    cid = stack.http.new_conversation()
    first, _ = run_turn(stack.http, cid, "What is the weather in Seattle, WA?")
    assert "74 degrees and sunny in Seattle, WA" in answer(first)
    second, _ = run_turn(stack.http, cid, "thank you")
    assert answer(second).startswith("Hello!")
    body = transcript(stack.http, cid)
    assert body["turnsFinished"] == 2 and [t["turn"] for t in body["turns"]] == [1, 2]


def test_failing_tools_are_reported_back_to_the_model(stack: Stack) -> None:
    cid = stack.http.new_conversation()
    unknown, _ = run_turn(stack.http, cid, "please launch the rockets")
    assert "unknown tool 'launch_rockets'" in answer(unknown)
    malformed, _ = run_turn(stack.http, cid, "try the broken arguments")
    assert "arguments are not valid JSON" in answer(malformed)
    domain, _ = run_turn(stack.http, cid, "turn on the garage lamp")
    assert "unknown lamp 'garage'" in answer(domain)
    calls = [t["toolCalls"][0] for t in transcript(stack.http, cid)["turns"]]
    assert [c["ok"] for c in calls] == [False, False, False]


def test_custom_status_shows_the_phases_while_polling(stack: Stack) -> None:
    cid = stack.http.new_conversation()
    status, phases = run_turn(stack.http, cid, "slowly tell me the weather in Tokyo")
    assert "in Tokyo" in answer(status)
    names = [p["phase"] for p in phases]
    # Phases that last a second or more are always seen; every phase seen comes in the turn's order.
    for expected in ("creating_run", "polling", "submitting", "completed"):
        assert expected in names, names
    order = ["creating_run", "polling", "running_tools", "submitting", "polling", "completed"]
    position = 0
    for name in names:
        assert name in order[position:], names
        position = order.index(name, position)
    polls = [p["pollCount"] for p in phases]
    assert polls == sorted(polls) and polls[-1] >= 2


def test_concurrent_messages_run_strictly_in_order(stack: Stack) -> None:
    cid = stack.http.new_conversation()
    cities = ["Seattle, WA", "Tokyo", "London", "Amsterdam"]
    results: dict[str, Any] = {}

    def post(city: str) -> None:
        results[city] = stack.http.send(cid, f"What is the weather in {city}?")

    threads = [threading.Thread(target=post, args=(c,)) for c in cities]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status == 202 for r in results.values()), results
    assert sorted(r.body["turn"] for r in results.values()) == [1, 2, 3, 4]
    for city, resp in results.items():
        status, _ = stack.http.wait(resp.body["statusQueryGetUri"])
        assert f"in {city}" in answer(status)
    turns = transcript(stack.http, cid)["turns"]
    assert [t["turn"] for t in turns] == [1, 2, 3, 4]
    for t in turns:
        assert t["userMessage"].endswith(f"in {json.loads(t['toolCalls'][0]['arguments'])['location']}?")
    for before, after in zip(turns, turns[1:], strict=False):
        assert after["timings"]["runCreatedAt"] >= before["timings"]["finishedAt"]


def test_a_turn_terminated_by_an_operator_does_not_block_the_conversation(stack: Stack) -> None:
    """Turn 1's run never finishes and an operator terminates its orchestration; turn 2, waiting behind it,
    finds it abandoned, records it so, and runs."""
    cid = stack.http.new_conversation()
    stuck = stack.http.send(cid, "hello [fault:never]")
    assert stuck.status == 202, stuck
    for _ in range(100):  # until turn 1 holds the conversation (its run exists)
        custom = stack.http.request("GET", stuck.body["statusQueryGetUri"]).body.get("customStatus") or {}
        if custom.get("phase") not in (None, "creating_run", "waiting_for_turn"):
            break
        time.sleep(0.1)
    waiting = stack.http.send(cid, "What is the weather in Tokyo?")
    assert waiting.status == 202, waiting
    for _ in range(100):  # turn 2 is blocked behind turn 1
        custom = stack.http.request("GET", waiting.body["statusQueryGetUri"]).body.get("customStatus") or {}
        if custom.get("phase") == "waiting_for_turn":
            break
        time.sleep(0.1)
    assert custom.get("phase") == "waiting_for_turn", custom
    terminate = stuck.body["terminatePostUri"].replace("{text}", "operator")
    assert stack.http.request("POST", terminate).status == 202
    first, _ = stack.http.wait(stuck.body["statusQueryGetUri"])
    assert first["runtimeStatus"] == "Terminated"
    second, _ = stack.http.wait(waiting.body["statusQueryGetUri"])
    assert "in Tokyo" in answer(second)
    turns = transcript(stack.http, cid)["turns"]
    assert [(t["turn"], t["status"]) for t in turns] == [(1, "abandoned"), (2, "completed")]
    assert "Terminated" in turns[0]["error"] and turns[0]["userMessage"] == "hello [fault:never]"


def test_retried_posts_are_idempotent(stack: Stack) -> None:
    cid = stack.http.new_conversation()
    first = stack.http.send(cid, "What is the weather in London?", "msg-1")
    again = stack.http.send(cid, "What is the weather in London?", "msg-1")
    assert first.status == again.status == 202
    assert first.body["id"] == again.body["id"] and again.body["turn"] == 1
    stack.http.wait(first.body["statusQueryGetUri"])
    after = stack.http.send(cid, "What is the weather in London?", "msg-1")
    assert after.status == 202 and after.body["id"] == first.body["id"]
    # The same retry sent five times at once: one turn, one instance.
    burst: list[Any] = []
    threads = [threading.Thread(target=lambda: burst.append(stack.http.send(cid, "What is the weather in Tokyo?",
                                                                            "msg-2"))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in burst] == [202] * 5 and len({r.body["id"] for r in burst}) == 1
    status, _ = stack.http.wait(burst[0].body["statusQueryGetUri"])
    assert "in Tokyo" in answer(status)
    # Even after the instance's history is purged, re-sending the message does not run the turn again.
    purged = stack.http.request("DELETE", first.body["purgeHistoryDeleteUri"])
    assert purged.status == 200, purged
    rerun = stack.http.send(cid, "What is the weather in London?", "msg-1")
    assert rerun.status == 202 and rerun.body["id"] == first.body["id"]
    status, _ = stack.http.wait(rerun.body["statusQueryGetUri"])
    assert "in London" in answer(status) and status["customStatus"].get("replayed") is True
    conflicting = stack.http.send(cid, "something else", "msg-1")
    assert conflicting.status == 409 and conflicting.body["error"]["code"] == "message_id_reused"
    body = transcript(stack.http, cid)
    assert body["turnsAccepted"] == 2 and [t["messageId"] for t in body["turns"]] == ["msg-1", "msg-2"]


def test_bad_requests_get_json_errors(stack: Stack) -> None:
    http = stack.http
    cid = http.new_conversation()
    cases = [
        (http.request("POST", f"/conversations/{cid}/messages", raw=b"{not json"), 400, "invalid_json"),
        (http.request("POST", f"/conversations/{cid}/messages", {"text": "hi"}), 400, "missing_content"),
        (http.request("POST", f"/conversations/{cid}/messages", {"content": "   "}), 400, "empty_content"),
        (http.request("POST", f"/conversations/{cid}/messages", {"content": "x" * 8001}), 413, "content_too_long"),
        (http.request("POST", "/conversations/nope/messages", {"content": "hi"}), 404, "unknown_conversation"),
        (http.request("GET", "/conversations/nope"), 404, "unknown_conversation"),
        (http.request("POST", "/tools/launch_rockets", {}), 404, "unknown_tool"),
    ]
    for resp, code, error in cases:
        assert (resp.status, resp.body["error"]["code"]) == (code, error), resp


def test_tools_endpoint_and_openapi(stack: Stack) -> None:
    http = stack.http
    ok = http.request("POST", "/tools/get_customer_info", {"customerId": "CUST002", "includeHistory": True})
    assert ok.status == 200 and ok.body["data"]["name"] == "Fabrikam Foods"
    bad = http.request("POST", "/tools/set_lamp_brightness", {"lamp": "kitchen", "brightness": 101})
    assert bad.status == 400 and bad.body["error"]["code"] == "invalid_arguments"
    assert "101 is greater than the maximum of 100" in bad.body["error"]["message"]
    assert bad.body["error"]["schema"]["properties"]["brightness"]["maximum"] == 100
    missing = http.request("POST", "/tools/get_customer_info", {"customerId": "CUST404"})
    assert missing.status == 422 and missing.body == {"success": False, "error": "customer 'CUST404' not found"}
    doc = http.request("GET", "/openapi.json").body
    assert doc["openapi"] == "3.1.0" and "/conversations/{conversationId}/messages" in doc["paths"]
    assert doc["components"]["schemas"]["tool_set_lamp"]["required"] == ["lamp", "state"]


def test_provider_faults_are_retried_and_the_deadline_cancels(azurite: AzuriteProcess, tmp_path: Path) -> None:
    scenario = write_scenarios(tmp_path, flaky=True)
    with app_stack(azurite.connection_string, tmp_path, scenario=scenario,
                   settings={"ASSISTANT_TURN_DEADLINE_SECONDS": "8"}) as s:
        cid = s.http.new_conversation()
        # The server's first two requests fail (429 with retry-after, then 500); the turn still completes.
        status, phases = run_turn(s.http, cid, "What is the weather in Tokyo? [fault:flaky]")
        assert "in Tokyo" in answer(status)
        retries = [p for p in phases if p["phase"] == "retrying"]
        assert retries and "429" in retries[0]["error"]
        # A run that never finishes is cancelled at the provider when the turn deadline passes.
        status, phases = run_turn(s.http, cid, "hello [fault:never]")
        assert status["runtimeStatus"] == "Failed"
        assert "deadline of 8s exceeded" in json.dumps(status["output"])
        assert "cancelled at the provider" in json.dumps(status["output"])
        assert phases[-1]["phase"] == "failed" and phases[-1]["reason"] == "deadline_exceeded"
        # A run that fails at the provider fails the turn clearly; the conversation goes on afterwards.
        status, _ = run_turn(s.http, cid, "hello [fault:fail]")
        assert status["runtimeStatus"] == "Failed" and "The model run failed" in json.dumps(status["output"])
        status, _ = run_turn(s.http, cid, "thanks")
        assert answer(status).startswith("Hello!")
        turns = transcript(s.http, cid)["turns"]
        assert [t["status"] for t in turns] == ["completed", "deadline_exceeded", "failed", "completed"]
        # A 4xx from the provider (here: the previous response is gone) fails the turn at once, clearly.
        settings = Settings.from_env(s.env)
        index = StorageClients(settings.storage, settings.storage_prefix).table("conversations")
        index.update_entity({"PartitionKey": cid, "RowKey": "conversation", "providerRef": "resp_gone"})
        status, phases = run_turn(s.http, cid, "thanks")
        assert status["runtimeStatus"] == "Failed"
        assert "provider returned HTTP 4" in json.dumps(status["output"])
        assert "retrying" not in [p["phase"] for p in phases]


@pytest.mark.parametrize("provider", ["threads", "chat"])
def test_other_adapters_run_the_seed_scenarios(azurite: AzuriteProcess, tmp_path: Path, provider: str) -> None:
    with app_stack(azurite.connection_string, tmp_path, provider=provider) as s:
        cid = s.http.new_conversation()
        status, _ = run_turn(s.http, cid, SEED_000)
        assert "Contoso Retail" in answer(status)
        status, _ = run_turn(s.http, cid, "What is the weather in Seattle, WA?")
        assert "74 degrees and sunny" in answer(status)
        # Two sequential tool rounds in one turn (threads: both rounds belong to the same run).
        status, _ = run_turn(s.http, cid, "Look up customer CUST002 and then analyze their orders")
        assert "Fabrikam Foods" in answer(status) and "1655" in answer(status)
        turns = transcript(s.http, cid)["turns"]
        assert [t["provider"] for t in turns] == [provider] * 3
        assert [len(t["toolCalls"]) for t in turns] == [2, 1, 2]
        assert [c["round"] for c in turns[2]["toolCalls"]] == [1, 2]
