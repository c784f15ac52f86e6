"""Injected HTTP faults, authentication and malformed requests: status codes, headers and the error JSON shape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AzureOpenAI, OpenAI
from openai.types import Model

from devhost.azurite import free_port
from devmodel import DevModelProcess, DevModelStartError

from .conftest import StartServer
from .support import API_KEY, WEATHER_TOOL, make_client, nested, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks Assistants deprecated


def _raw(server: DevModelProcess, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://{server.host}:{server.port}{path}", data=body, method=method,
                                     headers={"Authorization": f"Bearer {API_KEY}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_rate_limit_marker_is_a_429_with_retry_after_seen_by_the_sdk(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="m", input="hello [fault:429]")
    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "1"
    assert error.response.headers["retry-after-ms"] == "1000"
    assert error.code == "rate_limit_exceeded"
    assert error.body == {"message": "Rate limit reached for devmodel-scripted (devmodel fault).",
                          "type": "rate_limit_exceeded", "param": None, "code": "rate_limit_exceeded"}


@pytest.mark.parametrize(("marker", "status", "exception"), [
    ("[fault:500]", 500, openai.InternalServerError),
    ("[fault:503]", 503, openai.InternalServerError),
])
def test_server_error_markers_on_every_protocol(client: OpenAI, marker: str, status: int,
                                                exception: type[openai.APIStatusError]) -> None:
    with pytest.raises(exception) as by_responses:
        client.responses.create(model="m", input=f"hello {marker}")
    with pytest.raises(exception) as by_chat:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"hello {marker}"}])
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"hello {marker}"}])
    with pytest.raises(exception) as by_runs:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    for caught in (by_responses, by_chat, by_runs):
        assert caught.value.status_code == status
        assert isinstance(caught.value.body, dict) and set(caught.value.body) == {"message", "type", "param", "code"}
    # A refused run was never created, so the thread is free for the next one.
    assert client.beta.threads.runs.list(thread_id=thread.id).data == []


def test_first_n_requests_get_429_and_the_sdk_retries_after_retry_after(start_server: StartServer) -> None:
    scenario = {"scenarios": [], "default_answer": "fine",
                "faults": [{"kind": "rate_limit", "first_requests": 2, "retry_after_seconds": 0.2}]}
    server = start_server(scenario=scenario)
    with pytest.raises(openai.RateLimitError):
        make_client(server).responses.create(model="m", input="one")
    # The second request is still limited; the SDK waits retry-after-ms and its retry is the third request.
    answer = make_client(server, max_retries=2).responses.create(model="m", input="two")
    assert answer.output_text == "fine"


def test_probabilistic_faults_follow_the_seed(start_server: StartServer) -> None:
    scenario = {"scenarios": [], "faults": [{"kind": "server_error", "probability": 0.5}]}

    def pattern() -> list[bool]:
        client = make_client(start_server("--seed", "5", scenario=scenario))
        outcome = []
        for _ in range(12):
            try:
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
                outcome.append(True)
            except openai.InternalServerError:
                outcome.append(False)
        return outcome

    first = pattern()
    assert first == pattern()
    assert True in first and False in first


def test_missing_and_wrong_api_keys_are_401(seeds_server: DevModelProcess) -> None:
    with pytest.raises(openai.AuthenticationError) as wrong:
        make_client(seeds_server, api_key="sk-wrong-key-123").models.list()
    assert wrong.value.code == "invalid_api_key"
    assert "Incorrect API key provided" in wrong.value.message
    status, body = _raw(seeds_server, "GET", "/v1/models", headers={"Authorization": ""})
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "didn't provide an API key" in body["error"]["message"]


def test_azure_client_with_api_key_header_on_the_openai_v1_path(seeds_server: DevModelProcess) -> None:
    azure = AzureOpenAI(base_url=f"http://{seeds_server.host}:{seeds_server.port}/openai/v1", api_key=API_KEY,
                        api_version="2025-04-01-preview", max_retries=0)
    response = azure.responses.create(model="my-deployment", input="weather in Quito", tools=[WEATHER_TOOL])
    assert response.output[0].type == "function_call"
    assert response.model == "my-deployment"


def test_health_needs_no_key_and_models_lists_the_engine_model(seeds_server: DevModelProcess, client: OpenAI) -> None:
    status, body = _raw(seeds_server, "GET", "/health", headers={"Authorization": ""})
    assert (status, body) == (200, {"status": "ok", "engine": "scripted", "model": "devmodel-scripted"})
    models = client.models.with_raw_response.list().http_response.json()
    assert [Model.model_validate(m).id for m in models["data"]] == ["devmodel-scripted"]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-5")


@pytest.mark.parametrize(("path", "body", "param", "code"), [
    ("/v1/responses", {"input": "hi"}, "model", "missing_required_parameter"),
    ("/v1/responses", {"model": "m", "input": 5}, "input", "invalid_value"),
    ("/v1/responses", {"model": "m", "input": [{"type": "function_call_output", "output": "x"}]},
     "input[0].call_id", "missing_required_parameter"),
    ("/v1/responses", {"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type", None),
    ("/v1/responses", {"model": "m", "input": "x", "tool_choice": {"type": "function", "name": "nope"}},
     "tool_choice", None),
    ("/v1/chat/completions", {"model": "m", "messages": []}, "messages", "invalid_value"),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
     "messages[0].tool_call_id", "missing_required_parameter"),
    ("/v1/assistants", {"name": "no model"}, "model", "missing_required_parameter"),
])
def test_invalid_bodies_are_400_with_the_offending_param(seeds_server: DevModelProcess, path: str,
                                                         body: dict[str, Any], param: str, code: str | None) -> None:
    status, answer = _raw(seeds_server, "POST", path, json.dumps(body).encode(),
                          headers={"Content-Type": "application/json"})
    assert status == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["param"] == param
    if code is not None:
        assert answer["error"]["code"] == code


def test_unparsable_json_and_unknown_urls(seeds_server: DevModelProcess) -> None:
    status, body = _raw(seeds_server, "POST", "/v1/responses", b"{not json",
                        headers={"Content-Type": "application/json"})
    assert status == 400 and "could not parse the JSON body" in body["error"]["message"]
    status, body = _raw(seeds_server, "GET", "/v1/nothing-here")
    assert (status, body["error"]["message"]) == (404, "Invalid URL (GET /v1/nothing-here)")


def test_chat_completions_tool_loop_and_plain_answer(client: OpenAI) -> None:
    from openai.types.chat import ChatCompletion

    from .support import LAMP_TOOLS, strict

    text = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."
    first = strict(ChatCompletion, client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], tools=nested(LAMP_TOOLS)))
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("set_lamp", {"lamp": "living room", "state": True}), ("set_lamp", {"lamp": "kitchen", "state": True}),
        ("set_lamp_brightness", {"lamp": "living room", "brightness": 50}),
        ("set_lamp_brightness", {"lamp": "kitchen", "brightness": 50})]
    messages: list[Any] = [{"role": "user", "content": text}, choice.message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": c.id, "content": f"done {i}"} for i, c in enumerate(calls)]
    second = strict(ChatCompletion, client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, tools=nested(LAMP_TOOLS)))
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == (
        "Both lamps are on at half brightness. Lamps: done 0; done 1. Brightness: done 2; done 3.")
    assert second.usage is not None and second.usage.prompt_tokens > 0
    with pytest.raises(openai.BadRequestError, match="role 'tool' must be a response"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"},
                                                            {"role": "tool", "tool_call_id": "zzz", "content": "x"}])


def test_per_scenario_latency_and_faults_and_the_global_latency_flag(start_server: StartServer) -> None:
    scenario = {"scenarios": [
        {"name": "sluggish", "match": "sluggish", "latency_seconds": 0.5, "answer": "finally"},
        {"name": "doomed", "match": "doomed", "faults": [{"kind": "fail", "message": "doomed by its scenario"}]},
        {"name": "ok", "match": ".", "answer": "fine"},
    ]}
    client = make_client(start_server(scenario=scenario))
    slow = client.responses.create(model="m", input="a sluggish one", background=True)
    assert wait_for(lambda: client.responses.retrieve(slow.id), lambda r: r.status != "queued").status == "in_progress"
    assert wait_for(lambda: client.responses.retrieve(slow.id), lambda r: r.status == "completed").output_text == "finally"
    with pytest.raises(openai.InternalServerError, match="doomed by its scenario"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "doomed"}])
    assert client.responses.create(model="m", input="anything else").output_text == "fine"

    slow_everywhere = make_client(start_server("--latency", "0.4:0.5"))
    created = slow_everywhere.responses.create(model="m", input="hello", background=True)
    seen = wait_for(lambda: slow_everywhere.responses.retrieve(created.id), lambda r: r.status != "queued")
    assert seen.status == "in_progress"


def test_a_server_that_cannot_start_reports_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(DevModelStartError, match="is not JSON"):
        DevModelProcess(port=free_port(), args=["--scenario", str(bad)]).start()
