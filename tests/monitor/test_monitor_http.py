"""The monitor's pages and GET /api/conversations over HTTP, served by function_app.py on devhost with function
keys enforced; the timeline drawn from the real orchestration history of a seed-002 lamp turn."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from tests.monitor.conftest import LAMPS, SLOW_WEATHER, KeyedStack

pytestmark = pytest.mark.slow

TOOL_ROW = re.compile(r'<div class="row activity completed tool[^"]*"[^>]*data-tool="([^"]+)"')


def test_conversation_list_route_is_paged_newest_first_and_keyed(keyed_stack: KeyedStack) -> None:
    first, second = keyed_stack.new_conversation(), keyed_stack.new_conversation()
    page = keyed_stack.get("/conversations", top=1)
    assert page.status_code == 200, page.text
    body = page.json()
    assert [c["conversationId"] for c in body["conversations"]] == [second] and body["continuationToken"]
    following = keyed_stack.get("/conversations", top=1, continuationToken=body["continuationToken"]).json()
    assert following["conversations"][0]["conversationId"] == first
    bad = keyed_stack.get("/conversations", top=500)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_top"
    assert requests.get(keyed_stack.stack.api + "/conversations", timeout=10).status_code == 401
    spec = requests.get(keyed_stack.stack.api + "/openapi.json", timeout=10).json()
    assert "get" in spec["paths"]["/conversations"] and "ConversationPage" in spec["components"]["schemas"]


def test_pages_need_the_key_and_links_carry_it(keyed_stack: KeyedStack, lamp_turn: tuple[str, Any]) -> None:
    conversation_id, _ = lamp_turn
    assert requests.get(keyed_stack.stack.api + "/monitor", timeout=10).status_code == 401
    listing = requests.get(keyed_stack.stack.api + "/monitor", params={"code": keyed_stack.key}, timeout=30)
    assert listing.status_code == 200 and listing.headers["Content-Type"].startswith("text/html")
    assert f'href="/api/monitor/conversations/{conversation_id}?code={keyed_stack.key}"' in listing.text
    page = keyed_stack.get(f"/monitor/conversations/{conversation_id}")
    assert page.status_code == 200 and LAMPS in page.text
    assert "set_lamp, set_lamp, set_lamp_brightness, set_lamp_brightness" in page.text
    assert 'data-live="false"' in page.text


def test_turn_page_draws_four_parallel_tool_bars_from_the_real_history(keyed_stack: KeyedStack,
                                                                       lamp_turn: tuple[str, Any]) -> None:
    conversation_id, _ = lamp_turn
    page = keyed_stack.get(f"/monitor/conversations/{conversation_id}/turns/1")
    assert page.status_code == 200, page.text
    html = page.text
    assert sorted(TOOL_ROW.findall(html)) == ["set_lamp", "set_lamp", "set_lamp_brightness", "set_lamp_brightness"]
    lefts = re.findall(r'data-tool="[^"]+" data-state="completed">.*?<div class="bar" style="left:([\d.]+)%',
                       html, flags=re.S)
    assert len(lefts) == 4 and max(map(float, lefts)) - min(map(float, lefts)) < 10  # started together
    for name in ("create_run", "submit_outputs", "checkpoint"):  # today's names; the page draws any name
        assert f'data-label="{name}"' in html
    assert html.count('class="tool-call"') == 4 and "living room" in html
    assert 'id="phase">completed<' in html and 'data-live="false"' in html
    fragment = keyed_stack.get(f"/monitor/conversations/{conversation_id}/turns/1", fragment="1").text
    assert fragment.lstrip().startswith('<div id="live"') and "<html" not in fragment


def test_unknown_conversation_and_turn_are_404_pages(keyed_stack: KeyedStack, lamp_turn: tuple[str, Any]) -> None:
    conversation_id, _ = lamp_turn
    for path in ("/monitor/conversations/nope", f"/monitor/conversations/{conversation_id}/turns/9",
                 f"/monitor/conversations/{conversation_id}/turns/x"):
        response = keyed_stack.get(path)
        assert response.status_code == 404 and "Not found" in response.text, path


def test_a_waiting_turn_shows_its_durable_timers_and_the_event_that_woke_it(keyed_stack: KeyedStack) -> None:
    conversation_id = keyed_stack.new_conversation()
    first = keyed_stack.post(f"/conversations/{conversation_id}/messages", {"content": SLOW_WEATHER})
    second = keyed_stack.post(f"/conversations/{conversation_id}/messages", {"content": LAMPS})
    assert first.status_code == second.status_code == 202
    for accepted in (first, second):
        status, _ = keyed_stack.stack.http.wait(accepted.json()["statusQueryGetUri"])
        assert status["runtimeStatus"] == "Completed", status
    html = keyed_stack.get(f"/monitor/conversations/{conversation_id}/turns/2").text
    # Turn 2 waited for turn 1 (2.5 s of model time): create_run said not_ready, then the orchestration raced a
    # durable timer against the external event turn 1's checkpoint raises.
    assert 'data-kind="timer"' in html and 'data-event="turn_ready"' in html
    assert html.count('data-label="create_run"') >= 2 and len(TOOL_ROW.findall(html)) == 4
