"""The app settings in infra/modules/function-app.bicep match what durable_assistant/config.py reads."""

from __future__ import annotations

from typing import Any

from durable_assistant.config import DEFAULT_ENTRA_SCOPE, SETTING_NAMES, Settings
from tests.infra._bicep import Template
from tests.infra._paths import FUNCTION_APP_TEMPLATE, MAIN_TEMPLATE, rel

# Names the app can read that the deployment deliberately leaves unset, each with the reason. Two are key-based
# connection strings; the storage account has shared keys disabled, and the app falls back to the identity
# settings AzureWebJobsStorage__accountName / __blobServiceUri / __tableServiceUri (see config._storage).
DELIBERATELY_UNSET: dict[str, str] = {
    "AzureWebJobsStorage": "connection string with an account key; shared keys are disabled",
    "ASSISTANT_STORAGE_CONNECTION": "connection string override; the app reuses the AzureWebJobsStorage__* identity settings",
    "ASSISTANT_TOOL_QUEUES": "per-tool queue names; infra creates the queues from ASSISTANT_TOOL_QUEUE_PREFIX instead",
}

# main.bicep parameter -> (app setting, attribute of Settings() holding the app's own default).
KNOBS: dict[str, tuple[str, str]] = {
    "assistantProvider": ("ASSISTANT_PROVIDER", "provider"),
    "assistantEntraScope": ("ASSISTANT_ENTRA_SCOPE", "entra_scope"),
    "turnDeadlineSeconds": ("ASSISTANT_TURN_DEADLINE_SECONDS", "turn_deadline_seconds"),
    "maxMessageChars": ("ASSISTANT_MAX_MESSAGE_CHARS", "max_message_chars"),
    "maxToolOutputChars": ("ASSISTANT_MAX_TOOL_OUTPUT_CHARS", "max_tool_output_chars"),
    "pollIntervalSeconds": ("ASSISTANT_POLL_INTERVAL_SECONDS", "poll_interval_seconds"),
    "pollFirstSeconds": ("ASSISTANT_POLL_FIRST_SECONDS", "poll_first_seconds"),
    "pollGrowth": ("ASSISTANT_POLL_GROWTH", "poll_growth"),
    "pollMaxSeconds": ("ASSISTANT_POLL_MAX_SECONDS", "poll_max_seconds"),
    "firstLookSeconds": ("ASSISTANT_FIRST_LOOK_SECONDS", "first_look_seconds"),
    "webhookPollSeconds": ("ASSISTANT_WEBHOOK_POLL_SECONDS", "webhook_poll_seconds"),
    "toolQueuePrefix": ("ASSISTANT_TOOL_QUEUE_PREFIX", "tool_queue_prefix"),
    "assistantRunTools": ("ASSISTANT_RUN_TOOLS", "run_tools"),
    "exposeDurableUrls": ("ASSISTANT_EXPOSE_DURABLE_URLS", "expose_durable_urls"),
    "approvalRequired": ("ASSISTANT_APPROVAL_REQUIRED", "approval_mode"),
    "approvalTimeoutSeconds": ("ASSISTANT_APPROVAL_TIMEOUT_SECONDS", "approval_timeout_seconds"),
    "retentionDays": ("ASSISTANT_RETENTION_DAYS", "retention_days"),
    "retentionSchedule": ("ASSISTANT_RETENTION_SCHEDULE", "retention_schedule"),
}


def _app_settings(templates: dict[str, Template]) -> dict[str, Any]:
    template = templates[rel(FUNCTION_APP_TEMPLATE)]
    configs = [
        res
        for res in template.resources_of_type("Microsoft.Web/sites/config").values()
        if res["config"]["name"] == "appsettings"
    ]
    assert len(configs) == 1, "function-app.bicep must have exactly one appsettings config resource"
    settings = template.object_entries(configs[0]["config"]["properties"])
    assert settings, "no app settings found: the expression walker does not understand the template"
    return settings


def test_every_setting_the_app_reads_is_deployed(templates: dict[str, Template]) -> None:
    deployed = set(_app_settings(templates))
    missing = set(SETTING_NAMES) - deployed - set(DELIBERATELY_UNSET)
    assert not missing, f"durable_assistant.config reads settings the Bicep never sets: {sorted(missing)}"


def test_no_assistant_setting_the_app_does_not_read(templates: dict[str, Template]) -> None:
    unread = {name for name in _app_settings(templates) if name.startswith("ASSISTANT_")} - set(SETTING_NAMES)
    assert not unread, f"the Bicep sets ASSISTANT_* settings the app never reads: {sorted(unread)}"


def test_deliberately_unset_names_are_current_and_really_unset(templates: dict[str, Template]) -> None:
    deployed = set(_app_settings(templates))
    assert set(DELIBERATELY_UNSET) <= set(SETTING_NAMES), "stale entry: the app no longer reads it"
    assert not set(DELIBERATELY_UNSET) & deployed, "a key-based connection setting is deployed"


def test_host_and_app_use_the_managed_identity_for_storage(templates: dict[str, Template]) -> None:
    settings = _app_settings(templates)
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["ASSISTANT_API_KEY"].startswith("@Microsoft.KeyVault(SecretUri=")
    assert settings["ASSISTANT_WEBHOOK_SECRET"].startswith("@Microsoft.KeyVault(SecretUri=")
    for service in ("blob", "queue", "table"):
        assert f"AzureWebJobsStorage__{service}ServiceUri" in settings


def test_durable_backend_switch_gives_the_scheduler_connection(templates: dict[str, Template]) -> None:
    """The provider itself is selected in the deployed host.json (tests/infra/test_deploy_traps.py)."""
    settings = _app_settings(templates)
    assert "DURABLE_TASK_SCHEDULER_CONNECTION_STRING" in settings
    assert settings["TASKHUB_NAME"] == "taskHubName"


def test_deployed_defaults_equal_the_app_defaults(templates: dict[str, Template]) -> None:
    main = templates[rel(MAIN_TEMPLATE)]
    settings = _app_settings(templates)
    passed = main.module_config("functionApp")["params"]
    app_defaults = Settings()
    drift: list[str] = []
    for param, (setting, attribute) in KNOBS.items():
        assert settings[setting] == param, f"{setting} is not fed by parameter {param}"
        assert passed[param] == param, f"main.bicep does not pass its {param} parameter on"
        deployed = main.parameters[param]["default"]
        expected = getattr(app_defaults, attribute)
        if isinstance(expected, bool):  # a flag is deployed as the text 'true' / 'false'
            same = deployed == str(expected).lower()
        elif isinstance(expected, (int, float)):
            same = float(deployed) == float(expected)
        else:
            same = deployed == expected
        if not same:
            drift.append(f"{param}: main.bicep {deployed!r} vs app {expected!r}")
    assert not drift, "\n".join(drift)
    assert main.parameters["assistantEntraScope"]["default"] == DEFAULT_ENTRA_SCOPE
