"""Settings: defaults, validation errors that name the setting, and SETTING_NAMES completeness."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import durable_assistant.config as config_module
from durable_assistant.config import SETTING_NAMES, ConfigError, Settings

CONN = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_defaults_point_at_the_local_devmodel() -> None:
    s = Settings.from_env(CONN)
    assert (s.provider, s.base_url, s.auth, s.turn_deadline_seconds, s.max_message_chars) == (
        "responses", "http://127.0.0.1:8199/v1", "key", 300.0, 8000)
    assert s.storage.connection_string is not None and "devstoreaccount1" in s.storage.connection_string
    assert (s.poll_first_seconds, s.poll_growth, s.poll_max_seconds, s.first_look_seconds) == (2.0, 2.0, 15.0, 1.0)
    assert s.webhook_secret is None and s.webhook_poll_seconds == 30.0 and s.tool_modules == ()


def test_durable_management_urls_are_hidden_unless_a_setting_allows_them() -> None:
    assert Settings.from_env(CONN).expose_durable_urls is False
    for value, expected in (("true", True), (" TRUE ", True), ("1", True), ("false", False), ("0", False)):
        assert Settings.from_env({**CONN, "ASSISTANT_EXPOSE_DURABLE_URLS": value}).expose_durable_urls is expected


def test_custom_tool_modules_are_loaded_or_named_in_the_error() -> None:
    from durable_assistant.tools import default_registry

    s = Settings.from_env({**CONN, "ASSISTANT_TOOL_MODULES": " tests.app.fault_tools , "})
    assert s.tool_modules == ("tests.app.fault_tools",)
    assert {"check_stock", "slow_echo", "get_weather"} <= set(default_registry(100, s.tool_modules).names())
    with pytest.raises(ConfigError, match="cannot load register\\(\\) from 'tests.app.nope'"):
        default_registry(100, ("tests.app.nope",))


@pytest.mark.parametrize(("env", "message"), [
    ({"ASSISTANT_PROVIDER": "assistants"}, "ASSISTANT_PROVIDER must be one of responses, threads, chat"),
    ({"ASSISTANT_PROVIDER": "threads"}, "ASSISTANT_AGENT_ID is required when ASSISTANT_PROVIDER=threads"),
    ({"ASSISTANT_AUTH": "password"}, "ASSISTANT_AUTH must be one of key, entra"),
    ({"ASSISTANT_TURN_DEADLINE_SECONDS": "soon"}, "ASSISTANT_TURN_DEADLINE_SECONDS must be a number"),
    ({"ASSISTANT_MAX_MESSAGE_CHARS": "-5"}, "ASSISTANT_MAX_MESSAGE_CHARS must be positive"),
    ({"ASSISTANT_BASE_URL": "ftp://x"}, "ASSISTANT_BASE_URL must be an http(s) URL"),
    ({"ASSISTANT_STORAGE_PREFIX": "Bad-Prefix"}, "ASSISTANT_STORAGE_PREFIX must be up to 20 lowercase"),
    ({"ASSISTANT_POLL_GROWTH": "0.5"}, "ASSISTANT_POLL_GROWTH must be at least 1"),
    ({"ASSISTANT_FIRST_LOOK_SECONDS": "30"}, "ASSISTANT_FIRST_LOOK_SECONDS must be between 0 and 5"),
    ({"ASSISTANT_WEBHOOK_SECRET": "hunter2"}, "ASSISTANT_WEBHOOK_SECRET must be the endpoint's signing secret"),
    ({"ASSISTANT_EXPOSE_DURABLE_URLS": "yes please"}, "ASSISTANT_EXPOSE_DURABLE_URLS must be true or false"),
])
def test_invalid_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env({**CONN, **env})


def test_storage_by_identity_or_missing() -> None:
    s = Settings.from_env({"AzureWebJobsStorage__accountName": "stassist"})
    assert s.storage.connection_string is None
    assert s.storage.blob_service_uri == "https://stassist.blob.core.windows.net"
    assert s.storage.table_service_uri == "https://stassist.table.core.windows.net"
    own = Settings.from_env({**CONN, "ASSISTANT_STORAGE_CONNECTION": "DefaultEndpointsProtocol=https;AccountName=x"})
    assert own.storage.connection_string == "DefaultEndpointsProtocol=https;AccountName=x"
    with pytest.raises(ConfigError, match="no storage configured"):
        Settings.from_env({})


def test_setting_names_lists_every_setting_the_code_reads() -> None:
    source = Path(config_module.__file__).read_text()
    read = set(re.findall(r'e(?:nv)?\.get\("([A-Za-z_]+)"', source))
    assert read, "the pattern should find the settings read in config.py"
    assert read <= set(SETTING_NAMES), read - set(SETTING_NAMES)
