"""The pure parts of the llama engine's call guarantees: bounded schemas, range repair, the minimal fallback."""

from __future__ import annotations

import jsonschema

from devmodel import ToolSpec
from devmodel._llama_grammar import bounded_schema, calls_schema, minimal_instance, valid_arguments

BRIGHTNESS = ToolSpec("set_lamp_brightness", "", {
    "type": "object", "required": ["lamp", "brightness"],
    "properties": {"lamp": {"type": "string"}, "brightness": {"type": "integer", "minimum": 0, "maximum": 100}}})
METRICS = ToolSpec("analyze_metrics", "", {
    "type": "object", "required": ["metric", "timeframe"],
    "properties": {"metric": {"type": "string"}, "timeframe": {"type": "string"}, "filters": {"type": "object"},
                   "tags": {"type": "array", "items": {"type": "string"}}}})


def test_bounded_schemas_only_admit_short_instances() -> None:
    bounded = bounded_schema(METRICS.parameters)
    assert bounded["properties"]["metric"]["maxLength"] == 48
    assert bounded["properties"]["filters"] == {"type": "object", "properties": {}, "additionalProperties": False}
    assert bounded["properties"]["tags"]["maxItems"] == 4
    assert bounded["additionalProperties"] is False
    assert METRICS.parameters["properties"] == {  # the tool's own schema is untouched
        "metric": {"type": "string"}, "timeframe": {"type": "string"}, "filters": {"type": "object"},
        "tags": {"type": "array", "items": {"type": "string"}}}


def test_calls_schema_allows_one_call_unless_parallel() -> None:
    single = calls_schema((BRIGHTNESS, METRICS), parallel=False)
    parallel = calls_schema((BRIGHTNESS, METRICS), parallel=True)
    assert (single["maxItems"], parallel["maxItems"]) == (1, 4)
    call = [{"name": "analyze_metrics", "arguments": {"metric": "sales", "timeframe": "last_month"}}]
    jsonschema.validate(call, single)
    wrong_tool = [{"name": "launch_rockets", "arguments": {}}]
    assert not jsonschema.Draft202012Validator(single).is_valid(wrong_tool)


def test_out_of_range_numbers_are_clamped_and_hopeless_arguments_replaced() -> None:
    assert valid_arguments(BRIGHTNESS, {"lamp": "kitchen", "brightness": 500}) == {"lamp": "kitchen", "brightness": 100}
    assert valid_arguments(BRIGHTNESS, {"lamp": "kitchen", "brightness": -3}) == {"lamp": "kitchen", "brightness": 0}
    fallback = valid_arguments(METRICS, "not an object")
    assert fallback == {"metric": "", "timeframe": ""}
    jsonschema.validate(fallback, METRICS.parameters)
    assert minimal_instance({"enum": ["a", "b"]}) == "a"
