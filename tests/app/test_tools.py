"""Tool registry and the seed tools against real Azurite tables."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from durable_assistant.services import Services
from durable_assistant.tools import Param, ToolContext, ToolRegistry, lamp_states
from durable_assistant.tools._seed_data import WEATHER_PARTITION, WEATHER_TABLE


def ctx(services: Services, key: str = "conv:1:call_1") -> ToolContext:
    return ToolContext(storage=services.storage, call_key=key)


def run(services: Services, name: str, args: Any, key: str = "conv:1:call_1") -> dict[str, Any]:
    result = services.tools.run(name, args if isinstance(args, str) else json.dumps(args), ctx(services, key))
    out: dict[str, Any] = json.loads(result.output)
    assert out["success"] is result.ok
    return out


def test_schema_from_type_hints_matches_the_seed_shape(services: Services) -> None:
    spec = services.tools.get("set_lamp_brightness")
    assert spec is not None
    params = spec.spec.parameters
    assert params["required"] == ["lamp", "brightness"]
    assert params["properties"]["brightness"] == {"type": "integer", "description": "Brightness in percent",
                                                  "minimum": 0, "maximum": 100}
    info = services.tools.get("get_customer_info")
    assert info is not None
    assert info.spec.parameters["required"] == ["customerId"]
    assert info.spec.description == "Retrieve customer information and order history."
    assert services.tools.names() == ["analyze_metrics", "get_customer_info", "get_weather", "set_lamp",
                                      "set_lamp_brightness"]


def test_customer_info_comes_from_the_seeded_table(services: Services) -> None:
    out = run(services, "get_customer_info", {"customerId": "CUST001", "includeHistory": True})
    assert out["data"]["name"] == "Contoso Retail"
    assert out["data"]["totalOrders"] == 42
    assert out["data"]["recentActivity"][0] == {"date": "2026-11-10", "action": "Order placed", "amount": "$150.00"}
    again = run(services, "get_customer_info", {"customerId": "cust001"})
    assert again["data"]["totalOrders"] == 42 and "recentActivity" not in again["data"]
    missing = run(services, "get_customer_info", {"customerId": "CUST999"})
    assert missing == {"success": False, "error": "customer 'CUST999' not found"}


def test_analyze_metrics_is_reproducible_and_filters_by_region(services: Services) -> None:
    out = run(services, "analyze_metrics", {"metric": "sales", "timeframe": "last_month"})
    assert out["data"]["currentValue"] == 74200.0 and out["data"]["previousValue"] == 68900.0
    assert out["data"]["changePercent"] == 7.7 and out["data"]["trend"] == "increasing"
    eu = run(services, "analyze_metrics", {"metric": "sales", "timeframe": "last_month", "filters": {"region": "EU"}})
    assert eu["data"]["currentValue"] == 22260.0
    bad = run(services, "analyze_metrics", {"metric": "happiness", "timeframe": "last_month"})
    assert bad["success"] is False and "unknown metric 'happiness'" in bad["error"]


def test_weather_finds_a_city_with_or_without_its_region(services: Services) -> None:
    out = run(services, "get_weather", {"location": "Seattle, WA"})
    assert out["data"]["summary"] == "Weather is 74 degrees and sunny in Seattle, WA"
    for asked in ("Seattle", "seattle", "  SEATTLE ", "Seattle,WA", "seattle ,  wa", "Seattle?"):
        found = run(services, "get_weather", {"location": asked})
        assert found["data"]["location"] == "Seattle, WA" and found["data"]["temperatureF"] == 74, asked
    assert run(services, "get_weather", {"location": "new  york"})["data"]["location"] == "New York, NY"
    assert run(services, "get_weather", {"location": "LONDON"})["data"]["condition"] == "light rain"
    unknown = run(services, "get_weather", {"location": "Atlantis"})
    assert unknown == {"success": False, "error": "no weather data for 'Atlantis'; places with weather data: "
                                                  "Amsterdam; London; New York, NY; Seattle, WA; Tokyo"}
    wrong_region = run(services, "get_weather", {"location": "Seattle, OR"})
    assert wrong_region["error"].startswith("no weather data for 'Seattle, OR'; places with weather data:")


def test_a_city_in_two_regions_is_ambiguous_without_the_region(services: Services) -> None:
    run(services, "get_weather", {"location": "London"})  # seeds the table
    table = services.storage.table(WEATHER_TABLE)
    for key, temperature in (("portland, or", 61), ("portland, me", 45)):
        table.create_entity({"PartitionKey": WEATHER_PARTITION, "RowKey": key, "temperatureF": temperature,
                             "condition": "fog", "humidity": 90})
    ambiguous = run(services, "get_weather", {"location": "Portland"})
    assert ambiguous["error"] == "'Portland' is ambiguous: it could be Portland, ME or Portland, OR; give the region too"
    assert run(services, "get_weather", {"location": "portland, me"})["data"]["temperatureF"] == 45


def test_invalid_arguments_and_unknown_tools_become_error_outputs(services: Services) -> None:
    too_bright = run(services, "set_lamp_brightness", {"lamp": "kitchen", "brightness": 150})
    assert too_bright["success"] is False
    assert too_bright["error"] == "invalid arguments: brightness: 150 is greater than the maximum of 100"
    missing = run(services, "set_lamp", {"lamp": "kitchen"})
    assert "'state' is a required property" in missing["error"]
    malformed = run(services, "set_lamp", '{"lamp": "kitchen", state: tru')
    assert malformed["error"].startswith("arguments are not valid JSON")
    unknown = run(services, "launch_rocket", {})
    assert unknown["error"].startswith("unknown tool 'launch_rocket'; available tools: analyze_metrics")


def test_lamp_changes_persist_and_apply_once_per_call(services: Services) -> None:
    assert run(services, "set_lamp", {"lamp": "Living Room", "state": True}, key="c:1:a")["data"]["on"] is True
    run(services, "set_lamp_brightness", {"lamp": "living room", "brightness": 50}, key="c:1:b")
    assert lamp_states(ctx(services))["living room"] == {"on": True, "brightness": 50}
    # A retry of call c:1:b after someone else changed the lamp must not re-apply it.
    run(services, "set_lamp_brightness", {"lamp": "living room", "brightness": 80}, key="c:1:c")
    replay = run(services, "set_lamp_brightness", {"lamp": "living room", "brightness": 50}, key="c:1:b")
    assert replay["data"]["brightness"] == 50  # the recorded outcome of the first application
    assert lamp_states(ctx(services))["living room"]["brightness"] == 80
    assert run(services, "set_lamp", {"lamp": "garage", "state": True}, key="c:1:d")["error"] == "unknown lamp 'garage'"


def test_parallel_changes_to_one_lamp_report_the_real_state(services: Services) -> None:
    """The seed-002 pattern: set_lamp and set_lamp_brightness on the same lamp run in parallel. Whatever the
    interleaving, each call reports the lamp as it was right after its own change, and none is lost."""
    calls = [("set_lamp", {"lamp": "kitchen", "state": True}), ("set_lamp_brightness", {"lamp": "kitchen", "brightness": 50})]
    for round_ in range(4):
        run(services, "set_lamp", {"lamp": "kitchen", "state": False}, key=f"p:{round_}:off")
        run(services, "set_lamp_brightness", {"lamp": "kitchen", "brightness": 100}, key=f"p:{round_}:full")
        with ThreadPoolExecutor(max_workers=2) as pool:
            outs = list(pool.map(lambda c, r=round_: run(services, c[0], c[1], key=f"p:{r}:{c[0]}"), calls))
        assert all(o["success"] for o in outs)
        assert lamp_states(ctx(services))["kitchen"] == {"on": True, "brightness": 50}
        reported = sorted((o["data"]["on"], o["data"]["brightness"]) for o in outs)
        # One of them went second and saw both changes; the first saw only its own.
        assert (True, 50) in reported
        assert reported in ([(False, 50), (True, 50)], [(True, 50), (True, 100)])


def test_custom_tools_get_schemas_with_bounds_from_param(services: Services) -> None:
    registry = ToolRegistry(max_output_chars=2000)

    @registry.tool()
    def echo(ctx: ToolContext, text: Annotated[str, Param("what to repeat", max_length=10)], times: int = 1,
             tags: Annotated[dict[Annotated[str, Param(max_length=5)], int], Param(max_properties=2)] | None = None,
             ) -> str:
        """Repeat text."""
        return text * times

    assert registry.specs()[0].parameters == {
        "type": "object", "additionalProperties": False, "required": ["text"],
        "properties": {"text": {"type": "string", "description": "what to repeat", "maxLength": 10},
                       "times": {"type": "integer"},
                       "tags": {"type": ["object", "null"], "additionalProperties": {"type": "integer"},
                                "propertyNames": {"maxLength": 5}, "maxProperties": 2}}}
    long_text = registry.run("echo", {"text": "x" * 100_000}, ctx(services))
    assert json.loads(long_text.output) == {
        "success": False, "error": "invalid arguments: text: has 100000 characters; the limit is 10"}
    too_many = json.loads(registry.run("echo", {"text": "a", "tags": {"a": 1, "b": 2, "c": 3}}, ctx(services)).output)
    assert too_many["error"] == "invalid arguments: tags: has 3 properties; the limit is 2"
    long_key = json.loads(registry.run("echo", {"text": "a", "tags": {"abcdef": 1}}, ctx(services)).output)
    assert long_key["error"] == "invalid arguments: tags: has 6 characters; the limit is 5"


def test_a_100_kb_customer_id_is_a_validation_error_not_a_storage_query(services: Services) -> None:
    out = run(services, "get_customer_info", {"customerId": "C" * 100_000})
    assert out == {"success": False, "error": "invalid arguments: customerId: has 100000 characters; the limit is 64"}
    filters = {f"k{i}": "v" for i in range(9)}
    crowded = run(services, "analyze_metrics", {"metric": "sales", "timeframe": "last_month", "filters": filters})
    assert crowded["error"] == "invalid arguments: filters: has 9 properties; the limit is 8"
    nested = run(services, "analyze_metrics", {"metric": "sales", "timeframe": "last_month",
                                               "filters": {"region": {"deep": ["EU"]}}})
    assert nested["success"] is False and nested["error"].startswith("invalid arguments: filters/region:")


def test_arguments_nested_past_the_limit_are_an_error_output(services: Services) -> None:
    out = run(services, "get_weather", '{"location": ' + "[" * 3000 + "]" * 3000 + "}")
    assert out == {"success": False,
                   "error": "arguments are not acceptable JSON: JSON nests arrays/objects deeper than 32 levels"}


def _capped(max_chars: int, value: Any) -> tuple[str, dict[str, Any]]:
    registry = ToolRegistry(max_output_chars=max_chars)
    registry.tool(name="produce", parameters={"type": "object"})(lambda ctx, **_: value)
    output = registry.run("produce", {}, ToolContext(storage=None, call_key="k")).output  # type: ignore[arg-type]
    assert len(output) <= max_chars, (len(output), output[-200:])
    return output, json.loads(output)  # valid JSON whatever was cut


def test_an_output_over_the_cap_stays_valid_json_and_says_what_was_cut() -> None:
    _, small = _capped(1000, {"text": "short"})
    assert small == {"success": True, "data": {"text": "short"}}  # under the cap: unchanged, no flag

    _, one = _capped(1000, {"title": "report", "text": "é" * 5000})
    assert one["truncated"] is True and one["data"]["title"] == "report"
    assert one["truncatedFields"] == [{"path": "/data/text", "originalLength": 5000,
                                       "keptLength": len(one["data"]["text"])}]
    assert 500 < len(one["data"]["text"]) < 1000 and set(one["data"]["text"]) == {"é"}

    rows = [{"id": i, "note": f"row {i}"} for i in range(500)]
    _, listed = _capped(2000, {"count": 500, "rows": rows})
    kept = len(listed["data"]["rows"])
    assert 10 < kept < 500 and listed["data"]["rows"] == rows[:kept] and listed["data"]["count"] == 500
    assert listed["truncatedFields"] == [{"path": "/data/rows", "originalLength": 500, "keptLength": kept}]

    _, both = _capped(3000, {"a/b": "x" * 10_000, "log": ["line"] * 2000, "keep": True})
    assert {f["path"] for f in both["truncatedFields"]} == {"/data/a~1b", "/data/log"}  # JSON Pointer escaping
    assert both["data"]["keep"] is True

    # Thousands of small fields: nothing big to shorten, so the data becomes its JSON text, cut.
    many = {f"key{i}": i for i in range(3000)}
    _, flat = _capped(1000, many)
    assert flat["truncated"] is True and isinstance(flat["data"], str) and flat["data"].startswith('{"key0": 0')
    assert flat["truncatedFields"][0]["path"] == "/data"
    assert flat["truncatedFields"][0]["originalLength"] == len(json.dumps(many))


def test_a_long_error_is_cut_inside_the_json_too(services: Services) -> None:
    registry = ToolRegistry(max_output_chars=300)
    result = registry.error_result("boom " * 1000)
    out = json.loads(result.output)
    assert len(result.output) <= 300 and out["success"] is False and out["error"].startswith("boom boom")
    assert out["truncatedFields"][0]["path"] == "/error" and result.error == "boom " * 1000
