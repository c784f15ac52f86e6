"""The scenario file of the scripted (fake) engine: which tool calls and answers to give for which user message.

Format (JSON; the full reference is docs/devmodel.md)::

    {"seed": 7, "latency_seconds": 0.0, "faults": [RULE, ...], "default_answer": "TEMPLATE",
     "scenarios": [{"name": "weather", "match": "REGEX", "latency_seconds": 0.2, "faults": [RULE, ...],
                    "rounds": [{"tool_calls": [{"name": "get_weather", "arguments": {"location": "{{match:city}}"}},
                                               {"name": "x", "arguments_raw": "{not json"}]}],
                    "answer": "It is {{tool:get_weather}}"}]}

A RULE is ``{"kind": KIND, "marker": "[fault:429]", "first_requests": N, "probability": P, ...}``; it fires
when all of its triggers hold (a rule without triggers always fires).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import jsonschema

FaultKind = Literal[
    "rate_limit",  # HTTP 429 with retry-after
    "server_error",  # HTTP 500
    "unavailable",  # HTTP 503
    "slow",  # extra latency before the turn is produced
    "fail",  # the run/response ends failed
    "incomplete",  # the run/response ends incomplete
    "expire",  # the run ends expired (Responses: failed, it has no expired status)
    "never_finish",  # the run stays in progress until cancelled or expired
    "malformed_arguments",  # the first tool call's arguments are not valid JSON
    "unknown_tool",  # the first tool call names a tool the client never offered
    "webhook_lost",  # the response's webhook is never sent
    "webhook_duplicate",  # the response's webhook is sent twice
    "webhook_late",  # the response's webhook is sent ``seconds`` late
]
HTTP_FAULTS: frozenset[str] = frozenset({"rate_limit", "server_error", "unavailable"})

_PLACEHOLDER = re.compile(r"\{\{\s*(tool:[\w.-]+|tool#\d+|match:\w+|user|tools)\s*\}\}")
_ANY_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")

_LATENCY = {
    "oneOf": [
        {"type": "number", "minimum": 0},
        {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 2, "maxItems": 2},
    ]
}
_RULE = {
    "type": "object",
    "required": ["kind"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": list(FaultKind.__args__)},  # type: ignore[attr-defined]
        "marker": {"type": "string", "minLength": 1},
        "first_requests": {"type": "integer", "minimum": 1},
        "probability": {"type": "number", "minimum": 0, "maximum": 1},
        "retry_after_seconds": {"type": "number", "minimum": 0},
        "seconds": {"type": "number", "minimum": 0},
        "message": {"type": "string"},
        "error_code": {"enum": ["server_error", "rate_limit_exceeded", "invalid_prompt"]},
    },
}
_CALL = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1}, "arguments": {"type": "object"},
                   "arguments_raw": {"type": "string"}},
    "not": {"required": ["arguments", "arguments_raw"]},
}
SCENARIO_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["scenarios"],
    "additionalProperties": False,
    "properties": {
        "$comment": {"type": "string"},
        "seed": {"type": "integer"},
        "latency_seconds": _LATENCY,
        "faults": {"type": "array", "items": _RULE},
        "default_answer": {"type": "string"},
        "scenarios": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "match"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "$comment": {"type": "string"},
                    "match": {"type": "string"},
                    "rounds": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["tool_calls"],
                            "additionalProperties": False,
                            "properties": {"tool_calls": {"type": "array", "items": _CALL, "minItems": 1}},
                        },
                    },
                    "answer": {"type": "string"},
                    "latency_seconds": _LATENCY,
                    "faults": {"type": "array", "items": _RULE},
                },
            },
        },
    },
}


class ScenarioError(ValueError):
    """The scenario file is unreadable or does not follow the format."""


@dataclass(frozen=True)
class FaultRule:
    kind: FaultKind
    marker: str | None = None
    first_requests: int | None = None
    probability: float | None = None
    retry_after_seconds: float = 1.0
    seconds: float = 2.0
    """For ``slow``: the extra delay."""
    message: str | None = None
    error_code: Literal["server_error", "rate_limit_exceeded", "invalid_prompt"] = "server_error"

    @property
    def is_http(self) -> bool:
        return self.kind in HTTP_FAULTS


@dataclass(frozen=True)
class ScriptedCall:
    name: str
    arguments: dict[str, Any] | None = None
    arguments_raw: str | None = None
    """Sent verbatim instead of ``arguments``: how a scenario declares malformed arguments."""


@dataclass(frozen=True)
class Latency:
    low: float = 0.0
    high: float = 0.0

    @staticmethod
    def parse(value: object) -> Latency:
        """A number of seconds, ``[low, high]``, or the CLI's ``"LOW:HIGH"``."""
        if isinstance(value, int | float):
            return Latency(float(value), float(value))
        if isinstance(value, str):
            low, _, high = value.partition(":")
            try:
                return Latency.parse([float(low), float(high or low)])
            except ValueError as exc:
                raise ScenarioError(f"latency must be SECONDS or LOW:HIGH, got {value!r}") from exc
        if isinstance(value, list) and len(value) == 2:
            low_f, high_f = float(value[0]), float(value[1])
            if low_f < 0 or high_f < low_f:
                raise ScenarioError(f"latency range must satisfy 0 <= low <= high, got {value!r}")
            return Latency(low_f, high_f)
        raise ScenarioError(f"latency must be seconds or [low, high], got {value!r}")


@dataclass(frozen=True)
class Scenario:
    name: str
    pattern: re.Pattern[str]
    rounds: tuple[tuple[ScriptedCall, ...], ...] = ()
    answer: str = ""
    latency: Latency | None = None
    faults: tuple[FaultRule, ...] = ()


@dataclass(frozen=True)
class ScenarioBook:
    scenarios: tuple[Scenario, ...]
    default_answer: str = "I am the devmodel scripted engine; no scenario matched your message."
    seed: int | None = None
    latency: Latency = Latency()
    faults: tuple[FaultRule, ...] = ()

    def find(self, user_message: str) -> tuple[Scenario | None, re.Match[str] | None]:
        for scenario in self.scenarios:
            found = scenario.pattern.search(user_message)
            if found:
                return scenario, found
        return None, None


def default_scenario_path() -> Path:
    return Path(__file__).resolve().parent / "scenarios" / "seeds.json"


def load_scenarios(path: Path | None = None) -> ScenarioBook:
    """Read and check a scenario file (defaults to the bundled seeds.json)."""
    path = path or default_scenario_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario file {path} is not JSON: {exc}") from exc
    return parse_scenarios(raw, source=str(path))


def parse_scenarios(raw: object, *, source: str = "<scenarios>") -> ScenarioBook:
    try:
        jsonschema.validate(raw, SCENARIO_FILE_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ScenarioError(f"{source}: at {where}: {exc.message}") from exc
    data = cast(dict[str, Any], raw)
    default_answer = data.get("default_answer", ScenarioBook.default_answer)
    _check_template(default_answer, f"{source}: default_answer")
    return ScenarioBook(
        scenarios=tuple(_parse_scenario(item, source) for item in data["scenarios"]),
        default_answer=default_answer,
        seed=data.get("seed"),
        latency=Latency.parse(data.get("latency_seconds", 0.0)),
        faults=tuple(_parse_rule(rule) for rule in data.get("faults", [])),
    )


def _parse_scenario(item: dict[str, Any], source: str) -> Scenario:
    where = f"{source}: scenario {item['name']!r}"
    try:
        pattern = re.compile(item["match"])
    except re.error as exc:
        raise ScenarioError(f"{where}: match is not a valid regex: {exc}") from exc
    answer = item.get("answer", "")
    _check_template(answer, f"{where}: answer")
    rounds = tuple(
        tuple(
            ScriptedCall(name=call["name"], arguments=call.get("arguments", None if "arguments_raw" in call else {}),
                         arguments_raw=call.get("arguments_raw"))
            for call in round_["tool_calls"]
        )
        for round_ in item.get("rounds", [])
    )
    latency = Latency.parse(item["latency_seconds"]) if "latency_seconds" in item else None
    return Scenario(item["name"], pattern, rounds, answer, latency, tuple(_parse_rule(r) for r in item.get("faults", [])))


def _parse_rule(rule: dict[str, Any]) -> FaultRule:
    return FaultRule(**rule)


def _check_template(template: str, where: str) -> None:
    for placeholder in _ANY_PLACEHOLDER.findall(template):
        if not _PLACEHOLDER.fullmatch(placeholder):
            raise ScenarioError(
                f"{where}: unknown placeholder {placeholder}; use {{{{tool:NAME}}}}, {{{{tool#INDEX}}}}, "
                "{{match:GROUP}}, {{user}} or {{tools}}"
            )


def render_template(template: str, *, outputs: list[tuple[str, str]], user: str, match: re.Match[str] | None) -> str:
    """Fill placeholders: ``outputs`` are (tool name, output) of this user message's tool calls, in call order."""

    def fill(found: re.Match[str]) -> str:
        key = found.group(1)
        if key == "user":
            return user
        if key == "tools":
            return "; ".join(output for _, output in outputs)
        if key.startswith("tool#"):
            index = int(key[5:])
            return outputs[index][1] if index < len(outputs) else ""
        if key.startswith("tool:"):
            return "; ".join(output for name, output in outputs if name == key[5:])
        group = key[6:]
        if match is None or group not in match.re.groupindex:
            return ""
        return (match.group(group) or "").strip()

    return _PLACEHOLDER.sub(fill, template)
