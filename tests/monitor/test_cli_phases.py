"""customStatus in the CLI's words: known phases read naturally, unknown ones by name with their fields."""

from __future__ import annotations

import pytest

from assistant_cli.client import CliError, api_base
from assistant_cli.phases import describe, pending_approvals

BASE = {"conversationId": "c", "turn": 1}


def test_known_phases() -> None:
    assert describe({**BASE, "phase": "creating_run", "reads": 0}) == "creating the run"
    assert describe({**BASE, "phase": "waiting_for_run", "reads": 3, "runStatus": "in_progress", "runId": "r1",
                     "nextReadSeconds": 4.0, "webhooks": True}) == (
        "the model is working (run in_progress, 3 status reads, next read in 4 s or a webhook)")
    assert describe({**BASE, "phase": "running_tools", "tools": ["set_lamp", "set_lamp"], "reads": 1}) == (
        "running tools: set_lamp, set_lamp")
    assert describe({**BASE, "phase": "retrying", "step": "create_run", "retryAfter": 1, "attempt": 2,
                     "error": "429"}) == "retrying create_run in 1 s  · attempt=2 · error=429"


def test_awaiting_approval_names_the_calls_who_decides_and_what_runs_meanwhile() -> None:
    custom = {**BASE, "phase": "awaiting_approval", "runId": "r1", "approvers": "any caller with the function key",
              "tools": ["get_weather"], "pendingApprovals": [
                  {"approvalId": "1.1", "tool": "set_lamp", "arguments": '{"lamp": "kitchen"}', "expiresAt": "x"}]}
    assert describe(custom) == ("waiting for approval of set_lamp (approvers: any caller with the function key); "
                                "running meanwhile: get_weather")
    assert describe({**custom, "approvers": ["alice", "bob"], "tools": []}) == (
        "waiting for approval of set_lamp (approvers: alice, bob)")


def test_unknown_phase_shows_its_name_and_fields_and_approvals_are_found() -> None:
    custom = {**BASE, "phase": "waiting_for_webhook", "since": "12:00", "pending": [1, 2],
              "pendingApprovals": [{"name": "set_lamp", "arguments": {"lamp": "kitchen"}}, "call_7"]}
    assert describe(custom) == "waiting for webhook  · since=12:00 · pending=[1, 2]"
    assert pending_approvals(custom) == [{"name": "set_lamp", "arguments": {"lamp": "kitchen"}}, {"call": "call_7"}]
    assert pending_approvals({"phase": "waiting_for_run"}) == [] and describe(None) == "" and describe("text") == "text"


def test_base_url_forms() -> None:
    for url in ("http://h:7071", "http://h:7071/", "http://h:7071/api", "http://h:7071/api/"):
        assert api_base(url) == "http://h:7071/api"
    with pytest.raises(CliError) as refused:
        api_base("h:7071")
    assert refused.value.exit_code == 2
