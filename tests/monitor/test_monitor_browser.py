"""The monitor in a real browser: open the conversation list, follow the links to a finished lamp turn, see four
tool bars on its timeline, and watch a running turn's customStatus refresh by itself. Screenshots are kept in
.local/artifacts/monitor/ (the paths are printed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
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
    bars[0].find_element(By.CSS_SELECTOR, ".label a").click()  # a bar's label jumps to its call's arguments
    assert browser.current_url.split("#")[-1].startswith("call-")
    assert shot(browser, "turn-timeline").stat().st_size > 10_000


def test_running_turn_page_refreshes_live_until_it_completes(browser: webdriver.Chrome,
                                                            keyed_stack: KeyedStack) -> None:
    conversation_id = keyed_stack.new_conversation()
    done = threading.Event()

    def send_and_wait() -> None:
        keyed_stack.run_turn(conversation_id, SLOW_WEATHER)
        done.set()

    worker = threading.Thread(target=send_and_wait)
    worker.start()
    try:
        browser.get(f"{keyed_stack.stack.api}/monitor/conversations/{conversation_id}/turns/1?code={keyed_stack.key}")
        wait = WebDriverWait(browser, 30, poll_frequency=0.1)
        # The page was served while the turn ran (the scripted model takes 2.5 s) and then updates in place.
        wait.until(lambda d: d.find_element(By.ID, "live").get_attribute("data-live") == "true"
                   or done.is_set())
        assert not done.is_set(), "the turn finished before the page could show it running"
        seen: set[str] = set()

        def phase_is_completed(driver: webdriver.Chrome) -> bool:
            phases = driver.find_elements(By.ID, "phase")
            if phases:
                seen.add(phases[0].text)
            return bool(phases) and phases[0].text == "completed"

        wait.until(phase_is_completed)
        assert seen - {"completed"}, f"only saw {seen}"
        assert browser.find_element(By.ID, "live").get_attribute("data-live") == "false"
        assert "Seattle" in browser.find_element(By.ID, "answer").text
        assert browser.find_elements(By.CSS_SELECTOR, "#timeline .row.tool[data-tool=get_weather]")
        shot(browser, "turn-live-finished")
    finally:
        worker.join(timeout=60)
