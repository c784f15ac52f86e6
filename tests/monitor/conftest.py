"""One app stack for the monitor and CLI tests: devhost (with function keys ENFORCED, like Azure) running
function_app.py over the session Azurite, and devmodel's scripted engine (a fake model) with the seed
scenarios plus a slow one, so the phases of a turn can be watched."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.azurite import AzuriteProcess
from tests.app.scenarios import write_scenarios
from tests.app.stack import REPO_ROOT, Stack, devhost_app, devmodel

LAMPS = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."
LAMPS_ANSWER = "Both lamps are on at half brightness"
SLOW_WEATHER = "Slowly tell me the weather in Seattle, WA"
ARTIFACTS = REPO_ROOT / ".local" / "artifacts" / "monitor"


@dataclass
class KeyedStack:
    stack: Stack
    key: str
    """The function key: the app's routes (API and monitor) refuse requests without it."""

    @property
    def base_url(self) -> str:
        return self.stack.api.removesuffix("/api")

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.stack.api + path, params=params, headers={"x-functions-key": self.key}, timeout=30)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return requests.post(self.stack.api + path, json=body, headers={"x-functions-key": self.key}, timeout=30)

    def new_conversation(self) -> str:
        response = self.post("/conversations")
        assert response.status_code == 201, response.text
        return str(response.json()["conversationId"])

    def start_turn(self, conversation_id: str, content: str) -> str:
        """Send a message; returns the turn's status URL."""
        response = self.post(f"/conversations/{conversation_id}/messages", {"content": content})
        assert response.status_code == 202, response.text
        return str(response.json()["statusQueryGetUri"])

    def turn_record(self, conversation_id: str, turn: int) -> dict[str, Any] | None:
        """The turn's record in the transcript (None until it is checkpointed)."""
        turns = self.get(f"/conversations/{conversation_id}").json()["turns"]
        return next((t for t in turns if t["turn"] == turn), None)

    def run_turn(self, conversation_id: str, content: str) -> dict[str, Any]:
        response = self.post(f"/conversations/{conversation_id}/messages", {"content": content})
        assert response.status_code == 202, response.text
        status, _ = self.stack.http.wait(response.json()["statusQueryGetUri"])
        assert status["runtimeStatus"] == "Completed", status
        return status


@pytest.fixture(scope="package")
def keyed_stack(azurite: AzuriteProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedStack]:
    logs = Path(tmp_path_factory.mktemp("monitor-stack"))
    key = secrets.token_urlsafe(16)
    settings = {"DEVHOST_ENFORCE_KEYS": "1", "DEVHOST_FUNCTION_KEY": key,
                "DEVHOST_MASTER_KEY": secrets.token_urlsafe(16)}
    with devmodel(logs, scenario=write_scenarios(logs)) as model, \
            devhost_app(azurite.connection_string, logs, model, settings=settings) as stack:
        stack.http.key = key  # the turn's status URL carries no key: the caller sends its own
        yield KeyedStack(stack, key)


@pytest.fixture(scope="package")
def approval_stack(azurite: AzuriteProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedStack]:
    """Like keyed_stack, but set_lamp and the slow test tool (``echo slowly: X``, loaded from
    tests.app.fault_tools) wait for a person: any caller with the function key may decide, within 300 s."""
    logs = Path(tmp_path_factory.mktemp("approval-stack"))
    key = secrets.token_urlsafe(16)
    settings = {"DEVHOST_ENFORCE_KEYS": "1", "DEVHOST_FUNCTION_KEY": key,
                "DEVHOST_MASTER_KEY": secrets.token_urlsafe(16), "ASSISTANT_APPROVAL_REQUIRED": "set_lamp,slow_echo",
                "ASSISTANT_APPROVAL_TIMEOUT_SECONDS": "300", "ASSISTANT_TOOL_MODULES": "tests.app.fault_tools"}
    with devmodel(logs, scenario=write_scenarios(logs)) as model, \
            devhost_app(azurite.connection_string, logs, model, settings=settings) as stack:
        stack.http.key = key
        yield KeyedStack(stack, key)


@pytest.fixture(scope="package")
def lamp_turn(keyed_stack: KeyedStack) -> tuple[str, dict[str, Any]]:
    """A finished seed-002 turn: four parallel lamp tool calls. Returns (conversationId, final status)."""
    conversation_id = keyed_stack.new_conversation()
    status = keyed_stack.run_turn(conversation_id, LAMPS)
    assert LAMPS_ANSWER in status["output"]["answer"]
    return conversation_id, status
