"""host.json and local.settings.json into HostConfig."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from devhost.config import ConfigError, load_config, parse_timespan, sanitize_hub_name


def _app(tmp_path: Path, host: Any, local: Any = None) -> Path:
    (tmp_path / "host.json").write_text(host if isinstance(host, str) else json.dumps(host), encoding="utf-8")
    if local is not None:
        text = local if isinstance(local, str) else json.dumps(local)
        (tmp_path / "local.settings.json").write_text(text, encoding="utf-8")
    return tmp_path


def test_defaults(tmp_path: Path) -> None:
    config = load_config(_app(tmp_path, {"version": "2.0"}), environ={})
    assert config.hub_name == "TestHubName"
    assert config.route_prefix == "api"
    assert config.partition_count == 4
    assert config.connection_name == "AzureWebJobsStorage"
    assert config.log_level == logging.INFO
    assert config.script_file == "function_app.py"


def test_durable_and_http_settings(tmp_path: Path) -> None:
    host = {
        "version": "2.0",
        "logging": {"logLevel": {"default": "Warning"}},
        "extensions": {
            "http": {"routePrefix": "/v1/"},
            "DurableTask": {  # bound case-insensitively like .NET configuration
                "hubName": "%HUB_SETTING%Hub",
                "maxConcurrentActivityFunctions": 7,
                "maxConcurrentOrchestratorFunctions": "3",
                "storageProvider": {
                    "partitionCount": 2,
                    "controlQueueVisibilityTimeout": "00:02:00",
                    "workItemQueueVisibilityTimeout": "1.00:00:30",
                    "maxQueuePollingInterval": "00:00:05.5",
                    "connectionName": "MyStorage",
                },
            },
        },
    }
    env = {"HUB_SETTING": "Assistant"}
    config = load_config(_app(tmp_path, host), environ=env)
    assert config.hub_name == "AssistantHub"
    assert config.route_prefix == "v1"
    assert (config.max_concurrent_activity_functions, config.max_concurrent_orchestrator_functions) == (7, 3)
    assert config.partition_count == 2
    assert config.control_queue_visibility_timeout == 120
    assert config.work_item_queue_visibility_timeout == 86430
    assert config.max_queue_polling_interval == 5.5
    assert config.connection_name == "MyStorage"
    assert config.log_level == logging.WARNING


def test_local_settings_fill_env_without_overriding(tmp_path: Path) -> None:
    local = {"IsEncrypted": False, "Values": {"A": "from-file", "B": "from-file", "FLAG": True, "N": 3},
             "Host": {"LocalHttpPort": 7077}}
    env = {"A": "from-env"}
    config = load_config(_app(tmp_path, {"version": "2.0"}, local), environ=env)
    assert env == {"A": "from-env", "B": "from-file", "FLAG": "true", "N": "3"}
    assert config.settings_skipped == ("A",)
    assert set(config.settings_applied) == {"B", "FLAG", "N"}
    assert config.local_http_port == 7077


def test_hub_name_from_site_name_is_sanitized(tmp_path: Path) -> None:
    config = load_config(_app(tmp_path, {}), environ={"WEBSITE_SITE_NAME": "9-my_site"})
    assert config.hub_name == "t9mysite"
    assert sanitize_hub_name("---") == "DefaultTaskHub"


@pytest.mark.parametrize(
    ("host", "local", "message"),
    [
        ("{not json", None, "host.json is not valid JSON"),
        ("[1, 2]", None, "host.json must hold a JSON object"),
        ({"version": "1.0"}, None, '"version" must be "2.0"'),
        ({"extensions": {"durableTask": {"hubName": "ab"}}}, None, "Task hub name 'ab' should contain only"),
        ({"extensions": {"durableTask": {"hubName": "my-hub"}}}, None, "should contain only alphanumeric"),
        ({"extensions": {"durableTask": {"hubName": "%NOPE%"}}}, None, "app setting %NOPE% is not defined"),
        ({"extensions": {"durableTask": {"storageProvider": {"partitionCount": 17}}}}, None, "partitionCount must be"),
        ({"extensions": {"durableTask": {"storageProvider": {"maxQueuePollingInterval": 30}}}}, None,
         "must be a TimeSpan string"),
        ({"extensions": {"durableTask": {"storageProvider": {"type": "mssql"}}}}, None, "not supported by devhost"),
        ({"extensions": {"durableTask": {"maxConcurrentActivityFunctions": 0}}}, None, "must be at least 1"),
        ({"extensions": {"durableTask": []}}, None, "durableTask must be an object"),
        ({"logging": {"logLevel": {"default": "Loud"}}}, None, "logging.logLevel.default 'Loud'"),
        ({}, "{oops", "local.settings.json is not valid JSON"),
        ({}, {"IsEncrypted": True, "Values": {}}, "local.settings.json is encrypted"),
        ({}, {"Values": {"X": {"nested": 1}}}, "Values.X must be a string"),
    ],
)
def test_malformed_files_fail_clearly(tmp_path: Path, host: Any, local: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(_app(tmp_path, host, local), environ={})


def test_missing_host_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="host.json not found"):
        load_config(tmp_path, environ={})


def test_timespans() -> None:
    assert parse_timespan("00:05:00") == 300
    assert parse_timespan("2.01:00:00") == 2 * 86400 + 3600
    with pytest.raises(ValueError):
        parse_timespan("5 minutes")


def test_queue_trigger_options_from_host_json_and_app_setting_overrides(tmp_path: Path) -> None:
    from devhost.config import QueueOptions

    assert load_config(_app(tmp_path, {"version": "2.0"}), environ={}).queues == QueueOptions()
    host = {"version": "2.0", "extensions": {"Queues": {"maxPollingInterval": "00:00:02", "VisibilityTimeout":
                                                        "00:00:30", "batchSize": 8, "maxDequeueCount": 5,
                                                        "messageEncoding": "None"}}}
    config = load_config(_app(tmp_path, host), environ={})
    assert config.queues == QueueOptions(max_polling_interval=2.0, visibility_timeout=30.0, batch_size=8,
                                         max_dequeue_count=5, message_encoding="none")
    # App settings AzureFunctionsJobHost__extensions__queues__* win over host.json, as in the real host.
    env = {"AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:00",
           "AZUREFUNCTIONSJOBHOST__EXTENSIONS__QUEUES__MAXDEQUEUECOUNT": "2"}
    overridden = load_config(_app(tmp_path, host), environ=env).queues
    assert (overridden.visibility_timeout, overridden.max_dequeue_count, overridden.batch_size) == (0.0, 2, 8)
    assert load_config(_app(tmp_path, {"version": "2.0", "extensions": {"queues": {"maxPollingInterval": 500}}}),
                       environ={}).queues.max_polling_interval == 0.5


@pytest.mark.parametrize("queues", [{"batchSize": 33}, {"maxDequeueCount": 0}, {"messageEncoding": "utf8"},
                                    {"maxPollingInterval": "soon"}, {"maxPollingInterval": 50}])
def test_bad_queue_trigger_options_are_config_errors(tmp_path: Path, queues: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="extensions.queues"):
        load_config(_app(tmp_path, {"version": "2.0", "extensions": {"queues": queues}}), environ={})
