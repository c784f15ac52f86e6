"""A person's control in the web monitor, in headless Chromium against the real stack (devhost with keys
enforced, set_lamp and slow_echo under the approval policy): Approve and Deny with a reason on a turn page, Cancel
on a running turn, and the conversation page listing pending approvals (model-made arguments shown as text, never
as HTML). Every outcome is asserted through the app's API too. Screenshots in .local/artifacts/monitor/."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.monitor.browser import chromium
from tests.monitor.conftest import LAMPS, KeyedStack
from tests.monitor.test_monitor_browser import shot

pytestmark = pytest.mark.slow

T = TypeVar("T")
PERSON = "browser-tester"


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def until(browser: webdriver.Chrome, probe: Callable[[webdriver.Chrome], T], timeout: float = 60) -> T:
    """Wait for a probe of a live page (its part is swapped every second, so elements go stale or are, for a
    moment, not yet interactable)."""
    found: T = WebDriverWait(browser, timeout, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException, ElementNotInteractableException,
                                                 ElementClickInterceptedException)).until(probe)
    return found


def approvals(stack: KeyedStack, conversation_id: str) -> list[dict[str, Any]]:
    response = stack.get(f"/conversations/{conversation_id}/approvals", status="all")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["approvals"]
    return found


def wait_for_requests(stack: KeyedStack, conversation_id: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(approvals(stack, conversation_id)) < count:
        assert time.monotonic() < deadline, "the turn never asked for approval"
        time.sleep(0.2)


def act(browser: webdriver.Chrome, css: str, action: Callable[[WebElement], None]) -> None:
    """Find and act on an element; if the live refresh swapped it meanwhile, find it again and retry."""
    def attempt(driver: webdriver.Chrome) -> bool:
        action(driver.find_element(By.CSS_SELECTOR, css))
        return True
    until(browser, attempt)


def type_into(browser: webdriver.Chrome, css: str, text: str) -> None:
    def replace(field: WebElement) -> None:
        field.clear()
        field.send_keys(text)
    act(browser, css, replace)


def sign_as(browser: webdriver.Chrome, name: str) -> None:
    """The page's "decide as" field (the page remembers the last name used, in localStorage)."""
    type_into(browser, "input[data-keep=by]", name)


def row(browser: webdriver.Chrome, approval_id: str) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, f'#approvals tr.approval[data-approval="{approval_id}"]')


def result_for(browser: webdriver.Chrome, what: str) -> str:
    """What the page says back about an action (the #action-result line), once it is about ``what``."""
    def said(driver: webdriver.Chrome) -> str | None:
        text = str(driver.find_element(By.ID, "action-result").text)
        return text if text.startswith(what) else None
    text = until(browser, said)
    assert text is not None
    return text


def decide(browser: webdriver.Chrome, approval_id: str, button: str, reason: str) -> str:
    """Type a reason, click the button, and return what the page says back."""
    selector = f'#approvals tr.approval[data-approval="{approval_id}"]'
    type_into(browser, f"{selector} input[name=reason]", reason)
    time.sleep(1.5)  # at least one live refresh while the reason sits in the field: it must survive the swap
    until(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"{selector} input[name=reason]").get_attribute(
        "value") == reason, timeout=5)
    act(browser, f"{selector} button.{button}", lambda b: b.click())
    return result_for(browser, approval_id)


def test_approve_and_deny_on_the_turn_page(browser: webdriver.Chrome, approval_stack: KeyedStack) -> None:
    conversation_id = approval_stack.new_conversation()
    status_url = approval_stack.start_turn(conversation_id, LAMPS)
    wait_for_requests(approval_stack, conversation_id, 2)
    browser.get(f"{approval_stack.stack.api}/monitor/conversations/{conversation_id}/turns/1"
                f"?code={approval_stack.key}")
    until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#approvals button.approve")) == 2)
    sign_as(browser, PERSON)
    shot(browser, "approvals-waiting")
    assert decide(browser, "1.1", "approve", "living room is fine") == f"1.1 set_lamp: approved by {PERSON}"
    # The live part shows the decision at once, from the approvals table (not only after the turn moves on).
    until(browser, lambda d: row(d, "1.1").get_attribute("data-status") == "approved")
    assert "living room is fine" in row(browser, "1.1").text and PERSON in row(browser, "1.1").text
    assert browser.find_element(By.CSS_SELECTOR, "input[data-keep=by]").get_attribute("value") == PERSON
    assert decide(browser, "1.2", "deny", "kitchen stays dark") == f"1.2 set_lamp: denied by {PERSON}"
    until(browser, lambda d: d.find_element(By.ID, "phase").text == "completed")
    assert browser.find_element(By.ID, "live").get_attribute("data-live") == "false"
    assert not browser.find_elements(By.CSS_SELECTOR, "#approvals button")
    # The transcript view: each call's decision, who, when and why.
    calls = browser.find_element(By.ID, "tool-calls").text
    assert f"approved by {PERSON}" in calls and f"denied by {PERSON}" in calls and "kitchen stays dark" in calls
    shot(browser, "approvals-decided")

    decided = approvals(approval_stack, conversation_id)
    assert [(a["approvalId"], a["status"], a["decidedBy"], a["reason"]) for a in decided] == [
        ("1.1", "approved", PERSON, "living room is fine"), ("1.2", "denied", PERSON, "kitchen stays dark")]
    final, _ = approval_stack.stack.http.wait(status_url)
    assert final["output"]["status"] == "completed"
    record = approval_stack.turn_record(conversation_id, 1)
    assert record is not None
    assert [c["ok"] for c in record["toolCalls"] if c["name"] == "set_lamp"] == [True, False]


def test_cancel_a_running_turn_from_its_page(browser: webdriver.Chrome, approval_stack: KeyedStack) -> None:
    conversation_id = approval_stack.new_conversation()
    approval_stack.start_turn(conversation_id, "Turn the kitchen lamp on and tell me the weather")
    wait_for_requests(approval_stack, conversation_id, 1)  # running: it waits for a person
    browser.get(f"{approval_stack.stack.api}/monitor/conversations/{conversation_id}/turns/1"
                f"?code={approval_stack.key}")
    until(browser, lambda d: d.find_element(By.ID, "cancel-turn"))
    sign_as(browser, "night-operator")
    type_into(browser, "input[data-keep=cancel-reason]", "wrong lamp")
    act(browser, "#cancel-turn", lambda b: b.click())
    WebDriverWait(browser, 10).until(ec.alert_is_present())
    alert = browser.switch_to.alert
    assert "Cancel turn 1?" in alert.text
    alert.accept()
    assert result_for(browser, "turn 1") == "turn 1: cancelling"
    cancelled = until(browser, lambda d: d.find_element(By.ID, "cancelled").text)
    assert cancelled.startswith("by night-operator") and "wrong lamp" in cancelled
    assert not browser.find_elements(By.ID, "cancel-turn")
    until(browser, lambda d: row(d, "1.1").get_attribute("data-status") == "cancelled")
    shot(browser, "turn-cancelled")

    record = approval_stack.turn_record(conversation_id, 1)
    assert record is not None and record["status"] == "cancelled"
    assert (record["cancelledBy"], record["cancelReason"]) == ("night-operator", "wrong lamp")
    assert [a["status"] for a in approvals(approval_stack, conversation_id)] == ["cancelled"]


def test_conversation_page_lists_pending_approvals_as_text(browser: webdriver.Chrome,
                                                          approval_stack: KeyedStack) -> None:
    conversation_id = approval_stack.new_conversation()
    text = '<img src=x onerror="document.title=1"><b>bold</b>'
    approval_stack.start_turn(conversation_id, f"echo slowly: {text}")
    wait_for_requests(approval_stack, conversation_id, 1)
    page = requests.get(f"{approval_stack.stack.api}/monitor/conversations/{conversation_id}",
                        params={"code": approval_stack.key}, timeout=30)
    assert page.status_code == 200 and "<img src=x" not in page.text and "&lt;img src=x" in page.text
    browser.get(f"{approval_stack.stack.api}/monitor/conversations/{conversation_id}?code={approval_stack.key}")
    listed = until(browser, lambda d: row(d, "1.1"))
    assert "slow_echo" in listed.text and "turn 1" in listed.text
    arguments = json.loads(listed.find_element(By.TAG_NAME, "pre").text)
    assert arguments["text"] == text  # shown as the model wrote it ...
    assert not browser.find_elements(By.CSS_SELECTOR, "#approvals img, #approvals pre b")  # ... never as HTML
    assert browser.title.startswith("Conversation")
    sign_as(browser, "reviewer")
    assert decide(browser, "1.1", "approve", "echo it") == "1.1 slow_echo: approved by reviewer"
    until(browser, lambda d: not d.find_elements(By.ID, "approvals"))  # nothing left to decide
    [decided] = approvals(approval_stack, conversation_id)
    assert (decided["status"], decided["decidedBy"], decided["reason"]) == ("approved", "reviewer", "echo it")
