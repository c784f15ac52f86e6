"""Tool registry and the seed tools against real Azurite tables."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from durable_assistant.services import Services
from durable_assistant.tools import Param, ToolContext, ToolRegistry, lamp_states


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


def test_weather(services: Services) -> None:
    out = run(services, "get_weather", {"location": "Seattle, WA"})
    assert out["data"]["summary"] == "Weather is 74 degrees and sunny in Seattle, WA"
    assert run(services, "get_weather", {"location": "Atlantis"})["success"] is False


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


def test_outputs_are_capped_and_custom_tools_get_schemas(services: Services) -> None:
    registry = ToolRegistry(max_output_chars=200)

    @registry.tool()
    def echo(ctx: ToolContext, text: Annotated[str, Param("what to repeat")], times: int = 1) -> str:
        """Repeat text."""
        return text * times

    assert registry.specs()[0].parameters == {
        "type": "object", "additionalProperties": False, "required": ["text"],
        "properties": {"text": {"type": "string", "description": "what to repeat"}, "times": {"type": "integer"}}}
    result = registry.run("echo", {"text": "ab", "times": 500}, ctx(services))
    assert result.ok and len(result.output) < 260 and result.output.endswith("characters]")
