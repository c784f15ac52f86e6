"""Scenario files for the end-to-end tests: devmodel's bundled seed scenarios plus a few of our own (a slow
run to watch the polling phases, flaky provider requests to exercise retries)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.app.stack import SEED_SCENARIOS

EXTRA_SCENARIOS: list[dict[str, Any]] = [
    {"name": "slow_weather", "match": "(?i)slowly tell me the weather in (?P<city>[^?!.]+)",
     "latency_seconds": 2.5,
     "rounds": [{"tool_calls": [{"name": "get_weather", "arguments": {"location": "{{match:city}}"}}]}],
     "answer": "{{tool:get_weather}}"},
    {"name": "faulty_round", "match": "(?i)^check stock, echo slowly and get the weather",
     "rounds": [{"tool_calls": [{"name": "check_stock", "arguments": {"sku": "SKU-42"}},
                                {"name": "slow_echo", "arguments": {"text": "slow done", "seconds": 1.5}},
                                {"name": "get_weather", "arguments": {"location": "Tokyo"}}]}],
     "answer": "Outputs in order: {{tools}}"},
    {"name": "webhook_lost", "match": "(?i)weather in (?P<city>[^?!.]+) \\[webhook:lost\\]", "latency_seconds": 2.0,
     "faults": [{"kind": "webhook_lost"}],
     "rounds": [{"tool_calls": [{"name": "get_weather", "arguments": {"location": "{{match:city}}"}}]}],
     "answer": "{{tool:get_weather}}"},
    {"name": "webhook_duplicate", "match": "(?i)weather in (?P<city>[^?!.]+) \\[webhook:twice\\]",
     "latency_seconds": 2.0, "faults": [{"kind": "webhook_duplicate"}],
     "rounds": [{"tool_calls": [{"name": "get_weather", "arguments": {"location": "{{match:city}}"}}]}],
     "answer": "{{tool:get_weather}}"},
    {"name": "lamp_and_weather", "match": "(?i)turn the (?P<lamp>kitchen|living room) lamp on and tell me the weather",
     "rounds": [{"tool_calls": [{"name": "set_lamp", "arguments": {"lamp": "{{match:lamp}}", "state": True}},
                                {"name": "get_weather", "arguments": {"location": "Tokyo"}}]}],
     "answer": "Done: {{tools}}"},
    {"name": "think_long", "match": "(?i)^think hard about (?P<topic>.+)$", "latency_seconds": 8.0,
     "rounds": [], "answer": "After much thought about {{match:topic}}: 42."},
    {"name": "slow_echo", "match": "(?i)^echo slowly: (?P<text>.+)$",
     "rounds": [{"tool_calls": [{"name": "slow_echo", "arguments": {"text": "{{match:text}}", "seconds": 10}}]}],
     "answer": "{{tools}}"},
    {"name": "domain_error", "match": "(?i)turn on the garage lamp",
     "rounds": [{"tool_calls": [{"name": "set_lamp", "arguments": {"lamp": "garage", "state": True}}]}],
     "answer": "The tool said: {{tools}}"},
]

# Fire only for the first N requests the server admits: use on a fresh devmodel, first message only.
FLAKY_RULES: list[dict[str, Any]] = [
    {"kind": "rate_limit", "marker": "[fault:flaky]", "first_requests": 1, "retry_after_seconds": 1},
    {"kind": "server_error", "marker": "[fault:flaky]", "first_requests": 2},
]


def write_scenarios(directory: Path, flaky: bool = False) -> Path:
    book = json.loads(SEED_SCENARIOS.read_text())
    book["scenarios"] = EXTRA_SCENARIOS + book["scenarios"]
    if flaky:
        book["faults"] = FLAKY_RULES + book["faults"]
    path = directory / ("scenarios-flaky.json" if flaky else "scenarios.json")
    path.write_text(json.dumps(book, indent=1))
    return path
