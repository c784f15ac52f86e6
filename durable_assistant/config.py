"""App settings: one frozen dataclass read from the environment, validated once, with clear errors.

Every setting name the app reads is listed in ``SETTING_NAMES`` so infrastructure code (Bicep generation, docs)
can stay in step with the code.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ProviderKind = Literal["responses", "threads", "chat"]
AuthKind = Literal["key", "entra"]
RunToolsKind = Literal["app", "agent"]
ApprovalMode = Literal["side_effects", "all", "none", "listed"]

DEFAULT_BASE_URL = "http://127.0.0.1:8199/v1"
DEFAULT_ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
DEFAULT_INSTRUCTIONS = (
    "You are a helpful business and home assistant. Use the available tools to look up customers, analyse "
    "business metrics, check the weather and control lamps. Explain findings clearly; if a tool reports an "
    "error, tell the user what failed."
)

SETTING_NAMES: tuple[str, ...] = (
    "ASSISTANT_PROVIDER",
    "ASSISTANT_BASE_URL",
    "ASSISTANT_MODEL",
    "ASSISTANT_AUTH",
    "ASSISTANT_API_KEY",
    "ASSISTANT_ENTRA_SCOPE",
    "ASSISTANT_AGENT_ID",
    "ASSISTANT_INSTRUCTIONS",
    "ASSISTANT_TURN_DEADLINE_SECONDS",
    "ASSISTANT_MAX_MESSAGE_CHARS",
    "ASSISTANT_MAX_TOOL_OUTPUT_CHARS",
    "ASSISTANT_POLL_INTERVAL_SECONDS",
    "ASSISTANT_POLL_FIRST_SECONDS",
    "ASSISTANT_POLL_GROWTH",
    "ASSISTANT_POLL_MAX_SECONDS",
    "ASSISTANT_FIRST_LOOK_SECONDS",
    "ASSISTANT_WEBHOOK_SECRET",
    "ASSISTANT_WEBHOOK_POLL_SECONDS",
    "ASSISTANT_TOOL_MODULES",
    "ASSISTANT_APPROVAL_REQUIRED",
    "ASSISTANT_APPROVAL_TIMEOUT_SECONDS",
    "ASSISTANT_APPROVERS",
    "ASSISTANT_STORAGE_CONNECTION",
    "ASSISTANT_STORAGE_PREFIX",
    "ASSISTANT_RUN_TOOLS",
    "ASSISTANT_TOOL_QUEUE_PREFIX",
    "ASSISTANT_TOOL_QUEUES",
    "ASSISTANT_EXPOSE_DURABLE_URLS",
    # conversation lifecycle (durable_assistant/lifecycle)
    "ASSISTANT_RETENTION_DAYS",
    "ASSISTANT_RETENTION_SCHEDULE",
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "TASKHUB_NAME",
)


DEFAULT_RETENTION_SCHEDULE = "0 30 3 * * *"
"""NCRONTAB (sec min hour day month day-of-week, UTC): the retention sweep runs daily at 03:30."""
_SCHEDULE = re.compile(r"^(\S+\s+){5}\S+$|^(\d+\.)?\d{1,2}:\d{1,2}:\d{1,2}$")


class ConfigError(ValueError):
    """A setting is missing or has an invalid value; the message names the setting."""


@dataclass(frozen=True)
class StorageSettings:
    """Where the app keeps conversations, tool data and turn records."""

    connection_string: str | None
    """A full connection string (Azurite or a key-based account); None when identity-based."""
    blob_service_uri: str | None = None
    """Blob endpoint for identity-based access (DefaultAzureCredential)."""
    table_service_uri: str | None = None
    """Table endpoint for identity-based access."""
    queue_service_uri: str | None = None
    """Queue endpoint for identity-based access (the tool queues live in the same account)."""


@dataclass(frozen=True)
class Settings:
    """Every app setting, typed. Build with ``Settings.from_env()``."""

    provider: ProviderKind = "responses"
    """Which provider protocol to speak: responses (primary), threads (Foundry classic), chat."""
    base_url: str = DEFAULT_BASE_URL
    """OpenAI-compatible base URL, e.g. https://RES.openai.azure.com/openai/v1/ (default: local devmodel)."""
    model: str = "devmodel"
    """Model or Azure deployment name."""
    auth: AuthKind = "key"
    """key: ASSISTANT_API_KEY; entra: a DefaultAzureCredential bearer token for ``entra_scope``."""
    api_key: str = "local-dev-key"
    """API key (ignored with auth=entra)."""
    entra_scope: str = DEFAULT_ENTRA_SCOPE
    """Token scope for auth=entra."""
    agent_id: str | None = None
    """Assistant/agent id for the threads provider (required there)."""
    instructions: str = DEFAULT_INSTRUCTIONS
    """System instructions sent with every run (kept in our config, not in provider-side prompts)."""
    turn_deadline_seconds: float = 300.0
    """A turn that has not finished after this long is cancelled at the provider and fails."""
    max_message_chars: int = 8000
    """Longest accepted user message; longer ones get HTTP 413."""
    max_tool_output_chars: int = 16000
    """Tool outputs are truncated to this many characters before they go back to the model."""
    poll_interval_seconds: float = 0.25
    """Pause between status reads while create_run / submit_outputs take their first look at a new run."""
    poll_first_seconds: float = 2.0
    """First durable-timer delay between provider reads (without webhooks)."""
    poll_growth: float = 2.0
    """Each following delay is this many times the previous one ..."""
    poll_max_seconds: float = 15.0
    """... up to this cap."""
    first_look_seconds: float = 1.0
    """How long create_run / submit_outputs watch a new run before handing over to durable timers."""
    webhook_secret: str | None = None
    """Standard Webhooks secret (``whsec_...``) of the provider's webhook endpoint; enables the webhook route
    and the fast path (Responses only): a run's end is raised at its turn as an event."""
    webhook_poll_seconds: float = 30.0
    """With webhooks, the durable-timer delay between safety reads (a lost webhook costs at most this)."""
    tool_modules: tuple[str, ...] = ()
    """Python modules with a ``register(registry)`` function that adds custom tools to the registry."""
    storage: StorageSettings = StorageSettings(connection_string=None)
    """Storage used for the app's own data."""
    storage_prefix: str = ""
    """Prefix for every table and container name (lets several apps or test runs share one account)."""
    run_tools: RunToolsKind = "app"
    """threads provider: ``app`` sends our instructions and tools with every run (they override the agent's);
    ``agent`` sends neither, so the agent's own definition applies (e.g. azure_function tools over queues)."""
    tool_queue_prefix: str = "tool"
    """Tool queues are named ``{prefix}-{tool name with dashes}-input`` / ``-output`` unless overridden."""
    tool_queues: tuple[tuple[str, str, str], ...] = ()
    """Per-tool queue names ``(tool, input queue, output queue)`` from ASSISTANT_TOOL_QUEUES."""
    retention_days: float = 0.0
    """Conversations idle longer than this many days (fractions allowed) are deleted by the retention sweep;
    0 keeps them forever."""
    retention_schedule: str = DEFAULT_RETENTION_SCHEDULE
    """When the sweep runs: the timer trigger's schedule (6-field NCRONTAB or a TimeSpan such as 01:00:00)."""
    approval_mode: ApprovalMode = "side_effects"
    """Which model tool calls wait for a person: tools registered with side effects (default), all, none, or
    the tools named in ASSISTANT_APPROVAL_REQUIRED (``listed``)."""
    approval_tools: tuple[str, ...] = ()
    """The tool names, when ``approval_mode`` is ``listed``."""
    approval_timeout_seconds: float = 600.0
    """A call nobody approved or denied this long after it was requested is denied."""
    approvers: tuple[str, ...] = ()
    """Principal names (App Service Authentication's X-MS-CLIENT-PRINCIPAL-NAME) allowed to decide; empty:
    any caller that holds the function key."""
    expose_durable_urls: bool = False
    """Add the Durable management URLs (they carry the extension's system key: control over every instance of
    the task hub) to the 202 of a message, under ``durableManagement``. Only for a trusted front end/operator."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate settings; raises ConfigError naming the bad setting."""
        e = os.environ if env is None else env
        provider = _choice(e, "ASSISTANT_PROVIDER", ("responses", "threads", "chat"), "responses")
        auth = _choice(e, "ASSISTANT_AUTH", ("key", "entra"), "key")
        agent_id = e.get("ASSISTANT_AGENT_ID") or None
        if provider == "threads" and not agent_id:
            raise ConfigError("ASSISTANT_AGENT_ID is required when ASSISTANT_PROVIDER=threads")
        base_url = e.get("ASSISTANT_BASE_URL") or DEFAULT_BASE_URL
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"ASSISTANT_BASE_URL must be an http(s) URL, got {base_url!r}")
        return cls(
            provider=provider,  # type: ignore[arg-type]
            base_url=base_url,
            model=e.get("ASSISTANT_MODEL") or "devmodel",
            auth=auth,  # type: ignore[arg-type]
            api_key=e.get("ASSISTANT_API_KEY") or "local-dev-key",
            entra_scope=e.get("ASSISTANT_ENTRA_SCOPE") or DEFAULT_ENTRA_SCOPE,
            agent_id=agent_id,
            instructions=e.get("ASSISTANT_INSTRUCTIONS") or DEFAULT_INSTRUCTIONS,
            turn_deadline_seconds=_positive_float(e, "ASSISTANT_TURN_DEADLINE_SECONDS", 300.0),
            max_message_chars=int(_positive_float(e, "ASSISTANT_MAX_MESSAGE_CHARS", 8000)),
            max_tool_output_chars=int(_positive_float(e, "ASSISTANT_MAX_TOOL_OUTPUT_CHARS", 16000)),
            poll_interval_seconds=_positive_float(e, "ASSISTANT_POLL_INTERVAL_SECONDS", 0.25),
            poll_first_seconds=_positive_float(e, "ASSISTANT_POLL_FIRST_SECONDS", 2.0),
            poll_growth=_at_least(e, "ASSISTANT_POLL_GROWTH", 2.0, minimum=1.0),
            poll_max_seconds=_positive_float(e, "ASSISTANT_POLL_MAX_SECONDS", 15.0),
            first_look_seconds=_at_least(e, "ASSISTANT_FIRST_LOOK_SECONDS", 1.0, minimum=0.0, maximum=5.0),
            webhook_secret=_webhook_secret(e),
            webhook_poll_seconds=_positive_float(e, "ASSISTANT_WEBHOOK_POLL_SECONDS", 30.0),
            tool_modules=tuple(m.strip() for m in (e.get("ASSISTANT_TOOL_MODULES") or "").split(",") if m.strip()),
            storage=_storage(e),
            storage_prefix=_prefix(e),
            run_tools=_choice(e, "ASSISTANT_RUN_TOOLS", ("app", "agent"), "app"),  # type: ignore[arg-type]
            tool_queue_prefix=_queue_prefix(e),
            tool_queues=_tool_queues(e),
            retention_days=_at_least(e, "ASSISTANT_RETENTION_DAYS", 0.0, minimum=0.0),
            retention_schedule=retention_schedule(e),
            approval_mode=_approval_mode(e),
            approval_tools=_approval_tools(e),
            approval_timeout_seconds=_positive_float(e, "ASSISTANT_APPROVAL_TIMEOUT_SECONDS", 600.0),
            approvers=tuple(a.strip() for a in (e.get("ASSISTANT_APPROVERS") or "").split(",") if a.strip()),
            expose_durable_urls=_flag(e, "ASSISTANT_EXPOSE_DURABLE_URLS"),
        )


def retention_schedule(env: Mapping[str, str] | None = None) -> str:
    """ASSISTANT_RETENTION_SCHEDULE, or the daily default when unset."""
    e = os.environ if env is None else env
    value = (e.get("ASSISTANT_RETENTION_SCHEDULE") or "").strip() or DEFAULT_RETENTION_SCHEDULE
    if not _SCHEDULE.match(value):
        raise ConfigError("ASSISTANT_RETENTION_SCHEDULE must be a 6-field NCRONTAB expression such as "
                          f"'{DEFAULT_RETENTION_SCHEDULE}' or a TimeSpan such as 01:00:00; got {value!r}")
    return value


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = (env.get(name) or "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ConfigError(f"{name} must be true or false, got {env[name]!r}")
    return value in ("true", "1")


def _number(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name)
    if value is None:
        return default
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {env[name]!r}")
    return value


def _at_least(env: Mapping[str, str], name: str, default: float, *, minimum: float,
              maximum: float | None = None) -> float:
    value = _number(env, name)
    if value is None:
        return default
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise ConfigError(f"{name} must be {bound}, got {env[name]!r}")
    return value


def _approval_mode(env: Mapping[str, str]) -> ApprovalMode:
    raw = (env.get("ASSISTANT_APPROVAL_REQUIRED") or "side_effects").strip().lower()
    modes: dict[str, ApprovalMode] = {"side_effects": "side_effects", "all": "all", "none": "none"}
    return modes.get(raw, "listed")


def _approval_tools(env: Mapping[str, str]) -> tuple[str, ...]:
    if _approval_mode(env) != "listed":
        return ()
    raw = env.get("ASSISTANT_APPROVAL_REQUIRED") or ""
    names = tuple(sorted({n.strip() for n in raw.split(",") if n.strip()}))
    if not names or not all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", n) for n in names):
        raise ConfigError("ASSISTANT_APPROVAL_REQUIRED must be side_effects, all, none or a comma-separated list of "
                          f"tool names; got {raw!r}")
    return names


def _webhook_secret(env: Mapping[str, str]) -> str | None:
    value = (env.get("ASSISTANT_WEBHOOK_SECRET") or "").strip()
    if value and not value.startswith("whsec_"):
        raise ConfigError("ASSISTANT_WEBHOOK_SECRET must be the endpoint's signing secret, starting with 'whsec_'")
    return value or None


def _prefix(env: Mapping[str, str]) -> str:
    value = env.get("ASSISTANT_STORAGE_PREFIX") or ""
    if value and not (value.isascii() and value.isalnum() and value.islower() and value[0].isalpha()
                      and len(value) <= 20):
        raise ConfigError(
            f"ASSISTANT_STORAGE_PREFIX must be up to 20 lowercase letters/digits starting with a letter, got {value!r}"
        )
    return value


_QUEUE_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")


def valid_queue_name(name: str) -> bool:
    """Azure queue names: 3-63 lowercase letters, digits and single hyphens, starting and ending alphanumeric."""
    return bool(_QUEUE_NAME.match(name))


def tool_queue_settings(env: Mapping[str, str] | None = None) -> tuple[str, tuple[tuple[str, str, str], ...]]:
    """Only the tool-queue settings (prefix, overrides): what the queue functions need at indexing time, before
    storage or provider settings are looked at."""
    e = os.environ if env is None else env
    return _queue_prefix(e), _tool_queues(e)


def _queue_prefix(env: Mapping[str, str]) -> str:
    value = env.get("ASSISTANT_TOOL_QUEUE_PREFIX") or "tool"
    if not valid_queue_name(value + "-x-input") or len(value) > 20:
        raise ConfigError(
            f"ASSISTANT_TOOL_QUEUE_PREFIX must be up to 20 lowercase letters, digits or single hyphens, got {value!r}"
        )
    return value


def _tool_queues(env: Mapping[str, str]) -> tuple[tuple[str, str, str], ...]:
    raw = env.get("ASSISTANT_TOOL_QUEUES") or ""
    if not raw.strip():
        return ()
    example = '{"get_weather": {"input": "input", "output": "output"}}'
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(f"ASSISTANT_TOOL_QUEUES must be JSON like {example}; got {raw!r}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"ASSISTANT_TOOL_QUEUES must be a JSON object like {example}; got {raw!r}")
    result: list[tuple[str, str, str]] = []
    for tool, names in value.items():
        if not (isinstance(names, dict) and set(names) == {"input", "output"}
                and all(isinstance(n, str) and valid_queue_name(n) for n in names.values())
                and names["input"] != names["output"]):
            raise ConfigError(
                f"ASSISTANT_TOOL_QUEUES[{tool!r}] must be {{\"input\": QUEUE, \"output\": QUEUE}} with two different "
                f"valid queue names (3-63 lowercase letters, digits, single hyphens); got {names!r}"
            )
        result.append((str(tool), names["input"], names["output"]))
    return tuple(sorted(result))


def _storage(env: Mapping[str, str]) -> StorageSettings:
    conn = env.get("ASSISTANT_STORAGE_CONNECTION") or env.get("AzureWebJobsStorage")
    if conn:
        if conn.strip() == "UseDevelopmentStorage=true":
            # The documented shorthand for a local Azurite on its default ports.
            from durable_assistant.storage_clients import DEV_STORAGE_CONNECTION_STRING

            conn = DEV_STORAGE_CONNECTION_STRING
        return StorageSettings(connection_string=conn)
    account = env.get("AzureWebJobsStorage__accountName")
    blob = env.get("AzureWebJobsStorage__blobServiceUri")
    table = env.get("AzureWebJobsStorage__tableServiceUri")
    queue = env.get("AzureWebJobsStorage__queueServiceUri")
    if account:
        blob = blob or f"https://{account}.blob.core.windows.net"
        table = table or f"https://{account}.table.core.windows.net"
        queue = queue or f"https://{account}.queue.core.windows.net"
    if blob and table:
        return StorageSettings(connection_string=None, blob_service_uri=blob, table_service_uri=table,
                               queue_service_uri=queue)
    raise ConfigError(
        "no storage configured: set ASSISTANT_STORAGE_CONNECTION or AzureWebJobsStorage (connection string), "
        "or AzureWebJobsStorage__accountName (or __blobServiceUri and __tableServiceUri) for identity access"
    )
