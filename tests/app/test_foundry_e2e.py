"""Foundry agents end to end: function_app.py on devhost + Azurite serves its tools over Storage queues; devmodel
plays Foundry Agent Service (threads/runs) and calls the agent's azure_function tools through those queues; the
agent is created by ``python -m foundry_agents sync`` from the app's own settings and tool registry.

Also the queue contract through the host itself: both message encodings, the poison queue for messages that
cannot be answered."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient
from openai import OpenAI

from devhost.azurite import AzuriteProcess
from durable_assistant.config import Settings
from durable_assistant.storage_clients import StorageClients
from durable_assistant.tools import LEDGER_TABLE, ToolContext, lamp_states
from tests.app.stack import REPO_ROOT, DevModel, Stack, devhost_app, devmodel

pytestmark = pytest.mark.slow

SEED_000 = "Can you get information for customer ID CUST001 and analyze our sales metrics for last month?"
SEED_002 = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."


def project_endpoint(model: DevModel) -> str:
    return model.base_url.removesuffix("/v1") + "/api/projects/local"


def agent_cli(model: DevModel, env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run ``python -m foundry_agents --json ...`` as a user would, with the app's settings in the environment."""
    done = subprocess.run([sys.executable, "-m", "foundry_agents", "--endpoint", project_endpoint(model), "--json",
                           *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def foundry(azurite: AzuriteProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = Path(tmp_path_factory.mktemp("foundry"))
    prefix = "q" + uuid.uuid4().hex[:8]
    app_settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        "ASSISTANT_STORAGE_PREFIX": "a" + uuid.uuid4().hex[:10],
        "ASSISTANT_TOOL_QUEUE_PREFIX": prefix,
        # Quick poison path for the test: no wait between attempts, two attempts.
        "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:00",
        "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "2",
    }
    with devmodel(logs, extra_args=["--queue-storage", azurite.connection_string,
                                    "--azure-function-timeout-seconds", "30"]) as model:
        import os

        cli_env = {**os.environ, **app_settings}
        synced = agent_cli(model, cli_env, "sync", "--tools", "azure_function")
        settings = {**app_settings, "ASSISTANT_AGENT_ID": synced["id"], "ASSISTANT_RUN_TOOLS": "agent"}
        with devhost_app(azurite.connection_string, logs, model, provider="threads", settings=settings) as stack:
            yield stack


def _answer(stack: Stack, content: str, cid: str | None = None) -> tuple[str, dict[str, Any]]:
    cid = cid or stack.http.new_conversation()
    resp = stack.http.send(cid, content)
    assert resp.status == 202, resp
    status, _ = stack.http.wait(resp.body["statusQueryGetUri"], timeout=90)
    assert status["runtimeStatus"] == "Completed", status
    turn = stack.http.request("GET", f"/conversations/{cid}").body["turns"][-1]
    return str(status["output"]["answer"]), turn


def _ledger(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    settings = Settings.from_env(stack.env)
    table = StorageClients(settings.storage, settings.storage_prefix).table(LEDGER_TABLE)
    rows: dict[str, list[dict[str, Any]]] = {}
    try:
        for row in table.list_entities():
            rows.setdefault(row["PartitionKey"], []).append(dict(row))
    except ResourceNotFoundError:  # created by the first queue call
        pass
    return rows


def test_weather_turn_through_a_threads_agent_is_answered_by_the_queue_function(foundry: Stack) -> None:
    before = {k: len(v) for k, v in _ledger(foundry).items()}
    cid = foundry.http.new_conversation()
    text, turn = _answer(foundry, "What's the weather in Seattle, WA?", cid)
    assert "Weather is 74 degrees and sunny in Seattle, WA" in text
    # The service ran the tool: the app's orchestration saw no requires_action round ...
    assert turn["toolCalls"] == [] and turn["status"] == "completed"
    # ... and the queue function answered it (its ledger holds the CorrelationId devmodel put on the queue).
    assert len(_ledger(foundry)["get_weather"]) == before.get("get_weather", 0) + 1
    # A second turn goes on in the same thread; then the CLI cleans up what the conversation created.
    _, second = _answer(foundry, "thank you", cid)
    thread = turn["providerIds"][0]
    assert thread.startswith("thread_") and second["providerIds"][0] == thread
    env = {**foundry.env, "PYTHONPATH": str(REPO_ROOT)}
    report = agent_cli(foundry.model, env, "cleanup", "--app", foundry.api, "--conversation", cid)
    assert report == {"threads": {thread: True}, "responses": {}}
    client = OpenAI(base_url=foundry.model.base_url, api_key="local-dev-key")
    with pytest.raises(openai.NotFoundError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.beta.threads.retrieve(thread)


def test_the_other_seeds_run_their_tools_over_the_queues_in_parallel(foundry: Stack) -> None:
    text, turn = _answer(foundry, SEED_000)
    assert "Contoso Retail" in text and "74200" in text and turn["toolCalls"] == []
    text, _ = _answer(foundry, SEED_002)
    assert "Both lamps are on at half brightness" in text
    settings = Settings.from_env(foundry.env)
    lamps = lamp_states(ToolContext(StorageClients(settings.storage, settings.storage_prefix), "read"))
    assert lamps["living room"] == {"on": True, "brightness": 50} and lamps["kitchen"] == {"on": True,
                                                                                            "brightness": 50}
    ledger = _ledger(foundry)
    assert {"get_customer_info", "analyze_metrics", "set_lamp", "set_lamp_brightness"} <= set(ledger)
    assert len(ledger["set_lamp"]) >= 2


def _queue(stack: Stack, name: str) -> QueueClient:
    return QueueClient.from_connection_string(stack.env["AzureWebJobsStorage"], name)


def _wait_messages(client: QueueClient, count: int, timeout: float = 30.0) -> list[str]:
    found: list[str] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        for message in client.receive_messages(max_messages=32):
            found.append(str(message.content))
            client.delete_message(message)
        time.sleep(0.1)
    return found


def test_the_host_serves_both_encodings_and_poisons_what_cannot_be_answered(foundry: Stack) -> None:
    prefix = foundry.env["ASSISTANT_TOOL_QUEUE_PREFIX"]
    inp = _queue(foundry, f"{prefix}-get-weather-input")
    out = _queue(foundry, f"{prefix}-get-weather-output")
    inp.send_message(json.dumps({"location": "London", "CorrelationId": "host-plain"}))
    inp.send_message(base64.b64encode(json.dumps({"location": "Seattle, WA",
                                                  "CorrelationId": "host-b64"}).encode()).decode())
    inp.send_message(json.dumps({"CorrelationId": "host-bad"}))
    inp.send_message(json.dumps({"location": "London"}))  # no CorrelationId: nobody could match an answer
    answers = {a["CorrelationId"]: a["Value"] for a in (json.loads(base64.b64decode(m))
                                                        for m in _wait_messages(out, 3))}
    assert json.loads(answers["host-plain"])["data"]["condition"] == "light rain"
    assert "Seattle, WA" in json.loads(answers["host-b64"])["data"]["summary"]
    assert json.loads(answers["host-bad"])["error"].startswith("invalid arguments")
    poisoned = _wait_messages(_queue(foundry, f"{prefix}-get-weather-input-poison"), 1)
    assert [json.loads(p) for p in poisoned] == [{"location": "London"}]
