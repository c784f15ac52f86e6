"""The tools-over-queues contract (Foundry azure_function tools) on real Azurite queues and tables, without a host:
message formats, answers, errors, idempotency by CorrelationId, queue naming and the /api/tools definitions."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from durable_assistant import api
from durable_assistant.config import ConfigError, Settings
from durable_assistant.services import Services
from durable_assistant.tools import (
    CallLedger,
    ToolContext,
    ToolQueues,
    UnanswerableMessage,
    lamp_states,
    parse_call,
    serve_call,
    tool_queue_layout,
)


def _queues(tool: str) -> ToolQueues:
    tag = uuid.uuid4().hex[:8]
    return ToolQueues(tool, f"t{tag}-in", f"t{tag}-out")


def _answers(services: Services, queues: ToolQueues) -> list[dict[str, Any]]:
    """Everything on the output queue, decoded the way a consumer must (Base64 JSON)."""
    client: QueueClient = services.storage.queues.get_queue_client(queues.output)
    found = []
    for message in client.receive_messages(max_messages=32):
        found.append(json.loads(base64.b64decode(message.content)))
        client.delete_message(message)
    return found


@pytest.fixture
def ledger_services(services: Services) -> Services:
    CallLedger(services.storage).ensure()
    return services


def test_a_call_in_plain_json_or_base64_is_answered_with_value_and_correlation_id(ledger_services: Services) -> None:
    svc = ledger_services
    queues = _queues("get_weather")
    plain = json.dumps({"location": "Seattle, WA", "CorrelationId": "c-plain"})
    encoded = base64.b64encode(json.dumps({"location": "London", "CorrelationId": "c-b64"}).encode()).decode()
    first = serve_call(svc.tools, svc.storage, queues, plain.encode())
    second = serve_call(svc.tools, svc.storage, queues, encoded)
    assert first.ok and second.ok and not first.replayed
    answers = {a["CorrelationId"]: a for a in _answers(svc, queues)}
    assert set(answers) == {"c-plain", "c-b64"}
    assert set(answers["c-plain"]) == {"Value", "CorrelationId"}
    seattle = json.loads(answers["c-plain"]["Value"])
    assert seattle["success"] and seattle["data"]["summary"] == "Weather is 74 degrees and sunny in Seattle, WA"
    assert json.loads(answers["c-b64"]["Value"])["data"]["condition"] == "light rain"


def test_bad_arguments_and_malformed_json_get_an_error_value_when_a_correlation_id_is_known(
        ledger_services: Services) -> None:
    svc = ledger_services
    queues = _queues("get_weather")
    missing = serve_call(svc.tools, svc.storage, queues, json.dumps({"CorrelationId": "c-missing"}))
    extra = serve_call(svc.tools, svc.storage, queues, json.dumps({"location": "x", "unit": "F",
                                                                   "CorrelationId": "c-extra"}))
    broken = serve_call(svc.tools, svc.storage, queues, '{"location": "Seattle", "CorrelationId": "c-broken", ')
    unknown_city = serve_call(svc.tools, svc.storage, queues, json.dumps({"location": "Mars", "CorrelationId": "c-mars"}))
    assert not (missing.ok or extra.ok or broken.ok or unknown_city.ok)
    values = {a["CorrelationId"]: json.loads(a["Value"]) for a in _answers(svc, queues)}
    assert values["c-missing"] == {"success": False, "error": "invalid arguments: 'location' is a required property"}
    assert "Additional properties are not allowed ('unit' was unexpected)" in values["c-extra"]["error"]
    assert values["c-broken"]["error"].startswith("message is not valid JSON")
    assert values["c-mars"]["error"].startswith("no weather data for 'Mars'; places with weather data: Amsterdam")


def test_queue_messages_get_the_json_limits_and_the_argument_bounds(ledger_services: Services) -> None:
    svc = ledger_services
    queues = _queues("get_customer_info")
    deep = '{"CorrelationId": "c-deep", "customerId": ' + "[" * 3000 + "]" * 3000 + "}"
    huge_id = json.dumps({"CorrelationId": "c-huge", "customerId": "C" * 60_000})
    assert not serve_call(svc.tools, svc.storage, queues, deep).ok
    assert not serve_call(svc.tools, svc.storage, queues, huge_id).ok
    values = {a["CorrelationId"]: json.loads(a["Value"]) for a in _answers(svc, queues)}
    assert values["c-deep"] == {"success": False, "error": "message is not valid JSON: JSON nests arrays/objects "
                                                           "deeper than 32 levels"}
    assert values["c-huge"] == {"success": False,
                                "error": "invalid arguments: customerId: has 60000 characters; the limit is 64"}
    with pytest.raises(UnanswerableMessage):  # no CorrelationId to be found in a message past the limits
        serve_call(svc.tools, svc.storage, queues, "[" * 5000)


@pytest.mark.parametrize("body", [b"not json at all", b"[1, 2]", json.dumps({"location": "Seattle"}).encode(),
                                  json.dumps({"location": "Seattle", "CorrelationId": ""}).encode(),
                                  json.dumps({"location": "Seattle", "CorrelationId": 7}).encode()])
def test_a_message_without_a_correlation_id_fails_and_sends_nothing(ledger_services: Services, body: bytes) -> None:
    queues = _queues("get_weather")
    with pytest.raises(UnanswerableMessage):
        serve_call(ledger_services.tools, ledger_services.storage, queues, body)
    ledger_services.storage.queues.get_queue_client(queues.output).create_queue()
    assert _answers(ledger_services, queues) == []


def test_a_redelivered_message_answers_the_same_and_a_side_effect_tool_acts_once(ledger_services: Services) -> None:
    svc = ledger_services
    queues = _queues("set_lamp_brightness")
    ctx = ToolContext(storage=svc.storage, call_key="test")
    message = json.dumps({"lamp": "kitchen", "brightness": 30, "CorrelationId": "c-once"})
    first = serve_call(svc.tools, svc.storage, queues, message, dequeue_count=1)
    assert lamp_states(ctx)["kitchen"]["brightness"] == 30
    # Someone else changes the lamp; then the first message is delivered again (e.g. the host died before
    # deleting it): the answer repeats and the lamp is NOT set back to 30.
    other = serve_call(svc.tools, svc.storage, queues, json.dumps({"lamp": "kitchen", "brightness": 80,
                                                                   "CorrelationId": "c-other"}))
    again = serve_call(svc.tools, svc.storage, queues, message, dequeue_count=2)
    assert other.ok and again.replayed and not first.replayed
    assert again.value == first.value and json.loads(first.value)["data"]["brightness"] == 30
    assert lamp_states(ctx)["kitchen"]["brightness"] == 80
    answers = _answers(svc, queues)
    assert [a["CorrelationId"] for a in answers].count("c-once") == 2
    assert len({a["Value"] for a in answers if a["CorrelationId"] == "c-once"}) == 1


def test_message_parsing_accepts_both_encodings_and_finds_correlation_ids() -> None:
    call = parse_call(base64.b64encode(b'{"a": 1, "CorrelationId": "x"}'))
    assert (call.correlation_id, call.arguments, call.problem) == ("x", {"a": 1}, None)
    assert parse_call('  {"CorrelationId": "y"}\n').arguments == {}
    truncated = parse_call('{"CorrelationId": "z\\"q", "a": ')
    assert truncated.correlation_id == 'z"q' and truncated.problem is not None


def test_queue_names_default_from_the_prefix_and_can_be_overridden() -> None:
    tools = ["get_weather", "set_lamp"]
    layout = tool_queue_layout(tools, "tool")
    assert layout["get_weather"] == ToolQueues("get_weather", "tool-get-weather-input", "tool-get-weather-output")
    seeded = tool_queue_layout(tools, "tool", (("get_weather", "input", "output"),))
    assert (seeded["get_weather"].input, seeded["set_lamp"].output) == ("input", "tool-set-lamp-output")
    with pytest.raises(ValueError, match="tools that do not exist"):
        tool_queue_layout(tools, "tool", (("nope", "a-in", "a-out"),))
    with pytest.raises(ValueError, match="used by both"):
        tool_queue_layout(tools, "tool", (("get_weather", "shared", "w-out"), ("set_lamp", "shared", "l-out")))


@pytest.mark.parametrize(("name", "value"), [
    ("ASSISTANT_TOOL_QUEUES", "not json"),
    ("ASSISTANT_TOOL_QUEUES", '{"get_weather": {"input": "Bad_Name", "output": "out"}}'),
    ("ASSISTANT_TOOL_QUEUES", '{"get_weather": {"input": "same", "output": "same"}}'),
    ("ASSISTANT_TOOL_QUEUE_PREFIX", "Tool"),
    ("ASSISTANT_TOOL_QUEUE_PREFIX", "a--b"),
    ("ASSISTANT_RUN_TOOLS", "both"),
])
def test_bad_queue_settings_name_the_setting(app_env: dict[str, str], name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**app_env, name: value})


def test_tools_endpoint_shows_the_azure_function_definition_for_every_tool(app_env: dict[str, str]) -> None:
    env = {**app_env, "ASSISTANT_TOOL_QUEUES": '{"get_weather": {"input": "input", "output": "output"}}'}
    services = Services(Settings.from_env(env))
    tools = {t["name"]: t for t in api.list_tools(services).body["tools"]}
    assert set(tools) == set(services.tools.names())
    weather = tools["get_weather"]["azureFunctionTool"]
    assert weather["type"] == "azure_function"
    definition = weather["azure_function"]
    assert definition["function"] == {"name": "get_weather", "description": "Get the weather in a location.",
                                      "parameters": services.tools.get("get_weather").spec.parameters}  # type: ignore[union-attr]
    endpoint = services.storage.queues.url.rstrip("/")
    assert definition["input_binding"] == {"type": "storage_queue", "storage_queue": {
        "queue_service_endpoint": endpoint, "queue_name": "input"}}
    assert definition["output_binding"]["storage_queue"]["queue_name"] == "output"
    lamp = tools["set_lamp"]
    assert lamp["queues"] == {"input": "tool-set-lamp-input", "output": "tool-set-lamp-output"}
    assert lamp["azureFunctionTool"]["azure_function"]["input_binding"]["storage_queue"]["queue_name"] == \
        "tool-set-lamp-input"


def test_identity_storage_derives_the_queue_endpoint_or_names_the_missing_setting() -> None:
    by_account = Services(Settings.from_env({"AzureWebJobsStorage__accountName": "acct"}))
    assert by_account.storage.queue_service_uri == "https://acct.queue.core.windows.net"
    without = Services(Settings.from_env({"AzureWebJobsStorage__blobServiceUri": "https://a.blob.core.windows.net",
                                          "AzureWebJobsStorage__tableServiceUri": "https://a.table.core.windows.net"}))
    with pytest.raises(ConfigError, match="AzureWebJobsStorage__queueServiceUri"):
        api.list_tools(without)
