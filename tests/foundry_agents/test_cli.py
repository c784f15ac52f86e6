"""The agent CLI against devmodel's Foundry project endpoint (classic agents and the new agents API), through the
official SDKs it uses: sync is idempotent, updates follow the app's settings, delete and cleanup remove things."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from devhost.azurite import AzuriteProcess, free_port
from devmodel import DevModelProcess
from foundry_agents.cli import main

KEY = "cli-test-key"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevModelProcess]:
    log = Path(tmp_path_factory.mktemp("cli")) / "devmodel.log"
    with DevModelProcess(port=free_port(), args=["--api-key", KEY], log_path=log) as server:
        yield server


def endpoint(model: DevModelProcess) -> str:
    return model.base_url.removesuffix("/v1") + "/api/projects/local"


@pytest.fixture
def env(azurite: AzuriteProcess) -> dict[str, str]:
    return {"AzureWebJobsStorage": azurite.connection_string, "ASSISTANT_TOOL_QUEUE_PREFIX": "cli",
            "ASSISTANT_MODEL": "gpt-4.1-mini"}


def cli(model: DevModelProcess, env: dict[str, str], capsys: pytest.CaptureFixture[str], *args: str,
        api: str = "classic", expect: int = 0) -> Any:
    code = main(["--endpoint", endpoint(model), "--api", api, "--api-key", KEY, "--json", *args], env=env)
    out, err = capsys.readouterr()
    assert code == expect, err
    return json.loads(out) if code == 0 and out.strip() else err


def test_classic_sync_twice_changes_nothing_then_follows_the_settings(
        model: DevModelProcess, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    name = "t-" + uuid.uuid4().hex[:8]
    created = cli(model, env, capsys, "sync", "--name", name)
    assert created["outcome"] == "created" and created["id"].startswith("asst_")
    assert created["model"] == "gpt-4.1-mini"
    assert created["tools"] == [f"{t} (azure_function)" for t in
                                ["analyze_metrics", "get_customer_info", "get_weather", "set_lamp",
                                 "set_lamp_brightness"]]
    raw = cli(model, env, capsys, "show", created["id"])
    weather = next(t for t in raw["tools"] if t["azure_function"]["function"]["name"] == "get_weather")
    assert weather["azure_function"]["input_binding"]["storage_queue"]["queue_name"] == "cli-get-weather-input"
    again = cli(model, env, capsys, "sync", "--name", name)
    assert again["outcome"] == "unchanged" and again["id"] == created["id"]
    assert cli(model, env, capsys, "show", created["id"]) == raw  # not even touched
    changed = cli(model, {**env, "ASSISTANT_INSTRUCTIONS": "Only talk about lamps."}, capsys, "sync", "--name", name)
    assert changed["outcome"] == "updated" and changed["id"] == created["id"]
    assert cli(model, env, capsys, "show", name)["instructions"] == "Only talk about lamps."
    no_storage = {k: v for k, v in env.items() if k != "AzureWebJobsStorage"}
    assert "no storage configured" in cli(model, no_storage, capsys, "sync", "--name", name, expect=2)
    functions = cli(model, no_storage, capsys, "sync", "--name", name, "--tools", "function")
    assert functions["outcome"] == "updated" and all(t.endswith("(function)") for t in functions["tools"])
    listed = [a for a in cli(model, env, capsys, "list") if a["name"] == name]
    assert len(listed) == 1
    assert cli(model, env, capsys, "delete", name) == {"deleted": created["id"]}
    assert name not in [a["name"] for a in cli(model, env, capsys, "list")]
    assert "no agent" in cli(model, env, capsys, "delete", name, expect=2)


def test_agents_api_sync_adds_a_version_only_when_the_definition_changes(
        model: DevModelProcess, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    name = "v-" + uuid.uuid4().hex[:8]
    created = cli(model, env, capsys, "sync", "--name", name, api="agents")
    assert (created["outcome"], created["id"], created["version"]) == ("created", name, "1")
    assert cli(model, env, capsys, "sync", "--name", name, api="agents")["version"] == "1"
    function = cli(model, env, capsys, "sync", "--name", name, "--tools", "function", api="agents")
    assert (function["outcome"], function["version"]) == ("updated", "2")
    raw = cli(model, env, capsys, "show", name, api="agents")
    tool = raw["versions"]["latest"]["definition"]["tools"][0]
    assert set(tool) == {"type", "name", "description", "parameters"}  # the flat Responses shape
    assert cli(model, env, capsys, "delete", name, api="agents") == {"deleted": name}
    assert "no agent" in cli(model, env, capsys, "show", name, api="agents", expect=2)


def test_cleanup_deletes_threads_and_responses(model: DevModelProcess, env: dict[str, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    client = OpenAI(base_url=model.base_url, api_key=KEY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        thread = client.beta.threads.create()
    response = client.responses.create(model="devmodel", input="hello")
    report = cli(model, env, capsys, "cleanup", "--thread", thread.id, "--response", response.id,
                 "--response", "resp_missing")
    assert report == {"threads": {thread.id: True}, "responses": {response.id: True, "resp_missing": False}}
    with pytest.raises(openai.NotFoundError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.beta.threads.retrieve(thread.id)
    assert "nothing to clean up" in cli(model, env, capsys, "cleanup", expect=2)


def test_bad_input_and_an_unreachable_provider_exit_non_zero(
        model: DevModelProcess, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        foreign = OpenAI(base_url=model.base_url, api_key=KEY).beta.assistants.create(model="x", name="foreign")
    assert "not created by this tool" in cli(model, env, capsys, "delete", foreign.id, expect=2)
    assert "ASSISTANT_TOOL_QUEUES" in cli(model, {**env, "ASSISTANT_TOOL_QUEUES": "[1]"}, capsys, "sync", expect=2)
    code = main(["--endpoint", f"http://127.0.0.1:{free_port()}/api/projects/x", "--api-key", KEY, "list"], env=env)
    assert code == 1 and "the provider failed" in capsys.readouterr().err
