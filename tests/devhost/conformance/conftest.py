"""Fixtures: one devhost per test module (unique task hub, conformance app, session Azurite), killed at teardown."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.devhost_launcher import CONFORMANCE_APP_DIR, DevhostConfig, DevhostProcess
from devhost.azurite import AzuriteProcess

from ._http import TERMINAL, HttpResult, call, status_url, wait_for_status
from ._tables import TaskHubTables, event_rows, status_history_from_rows


def unique_hub(label: str) -> str:
    """Task hub names: alphanumeric, start with a letter, at most 45 characters (spec section 8)."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", label.replace("test_", ""))[:24]
    return f"conf{cleaned}{uuid.uuid4().hex[:8]}"


@dataclass
class Conformance:
    """A running devhost with the conformance app, and the ways the tests reach it."""

    devhost: DevhostProcess
    tables: TaskHubTables
    state_dir: Path

    @property
    def hub(self) -> str:
        return self.devhost.config.hub

    @property
    def api(self) -> str:
        return self.devhost.api_url

    @property
    def webhooks(self) -> str:
        return self.devhost.webhook_url

    def start(self, orchestrator: str, payload: Any = None, instance_id: str | None = None) -> HttpResult:
        """Start through the app's HTTP starter, i.e. the real DurableOrchestrationClient.start_new."""
        url = f"{self.api}/orchestrators/{orchestrator}"
        if instance_id:
            url += f"?instanceId={instance_id}"
        result = call("POST", url, json_body=payload)
        assert result.status == 202, f"starter answered {result.status}: {result.body[:500]!r}\n{self.log_tail()}"
        return result

    def start_id(self, orchestrator: str, payload: Any = None, instance_id: str | None = None) -> str:
        return str(self.start(orchestrator, payload, instance_id).json()["id"])

    def wait(self, instance_id: str, wanted: frozenset[str] = TERMINAL, timeout: float = 60.0) -> dict[str, Any]:
        try:
            return wait_for_status(self.webhooks, instance_id, wanted, timeout=timeout, show_history=True)
        except AssertionError as err:
            raise AssertionError(f"{err}\n--- devhost log tail ---\n{self.log_tail()}") from None

    def run(self, orchestrator: str, payload: Any = None, timeout: float = 60.0) -> tuple[str, dict[str, Any]]:
        instance_id = self.start_id(orchestrator, payload)
        return instance_id, self.wait(instance_id, timeout=timeout)

    def client_status(self, instance_id: str) -> HttpResult:
        """The status as the SDK's DurableOrchestrationClient.get_status sees it (via a client-bound function)."""
        return call("GET", f"{self.api}/client/status/{instance_id}")

    def assert_status_history(self, instance_id: str) -> list[dict[str, Any]]:
        """The status API's historyEvents must be the spec-5 transformation of the History table rows."""
        status = call("GET", status_url(self.webhooks, instance_id, showHistory="true", showHistoryOutput="true"))
        assert status.status in (200, 202), status.body[:300]
        events: list[dict[str, Any]] = status.json()["historyEvents"]
        rows = event_rows(self.tables.dfm_history(instance_id))
        actual = [(e["EventType"], e.get("FunctionName", e.get("Name"))) for e in events]
        assert actual == status_history_from_rows(rows)
        return events

    def log_tail(self) -> str:
        return self.devhost.log_tail()


def launch(azurite: AzuriteProcess, tmp: Path, label: str) -> DevhostProcess:
    state_dir = tmp / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    config = DevhostConfig(
        app_dir=CONFORMANCE_APP_DIR,
        storage=azurite.connection_string,
        hub=unique_hub(label),
        log_path=tmp / "devhost.log",
        verbose=True,
        extra_env={"CONFORMANCE_STATE_DIR": str(state_dir), "AzureWebJobsStorage": azurite.connection_string},
    )
    return DevhostProcess(config)


@pytest.fixture(scope="module")
def conformance(
    request: pytest.FixtureRequest, azurite: AzuriteProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Conformance]:
    label = request.module.__name__.rsplit(".", 1)[-1]
    tmp = tmp_path_factory.mktemp(label)
    devhost = launch(azurite, tmp, label)
    devhost.start()
    try:
        yield Conformance(devhost, TaskHubTables(azurite.connection_string, devhost.config.hub), tmp / "state")
    finally:
        devhost.kill()
