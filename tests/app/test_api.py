"""HTTP API logic (validation and bodies) against real Azurite storage, without a host."""

from __future__ import annotations

import dataclasses
import json

import pytest

from durable_assistant import api
from durable_assistant.config import ConfigError, Settings
from durable_assistant.services import Services


def error_of(fn: object, *args: object) -> tuple[int, str]:
    with pytest.raises(api.ApiError) as err:
        fn(*args)  # type: ignore[operator]
    return err.value.status, err.value.code


def test_accepting_messages_validates_and_is_idempotent(services: Services) -> None:
    cid = api.create_conversation(services).body["conversationId"]
    accepted = api.accept_message(services, cid, json.dumps({"content": "hi", "messageId": "a-1"}).encode())
    assert accepted.record.created and accepted.record.seq == 1
    assert accepted.turn_input.to_json() == {
        "conversation_id": cid, "turn": 1, "message_id": "a-1", "deadline_seconds": 300.0,
        "schedule": {"first": 2.0, "growth": 2.0, "cap": 15.0}, "webhooks": False,
        "webhook_schedule": {"first": 30.0, "growth": 2.0, "cap": 60.0}, "first_look_seconds": 1.0, "resume": None,
        # The default policy: the tools registered with side effects wait for a person.
        "approval": {"tools": ("set_lamp", "set_lamp_brightness"), "timeout_seconds": 600.0, "approvers": ()}}
    again = api.accept_message(services, cid, json.dumps({"content": "hi", "messageId": "a-1"}).encode())
    assert not again.record.created and again.record.instance_id == accepted.record.instance_id
    generated = api.accept_message(services, cid, b'{"content": "second"}')
    assert generated.record.seq == 2 and len(generated.record.message_id) == 32

    assert error_of(api.accept_message, services, cid, b"") == (400, "invalid_json")
    assert error_of(api.accept_message, services, cid, b"[1]") == (400, "invalid_json")
    assert error_of(api.accept_message, services, cid, b'{"content": 5}') == (400, "invalid_content")
    assert error_of(api.accept_message, services, cid, b'{"content": "x", "messageId": "a/b"}') == (
        400, "invalid_message_id")
    assert error_of(api.accept_message, services, cid, json.dumps({"content": "y" * 8001}).encode()) == (
        413, "content_too_long")
    assert error_of(api.accept_message, services, cid, b'{"content": "other", "messageId": "a-1"}') == (
        409, "message_id_reused")
    assert error_of(api.accept_message, services, "missing", b'{"content": "x"}') == (404, "unknown_conversation")
    # Text Storage cannot hold (lone surrogates) and control characters are refused before anything is stored.
    for bad in (b'{"content": "hi \\ud83d"}', b'{"content": "a\\u0000b"}', b'{"content": "bell \\u0007"}'):
        assert error_of(api.accept_message, services, cid, bad) == (400, "invalid_content")
    assert api.accept_message(services, cid, b'{"content": "tab\\tnew\\nline \\ud83d\\ude00"}').record.seq == 3


def test_transcript_and_tools(services: Services) -> None:
    cid = api.create_conversation(services).body["conversationId"]
    body = api.get_conversation(services, cid).body
    assert body["turns"] == [] and body["turnsAccepted"] == 0
    assert error_of(api.get_conversation, services, "nope") == (404, "unknown_conversation")
    ok = api.run_tool_directly(services, "get_weather", b'{"location": "London"}')
    assert ok.status == 200 and ok.body["data"]["condition"] == "light rain"
    assert error_of(api.run_tool_directly, services, "get_weather", b"{}") == (400, "invalid_arguments")
    assert api.run_tool_directly(services, "get_weather", b'{"location": "Mars"}').status == 422
    names = [t["name"] for t in api.list_tools(services).body["tools"]]
    doc = api.openapi_document(services.tools.specs(), 8000)
    assert [p.removeprefix("/tools/") for p in doc["paths"] if p.startswith("/tools/")] == [*names, "{name}"]
    weather = doc["paths"]["/tools/get_weather"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert doc["components"]["schemas"][weather["$ref"].split("/")[-1]]["properties"]["location"]["maxLength"] == 128


DEEP = b'{"content": ' + b"[" * 3000 + b"]" * 3000 + b"}"


def error_body(fn: object, *args: object) -> dict[str, object]:
    with pytest.raises(api.ApiError) as err:
        fn(*args)  # type: ignore[operator]
    body: dict[str, object] = err.value.response().body["error"]
    return body | {"status": err.value.status}


def test_every_json_body_has_a_depth_and_a_size_limit(services: Services) -> None:
    cid = api.create_conversation(services).body["conversationId"]
    limit = api.body_limit(services.settings)
    too_big = json.dumps({"content": "x", "pad": "p" * limit}).encode()
    for call in ((api.accept_message, services, cid), (api.run_tool_directly, services, "get_weather"),
                 (api.create_conversation, services)):
        deep = error_body(*call, DEEP)
        assert deep["status"] == 400 and deep["code"] == "json_too_deep" and deep["limit"] == 32
        large = error_body(*call, too_big)
        assert large["status"] == 413 and large["code"] == "body_too_large" and large["limit"] == limit
        assert f"the limit is {limit}" in str(large["message"])
        digits = error_body(*call, b'{"n": ' + b"1" * 5000 + b"}")  # past int()'s digit limit
        assert digits["status"] == 400 and digits["code"] == "invalid_json"
    assert api.create_conversation(services, b"").status == 201
    assert api.create_conversation(services, b"{}").status == 201
    assert error_of(api.create_conversation, services, b"[]") == (400, "invalid_json")
    # A raised ASSISTANT_MAX_MESSAGE_CHARS raises the body limit with it.
    assert api.body_limit(dataclasses.replace(services.settings, max_message_chars=100_000)) > 1_200_000


def test_ids_that_cannot_be_ids_are_404_before_any_storage_call(services: Services) -> None:
    for bad in ("a/b", "x" * 5000, "a#b", "\u0000", "päth", ""):
        assert error_of(api.accept_message, services, bad, b'{"content": "hi"}') == (404, "unknown_conversation")
        assert error_of(api.get_conversation, services, bad) == (404, "unknown_conversation")
    assert error_of(api.run_tool_directly, services, "x" * 5000, b"{}") == (404, "unknown_tool")


def test_a_huge_tool_argument_is_invalid_arguments_with_a_short_message(services: Services) -> None:
    refused = error_body(api.run_tool_directly, services, "get_customer_info",
                         json.dumps({"customerId": "C" * 100_000}).encode())
    assert refused["status"] == 400 and refused["code"] == "invalid_arguments"
    assert refused["message"] == "customerId: has 100000 characters; the limit is 64"


def test_list_query_parameters_are_bounded(services: Services) -> None:
    for top in ("²", "１２", "0", "101", "9" * 5000, "-1", "1.5"):
        assert error_of(api.list_conversations, services, {"top": top}) == (400, "invalid_top")
    assert error_of(api.list_conversations, services, {"continuationToken": "A" * 513}) == (
        400, "invalid_continuation_token")
    assert error_of(api.list_conversations, services, {"continuationToken": "ÿ\u0000"}) == (
        400, "invalid_continuation_token")
    assert api.list_conversations(services, {"top": "100"}).status == 200


def test_the_approval_policy_applies_the_setting_to_the_registry(services: Services) -> None:
    def policy(value: str, **extra: str) -> tuple[str, ...]:
        env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "ASSISTANT_APPROVAL_REQUIRED": value, **extra}
        return api.approval_policy(Settings.from_env(env), services.tools).tools

    assert policy("none") == ()
    assert policy("all") == tuple(services.tools.names())
    assert policy("get_weather, set_lamp") == ("get_weather", "set_lamp")
    with pytest.raises(ConfigError, match="launch_rockets"):
        policy("launch_rockets")
    with pytest.raises(ConfigError, match="ASSISTANT_APPROVAL_REQUIRED"):
        policy("set lamp!")
    full = api.approval_policy(Settings.from_env({
        "AzureWebJobsStorage": "UseDevelopmentStorage=true", "ASSISTANT_APPROVAL_TIMEOUT_SECONDS": "30",
        "ASSISTANT_APPROVERS": "alice@contoso.com, bob@contoso.com"}), services.tools)
    assert full.timeout_seconds == 30.0 and full.approvers == ("alice@contoso.com", "bob@contoso.com")
