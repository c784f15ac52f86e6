"""The monitor in a real browser: open the conversation list, follow the links to a finished lamp turn, see four
tool bars on its timeline, and watch a running turn's customStatus refresh by itself. Screenshots are kept in
.local/artifacts/monitor/ (the paths are printed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.monitor.browser import chromium
from tests.monitor.conftest import ARTIFACTS, SLOW_WEATHER, KeyedStack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def shot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, max(int(height) + 40, 600))
    assert driver.save_screenshot(str(path)), path
    print(f"screenshot: {path}")
    return path


def test_list_to_lamp_turn_timeline_with_four_tool_bars(browser: webdriver.Chrome, keyed_stack: KeyedStack,
                                                       lamp_turn: tuple[str, Any]) -> None:
    conversation_id, _ = lamp_turn
    wait = WebDriverWait(browser, 20)
    browser.get(f"{keyed_stack.stack.api}/monitor?code={keyed_stack.key}")
    assert "Conversations" in browser.title
    rows = browser.find_elements(By.CSS_SELECTOR, "#conversations tr.conversation")
    assert conversation_id in [r.get_attribute("data-conversation") for r in rows]
    assert "Turn living room lamp and kitchen lamp on" in browser.find_element(By.ID, "conversations").text
    shot(browser, "list")
    browser.find_element(By.LINK_TEXT, conversation_id).click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#turns tr.turn")))
    browser.find_element(By.LINK_TEXT, "turn 1").click()
    wait.until(ec.presence_of_element_located((By.ID, "timeline")))
    bars = browser.find_elements(By.CSS_SELECTOR, "#timeline .row.tool")
    assert sorted(b.get_attribute("data-tool") or "" for b in bars) == [
        "set_lamp", "set_lamp", "set_lamp_brightness", "set_lamp_brightness"]
    for bar in bars:  # drawn, not just present: each has a visible box on the track
        box = bar.find_element(By.CSS_SELECTOR, ".bar").rect
        assert box["width"] >= 2 and box["height"] > 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tool-calls tr.tool-call")) == 4
    assert shot(browser, "turn-timeline").stat().st_size > 10_000
    bars[0].find_element(By.CSS_SELECTOR, ".label a").click()  # a bar's label jumps to its call's arguments
    assert browser.current_url.endswith("#call-1")


def test_running_turn_page_refreshes_live_until_it_completes(browser: webdriver.Chrome,
                                                            keyed_stack: KeyedStack) -> None:
    conversation_id = keyed_stack.new_conversation()
    sent = keyed_stack.post(f"/conversations/{conversation_id}/messages", {"content": SLOW_WEATHER})
    assert sent.status_code == 202, sent.text
    # The scripted model takes 2.5 s: the page opens while the turn runs, then updates in place.
    browser.get(f"{keyed_stack.stack.api}/monitor/conversations/{conversation_id}/turns/1?code={keyed_stack.key}")
    assert browser.find_element(By.ID, "live").get_attribute("data-live") == "true"
    first_page = browser.find_element(By.ID, "live")
    seen: set[str] = set()

    def phase_is_completed(driver: webdriver.Chrome) -> bool:
        phases = driver.find_elements(By.ID, "phase")
        if phases:
            seen.add(phases[0].text)
        return bool(phases) and phases[0].text == "completed"

    WebDriverWait(browser, 60, poll_frequency=0.1,
                  ignored_exceptions=(StaleElementReferenceException,)).until(phase_is_completed)
    assert seen - {"completed"}, f"only saw {seen}"
    live = browser.find_element(By.ID, "live")
    assert live.get_attribute("data-live") == "false"
    assert ec.staleness_of(first_page)(browser)  # the live part was swapped in ...
    assert "Seattle" in browser.find_element(By.ID, "answer").text
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline .row.tool[data-tool=get_weather]")
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == 1  # ... in place
    shot(browser, "turn-live-finished")
