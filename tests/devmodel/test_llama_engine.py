"""Smoke test of the llama engine: one full tool round trip with the bundled SmolLM2-135M on CPU."""

from __future__ import annotations

import importlib.util
import json
import sys

import jsonschema
import pytest
from openai.types.responses import Response

from .conftest import StartServer
from .support import LAMP_TOOLS, TERMINAL_RESPONSE, WEATHER_TOOL, make_client, strict, wait_for

pytestmark = pytest.mark.llama

if importlib.util.find_spec("llama_cpp") is None:
    reason = "llama_cpp is not importable: run `bash scripts/bootstrap.sh` to build llama-cpp-python"
    print(f"SKIP tests/devmodel/test_llama_engine.py: {reason}", file=sys.stderr)
    pytest.skip(reason, allow_module_level=True)


def test_tool_round_trip_with_the_bundled_model(start_server: StartServer) -> None:
    server = start_server("--engine", "llama", "--seed", "1")
    health = server.health()
    assert health is not None and health["model"] == "SmolLM2-135M-Instruct.Q4_1"
    client = make_client(server)
    tools = [WEATHER_TOOL, *LAMP_TOOLS]

    # Background mode: the create call answers while the worker thread generates.
    created = client.responses.create(model="smollm2", input="What is the weather in Paris?", tools=tools,
                                      tool_choice="required", background=True)
    assert created.status == "queued"
    first = wait_for(lambda: strict(Response, client.responses.with_raw_response.retrieve(created.id)),
                     lambda r: r.status in TERMINAL_RESPONSE, timeout=120)
    assert first.status == "completed"
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls, first.output
    schemas = {tool["name"]: tool["parameters"] for tool in tools}
    for call in calls:
        assert call.name in schemas  # the grammar only allows offered tools
        jsonschema.validate(json.loads(call.arguments), schemas[call.name])  # and schema-valid arguments
    assert first.usage is not None and first.usage.output_tokens > 0

    second = client.responses.create(
        model="smollm2", previous_response_id=first.id, tools=tools,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 24 degrees"} for call in calls])
    assert second.status == "completed"
    assert [item.type for item in second.output] == ["message"]  # the round budget is spent: it must answer
    assert second.output_text.strip()
