"""The OrchestratorState JSON the Python SDK returns (spec section 2.3) and its actions (section 2.4), typed."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonschema


class ActionType(enum.IntEnum):
    """``ActionType`` of azure-functions-durable 1.7.0 (= .NET ``AsyncActionType``)."""

    CallActivity = 0
    CallActivityWithRetry = 1
    CallSubOrchestrator = 2
    CallSubOrchestratorWithRetry = 3
    ContinueAsNew = 4
    CreateTimer = 5
    WaitForExternalEvent = 6
    CallEntity = 7
    CallHttp = 8
    SignalEntity = 9
    ScheduledSignalEntity = 10
    WhenAny = 11
    WhenAll = 12


# .NET RetryOptions defaults for everything Python 1.7.0 does not send (spec section 2.4 notes).
DEFAULT_BACKOFF_COEFFICIENT = 1.0
DEFAULT_MAX_RETRY_INTERVAL_MS = 6 * 24 * 3600 * 1000


@dataclass(frozen=True)
class RetryPolicy:
    first_retry_interval_ms: float
    max_number_of_attempts: int
    backoff_coefficient: float = DEFAULT_BACKOFF_COEFFICIENT
    max_retry_interval_ms: float = DEFAULT_MAX_RETRY_INTERVAL_MS
    retry_timeout_ms: float | None = None  # None = infinite (the .NET default)


@dataclass(frozen=True)
class CallActivity:
    name: str
    input_text: str | None
    retry: RetryPolicy | None = None


@dataclass(frozen=True)
class CallSubOrchestrator:
    name: str
    input_text: str | None
    instance_id: str | None
    retry: RetryPolicy | None = None


@dataclass(frozen=True)
class CreateTimer:
    fire_at: datetime
    canceled: bool


@dataclass(frozen=True)
class WaitForExternalEvent:
    name: str


@dataclass(frozen=True)
class ContinueAsNew:
    input_text: str | None


@dataclass(frozen=True)
class WhenAll:
    children: tuple[Action, ...]


@dataclass(frozen=True)
class WhenAny:
    children: tuple[Action, ...]


@dataclass(frozen=True)
class Unsupported:
    """An action devhost does not implement (CallHttp, entities); replaying it fails the orchestration."""

    action_type: ActionType
    description: str


Action = (
    CallActivity
    | CallSubOrchestrator
    | CreateTimer
    | WaitForExternalEvent
    | ContinueAsNew
    | WhenAll
    | WhenAny
    | Unsupported
)


@dataclass(frozen=True)
class OrchestratorState:
    is_done: bool
    actions: tuple[Action, ...]
    has_output: bool = False
    output: Any = None
    error: str | None = None
    has_custom_status: bool = False
    custom_status: Any = None
    schema_version: int = 0
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class InvalidOrchestratorState(ValueError):
    """The orchestrator's reply is not an OrchestratorState devhost can replay."""


_ACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["actionType"],
    "properties": {
        "actionType": {"type": "integer", "minimum": 0, "maximum": 12},
        "functionName": {"type": "string"},
        "input": {"type": ["string", "null"]},
        "instanceId": {"type": ["string", "null"]},
        "fireAt": {"type": "string"},
        "isCanceled": {"type": "boolean"},
        "externalEventName": {"type": "string"},
        "compoundActions": {"type": "array", "items": {"$ref": "#/$defs/action"}},
        "retryOptions": {
            "type": "object",
            "required": ["firstRetryIntervalInMilliseconds", "maxNumberOfAttempts"],
            "properties": {
                "firstRetryIntervalInMilliseconds": {"type": "number", "exclusiveMinimum": 0},
                "maxNumberOfAttempts": {"type": "integer"},
            },
        },
    },
    "allOf": [
        {
            "if": {"properties": {"actionType": {"enum": [0, 1, 2, 3]}}},
            "then": {"required": ["functionName"]},
        },
        {"if": {"properties": {"actionType": {"enum": [1, 3]}}}, "then": {"required": ["retryOptions"]}},
        {"if": {"properties": {"actionType": {"const": 5}}}, "then": {"required": ["fireAt"]}},
        {"if": {"properties": {"actionType": {"const": 6}}}, "then": {"required": ["externalEventName"]}},
        {"if": {"properties": {"actionType": {"enum": [11, 12]}}}, "then": {"required": ["compoundActions"]}},
    ],
}

STATE_SCHEMA: dict[str, Any] = {
    "$defs": {"action": _ACTION_SCHEMA},
    "type": "object",
    "required": ["isDone", "actions"],
    "properties": {
        "isDone": {"type": "boolean"},
        "schemaVersion": {"type": "integer"},
        "actions": {"type": "array", "items": {"type": "array", "items": {"$ref": "#/$defs/action"}}},
        "error": {"type": ["string", "null"]},
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(STATE_SCHEMA)


def parse_state(raw: Any) -> OrchestratorState:
    """Type an OrchestratorState; raises InvalidOrchestratorState with a readable reason.

    The typed parse checks every field it reads, which is enough to accept a valid state; the JSON schema is
    consulted only to explain a rejection precisely (validating thousands of fan-out actions with it on every
    episode would cost more than the replay itself).
    """
    try:
        return _parse_state(raw)
    except (KeyError, TypeError, ValueError) as exc:
        error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(raw))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise InvalidOrchestratorState(f"invalid OrchestratorState at {where}: {error.message}") from exc
        if isinstance(exc, InvalidOrchestratorState):
            raise
        raise InvalidOrchestratorState(f"invalid OrchestratorState: {exc!r}") from exc


def _parse_state(raw: Any) -> OrchestratorState:
    if not isinstance(raw, dict) or not isinstance(raw.get("isDone"), bool):
        raise TypeError("OrchestratorState needs a boolean isDone")
    groups = raw["actions"]
    if not isinstance(groups, list) or not all(isinstance(group, list) for group in groups):
        raise TypeError("actions must be a list of lists")
    if not isinstance(raw.get("error"), str | None):
        raise TypeError("error must be a string")
    schema_version = raw.get("schemaVersion", 0)
    if not isinstance(schema_version, int):
        raise TypeError("schemaVersion must be an integer")
    if schema_version < 1:
        # devhost asks for schema V3 in the context JSON; V1 (one list per yield) is a legacy shape.
        raise InvalidOrchestratorState(
            "OrchestratorState uses replay schema V1, which devhost does not replay"
        )
    actions = tuple(_parse_action(item) for group in groups for item in group)
    return OrchestratorState(
        is_done=raw["isDone"],
        actions=actions,
        has_output="output" in raw,
        output=raw.get("output"),
        error=raw.get("error"),
        has_custom_status="customStatus" in raw,
        custom_status=raw.get("customStatus"),
        schema_version=schema_version,
        raw=raw,
    )


def _text(raw: dict[str, Any], key: str, *, required: bool = True) -> Any:
    value = raw[key] if required else raw.get(key)
    if not isinstance(value, str) and (required or value is not None):
        raise TypeError(f"{key} must be a string")
    return value


def _parse_retry(raw: dict[str, Any]) -> RetryPolicy:
    options = raw["retryOptions"]
    first, attempts = options["firstRetryIntervalInMilliseconds"], options["maxNumberOfAttempts"]
    if not isinstance(first, int | float) or first <= 0 or not isinstance(attempts, int):
        raise ValueError(
            "retryOptions need a positive firstRetryIntervalInMilliseconds and maxNumberOfAttempts"
        )
    timeout = options.get("retryTimeoutInMilliseconds")
    return RetryPolicy(
        first_retry_interval_ms=float(options["firstRetryIntervalInMilliseconds"]),
        max_number_of_attempts=int(options["maxNumberOfAttempts"]),
        backoff_coefficient=float(options.get("backoffCoefficient", DEFAULT_BACKOFF_COEFFICIENT)),
        max_retry_interval_ms=float(
            options.get("maxRetryIntervalInMilliseconds", DEFAULT_MAX_RETRY_INTERVAL_MS)
        ),
        retry_timeout_ms=float(timeout) if timeout is not None else None,
    )


def parse_fire_at(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidOrchestratorState(f"invalid timer fireAt {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_action(raw: dict[str, Any]) -> Action:
    if not isinstance(raw, dict) or isinstance(raw.get("actionType"), bool):
        raise TypeError("an action must be an object with an integer actionType")
    kind = ActionType(raw["actionType"])
    if kind in (ActionType.CallActivity, ActionType.CallActivityWithRetry):
        retry = _parse_retry(raw) if kind is ActionType.CallActivityWithRetry else None
        return CallActivity(_text(raw, "functionName"), _text(raw, "input", required=False), retry)
    if kind in (ActionType.CallSubOrchestrator, ActionType.CallSubOrchestratorWithRetry):
        retry = _parse_retry(raw) if kind is ActionType.CallSubOrchestratorWithRetry else None
        return CallSubOrchestrator(
            _text(raw, "functionName"),
            _text(raw, "input", required=False),
            _text(raw, "instanceId", required=False),
            retry,
        )
    if kind is ActionType.CreateTimer:
        if not isinstance(raw.get("isCanceled", False), bool):
            raise TypeError("isCanceled must be a boolean")
        return CreateTimer(parse_fire_at(_text(raw, "fireAt")), bool(raw.get("isCanceled", False)))
    if kind is ActionType.WaitForExternalEvent:
        return WaitForExternalEvent(_text(raw, "externalEventName"))
    if kind is ActionType.ContinueAsNew:
        return ContinueAsNew(_text(raw, "input", required=False))
    if kind in (ActionType.WhenAll, ActionType.WhenAny):
        children = raw["compoundActions"]
        if not isinstance(children, list):
            raise TypeError("compoundActions must be a list")
        parsed = tuple(_parse_action(child) for child in children)
        return WhenAll(parsed) if kind is ActionType.WhenAll else WhenAny(parsed)
    if kind is ActionType.CallHttp:
        request = raw.get("httpRequest") or {}
        return Unsupported(kind, f"CallHttp {request.get('method', '?')} {request.get('uri', '?')}")
    return Unsupported(
        kind, f"{kind.name} {raw.get('instanceId', '?')} operation {raw.get('operation', '?')!r}"
    )
