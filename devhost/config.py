"""Host configuration: ``host.json`` + ``local.settings.json`` into one frozen :class:`HostConfig`.

Follows the Functions host and the Durable Functions extension (spec §8): ``extensions.durableTask`` is bound
case-insensitively, ``hubName`` supports ``%AppSetting%`` tokens, default hub names are sanitized and explicit
ones validated. ``local.settings.json`` ``Values`` become environment variables unless the variable is already set
(what ``func start`` does).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_HUB_NAME = "TestHubName"
DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_CONNECTION_NAME = "AzureWebJobsStorage"
# devhost uses shorter visibility timeouts than Azure's 5 minutes so that a restarted host picks up abandoned
# messages quickly (documented difference; host.json overrides them).
DEFAULT_CONTROL_QUEUE_VISIBILITY_TIMEOUT = 60.0
DEFAULT_WORK_ITEM_QUEUE_VISIBILITY_TIMEOUT = 60.0
DEFAULT_MAX_QUEUE_POLLING_INTERVAL = 30.0
MAX_PARTITION_COUNT = 16  # the extension's limit for storageProvider.partitionCount

_HUB_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")
_APP_SETTING_RE = re.compile(r"%([^%]+)%")
_TIMESPAN_RE = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)$")

# .NET LogLevel names in host.json "logging.logLevel" -> Python logging levels.
_LOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}


class ConfigError(ValueError):
    """A configuration file is missing required parts, malformed, or holds an invalid value."""


@dataclass(frozen=True)
class QueueOptions:
    """host.json ``extensions.queues`` (the Storage extension's QueuesOptions), with the host's defaults."""

    max_polling_interval: float = 5.0
    """Seconds between polls of an idle queue at most (polling backs off from 0.1 s up to this). The host's
    default is 1 minute; devhost uses 5 s when host.json does not say, so local runs react quickly."""
    visibility_timeout: float = 0.0
    """Seconds a failed message stays invisible before its next attempt."""
    batch_size: int = 16
    max_dequeue_count: int = 5
    """Attempts before a failing message moves to ``<queue>-poison``."""
    message_encoding: str = "base64"
    """``base64`` (bodies are Base64; devhost also passes non-Base64 text through) or ``none`` (bodies as put)."""


@dataclass(frozen=True)
class HostConfig:
    """Everything devhost reads from the app's configuration files (and the environment they populate)."""

    app_dir: Path
    hub_name: str
    route_prefix: str = DEFAULT_ROUTE_PREFIX
    connection_name: str = DEFAULT_CONNECTION_NAME
    partition_count: int = 4
    control_queue_visibility_timeout: float = DEFAULT_CONTROL_QUEUE_VISIBILITY_TIMEOUT
    work_item_queue_visibility_timeout: float = DEFAULT_WORK_ITEM_QUEUE_VISIBILITY_TIMEOUT
    max_queue_polling_interval: float = DEFAULT_MAX_QUEUE_POLLING_INTERVAL
    max_concurrent_activity_functions: int = 10 * (os.cpu_count() or 1)
    max_concurrent_orchestrator_functions: int = 10 * (os.cpu_count() or 1)
    store_inputs_in_orchestration_history: bool = False
    queues: QueueOptions = QueueOptions()
    log_level: int = logging.INFO
    local_http_port: int | None = None  # local.settings.json Host.LocalHttpPort
    script_file: str = "function_app.py"
    settings_applied: tuple[str, ...] = field(default=())  # local.settings Values copied into os.environ
    settings_skipped: tuple[str, ...] = field(default=())  # Values not copied because the env already had them

    @property
    def storage_connection_string(self) -> str | None:
        """The storage connection setting's value (env after local settings were applied), if any."""
        return os.environ.get(self.connection_name) or None


def load_config(
    app_dir: Path,
    *,
    environ: MutableMapping[str, str] | None = None,
    hub_override: str | None = None,
) -> HostConfig:
    """Read ``local.settings.json`` (into ``environ``, default ``os.environ``) then ``host.json`` of ``app_dir``."""
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    app_dir = app_dir.resolve()
    if not app_dir.is_dir():
        raise ConfigError(f"app folder {app_dir} does not exist")
    local = _read_json_object(app_dir / "local.settings.json", required=False)
    applied, skipped, local_port = _apply_local_settings(local, env)
    host = _read_json_object(app_dir / "host.json", required=True)

    version = host.get("version")
    if version is not None and str(version) != "2.0":
        raise ConfigError(f"host.json: \"version\" must be \"2.0\" (got {version!r})")
    extensions = _ci_object(host, "extensions", "host.json")
    durable = _ci_object(extensions, "durableTask", "host.json extensions")
    provider = _ci_object(durable, "storageProvider", "host.json extensions.durableTask")
    http = _ci_object(extensions, "http", "host.json extensions")
    where = "host.json extensions.durableTask"

    if provider.get("type") not in (None, "", "AzureStorage", "azure_storage", "azureStorage"):
        raise ConfigError(f"{where}.storageProvider.type {provider.get('type')!r} is not supported by devhost "
                          "(only the Azure Storage provider is)")
    hub_name = _hub_name(hub_override if hub_override is not None else _ci_get(durable, "hubName"), env)
    partition_count = _int(provider, "partitionCount", 4, where + ".storageProvider")
    if not 1 <= partition_count <= MAX_PARTITION_COUNT:
        raise ConfigError(f"{where}.storageProvider.partitionCount must be 1..{MAX_PARTITION_COUNT}, "
                          f"got {partition_count}")
    cores = os.cpu_count() or 1
    return HostConfig(
        app_dir=app_dir,
        hub_name=hub_name,
        route_prefix=_route_prefix(http),
        connection_name=str(_ci_get(provider, "connectionName") or _ci_get(provider, "connectionStringName")
                            or DEFAULT_CONNECTION_NAME),
        partition_count=partition_count,
        control_queue_visibility_timeout=_timespan(
            provider, "controlQueueVisibilityTimeout", DEFAULT_CONTROL_QUEUE_VISIBILITY_TIMEOUT, where),
        work_item_queue_visibility_timeout=_timespan(
            provider, "workItemQueueVisibilityTimeout", DEFAULT_WORK_ITEM_QUEUE_VISIBILITY_TIMEOUT, where),
        max_queue_polling_interval=_timespan(
            provider, "maxQueuePollingInterval", DEFAULT_MAX_QUEUE_POLLING_INTERVAL, where),
        max_concurrent_activity_functions=_positive_int(durable, "maxConcurrentActivityFunctions", 10 * cores, where),
        max_concurrent_orchestrator_functions=_positive_int(
            durable, "maxConcurrentOrchestratorFunctions", 10 * cores, where),
        store_inputs_in_orchestration_history=bool(_ci_get(durable, "storeInputsInOrchestrationHistory") or False),
        queues=_queue_options({**{k.lower(): v for k, v in _ci_object(extensions, "queues",
                                                                      "host.json extensions").items()},
                               **_host_overrides(env, "extensions__queues")}),
        log_level=_log_level(host),
        local_http_port=local_port,
        script_file=env.get("PYTHON_SCRIPT_FILE_NAME") or "function_app.py",
        settings_applied=applied,
        settings_skipped=skipped,
    )


def _read_json_object(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise ConfigError(f"{path} not found (every function app needs a host.json at its root)")
        return {}
    text = path.read_text(encoding="utf-8-sig")  # the templates are sometimes saved with a BOM
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name} must hold a JSON object, got {type(data).__name__}")
    return data


def _apply_local_settings(
    local: Mapping[str, Any], env: MutableMapping[str, str]
) -> tuple[tuple[str, ...], tuple[str, ...], int | None]:
    if not local:
        return (), (), None
    if local.get("IsEncrypted") is True:
        raise ConfigError("local.settings.json is encrypted (IsEncrypted: true); devhost cannot decrypt it — "
                          "run `func settings decrypt` or write the values in clear text")
    values = local.get("Values", {})
    if not isinstance(values, dict):
        raise ConfigError("local.settings.json: \"Values\" must be an object of string settings")
    applied: list[str] = []
    skipped: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict | list):
            raise ConfigError(f"local.settings.json: Values.{key} must be a string, got {type(value).__name__}")
        if not key:
            continue
        text = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        if env.get(key):
            skipped.append(key)
            continue
        env[key] = text
        applied.append(key)
    port: int | None = None
    host_section = local.get("Host", {})
    if isinstance(host_section, dict) and host_section.get("LocalHttpPort") not in (None, ""):
        try:
            port = int(host_section["LocalHttpPort"])
        except (TypeError, ValueError):
            raise ConfigError("local.settings.json: Host.LocalHttpPort must be a port number") from None
    return tuple(applied), tuple(skipped), port


def _ci_get(obj: Mapping[str, Any], key: str) -> Any:
    """Case-insensitive lookup, like .NET configuration binding."""
    lowered = key.lower()
    for k, v in obj.items():
        if k.lower() == lowered:
            return v
    return None


def _ci_object(obj: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = _ci_get(obj, key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.{key} must be an object, got {type(value).__name__}")
    return value


def resolve_app_settings(text: str, env: Mapping[str, str]) -> str:
    """Replace ``%Name%`` tokens with app settings (the WebJobs name resolver); unknown names are an error."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"app setting %{name}% is not defined "
                              "(set it in local.settings.json Values or the environment)")
        return env[name]

    return _APP_SETTING_RE.sub(substitute, text)


def sanitize_hub_name(name: str) -> str:
    """The extension's treatment of *default* hub names (e.g. the site name): alphanumerics only."""
    cleaned = "".join(ch for ch in name if ch.isascii() and ch.isalnum())
    if not cleaned:
        return "DefaultTaskHub"
    if cleaned[0].isdigit():
        cleaned = "t" + cleaned
    return cleaned[:45]


def _hub_name(explicit: Any, env: Mapping[str, str]) -> str:
    if explicit is None or explicit == "":
        site = env.get("WEBSITE_SITE_NAME")
        return sanitize_hub_name(site) if site else DEFAULT_HUB_NAME
    if not isinstance(explicit, str):
        raise ConfigError(f"host.json extensions.durableTask.hubName must be a string, got {explicit!r}")
    name = resolve_app_settings(explicit, env)
    if not _HUB_NAME_RE.match(name):
        raise ConfigError(
            f"Task hub name '{name}' should contain only alphanumeric characters, start with a letter, "
            "and have length between 3 and 45."
        )
    return name


def _route_prefix(http: Mapping[str, Any]) -> str:
    value = _ci_get(http, "routePrefix")
    if value is None:
        return DEFAULT_ROUTE_PREFIX
    if not isinstance(value, str):
        raise ConfigError("host.json extensions.http.routePrefix must be a string")
    return value.strip("/")


def _int(obj: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = _ci_get(obj, key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{where}.{key} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{where}.{key} must be an integer, got {value!r}") from None


def _positive_int(obj: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = _int(obj, key, default, where)
    if value < 1:
        raise ConfigError(f"{where}.{key} must be at least 1, got {value}")
    return value


def parse_timespan(text: str) -> float:
    """A .NET TimeSpan string (``[d.]hh:mm:ss[.fffffff]``) in seconds."""
    match = _TIMESPAN_RE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a TimeSpan like 00:05:00")
    days = int(match.group("days") or 0)
    return days * 86400 + int(match.group("h")) * 3600 + int(match.group("m")) * 60 + float(match.group("s"))


def _timespan(obj: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = _ci_get(obj, key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ConfigError(f"{where}.storageProvider.{key} must be a TimeSpan string like \"00:05:00\", got {value!r}")
    try:
        seconds = parse_timespan(value)
    except ValueError as exc:
        raise ConfigError(f"{where}.storageProvider.{key}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{where}.storageProvider.{key} must be positive, got {value!r}")
    return seconds


def _host_overrides(env: Mapping[str, str], section: str) -> dict[str, Any]:
    """App settings ``AzureFunctionsJobHost__<section>__<key>`` override host.json values, as in the real host."""
    prefix = f"azurefunctionsjobhost__{section.lower()}__"
    found: dict[str, Any] = {}
    for name, value in env.items():
        if name.lower().startswith(prefix) and "__" not in name[len(prefix):]:
            text = value.strip()
            found[name[len(prefix):].lower()] = int(text) if text.isdigit() else text
    return found


def _queue_options(queues: Mapping[str, Any]) -> QueueOptions:
    where = "host.json extensions.queues"
    defaults = QueueOptions()
    polling = _ci_get(queues, "maxPollingInterval")
    visibility = _ci_get(queues, "visibilityTimeout")

    def seconds(value: Any, key: str, default: float) -> float:
        # The host accepts a TimeSpan string or (maxPollingInterval) a number of milliseconds.
        if value is None:
            return default
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value) / 1000.0
        try:
            return parse_timespan(str(value))
        except ValueError as exc:
            raise ConfigError(f"{where}.{key}: {exc}") from None

    max_polling = seconds(polling, "maxPollingInterval", defaults.max_polling_interval)
    if max_polling < 0.1:
        raise ConfigError(f"{where}.maxPollingInterval must be at least 100 ms, got {polling!r}")
    batch_size = _positive_int(queues, "batchSize", defaults.batch_size, where)
    if batch_size > 32:
        raise ConfigError(f"{where}.batchSize must be at most 32, got {batch_size}")
    encoding = str(_ci_get(queues, "messageEncoding") or defaults.message_encoding).lower()
    if encoding not in ("base64", "none"):
        raise ConfigError(f"{where}.messageEncoding must be \"base64\" or \"none\", got {encoding!r}")
    return QueueOptions(
        max_polling_interval=max_polling,
        visibility_timeout=seconds(visibility, "visibilityTimeout", defaults.visibility_timeout),
        batch_size=batch_size,
        max_dequeue_count=_positive_int(queues, "maxDequeueCount", defaults.max_dequeue_count, where),
        message_encoding=encoding,
    )


def _log_level(host: Mapping[str, Any]) -> int:
    log_levels = _ci_object(_ci_object(host, "logging", "host.json"), "logLevel", "host.json logging")
    value = _ci_get(log_levels, "default")
    if value is None:
        return logging.INFO
    level = _LOG_LEVELS.get(str(value).lower())
    if level is None:
        raise ConfigError(f"host.json logging.logLevel.default {value!r} is not one of "
                          f"{', '.join(n.title() for n in _LOG_LEVELS)}")
    return level


__all__ = [
    "ConfigError",
    "HostConfig",
    "load_config",
    "parse_timespan",
    "resolve_app_settings",
    "sanitize_hub_name",
]
