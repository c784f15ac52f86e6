"""The seeds' tools, backed by the seeded Azure Tables (see _seed_data)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from durable_assistant.storage_clients import StorageClients
from durable_assistant.tools._registry import Param, ToolContext, ToolError, ToolRegistry
from durable_assistant.tools._seed_data import (
    CUSTOMERS_TABLE,
    LAMPS_PARTITION,
    LAMPS_TABLE,
    METRICS,
    METRICS_TABLE,
    REGION_SHARES,
    WEATHER_PARTITION,
    WEATHER_TABLE,
    ensure_seeded,
)

_ROWKEY_FORBIDDEN = str.maketrans({"/": "_", "\\": "_", "#": "_", "?": "_"})

# Bounds on the seed tools' arguments: far above any real value, far below what a storage key or query takes.
ID_CHARS = 64
NAME_CHARS = 64
PLACE_CHARS = 128
MAX_FILTERS = 8
FilterValue = Annotated[str, Param(max_length=256)] | float | bool


def register_builtin_tools(registry: ToolRegistry) -> ToolRegistry:
    """Add the five seed tools to ``registry``."""
    for tool_fn, side_effects in ((get_customer_info, False), (analyze_metrics, False), (get_weather, False),
                                  (set_lamp, True), (set_lamp_brightness, True)):
        registry.tool(side_effects=side_effects)(tool_fn)
    return registry


def get_customer_info(
    ctx: ToolContext,
    customerId: Annotated[str, Param("The unique customer identifier, e.g. CUST001", max_length=ID_CHARS)],
    includeHistory: Annotated[bool, Param("Whether to include recent activity history")] = False,
) -> dict[str, Any]:
    """Retrieve customer information and order history."""
    ensure_seeded(ctx.storage)
    table = ctx.storage.table(CUSTOMERS_TABLE)
    cid = customerId.strip().upper()
    rows = list(table.query_entities("PartitionKey eq @pk", parameters={"pk": cid}))
    profile = next((r for r in rows if r["RowKey"] == "profile"), None)
    if profile is None:
        raise ToolError(f"customer {customerId!r} not found")
    data: dict[str, Any] = {"id": cid, **{k: profile[k] for k in ("name", "status", "joinDate", "totalOrders")}}
    if includeHistory:
        acts = sorted((r for r in rows if r["RowKey"].startswith("activity-")), key=lambda r: r["RowKey"])
        data["recentActivity"] = [{"date": a["date"], "action": a["action"], "amount": a.get("amount")}
                                  for a in acts]
    return data


def analyze_metrics(
    ctx: ToolContext,
    metric: Annotated[str, Param("The metric to analyze: sales, traffic, conversion, revenue or orders",
                                 max_length=NAME_CHARS)],
    timeframe: Annotated[str, Param("Time period: last_week, last_month, last_quarter or last_year",
                                    max_length=NAME_CHARS)],
    filters: Annotated[dict[Annotated[str, Param(max_length=NAME_CHARS)], FilterValue],
                       Param("Optional filters, e.g. {\"region\": \"EU\"}", max_properties=MAX_FILTERS)] | None = None,
) -> dict[str, Any]:
    """Analyze business metrics and provide insights."""
    ensure_seeded(ctx.storage)
    name = metric.strip().lower()
    frame = timeframe.strip().lower().replace(" ", "_")
    region = str((filters or {}).get("region", "ALL")).upper()
    ignored = sorted(k for k in (filters or {}) if k != "region")
    if name not in METRICS:
        raise ToolError(f"unknown metric {metric!r}; known metrics: {', '.join(sorted(METRICS))}")
    if frame not in METRICS[name]:
        raise ToolError(f"unknown timeframe {timeframe!r}; known: {', '.join(METRICS[name])}")
    if region != "ALL" and region not in REGION_SHARES:
        raise ToolError(f"unknown region {region!r}; known regions: {', '.join(REGION_SHARES)}")
    try:
        row = ctx.storage.table(METRICS_TABLE).get_entity(name, f"{frame}|{region}")
    except ResourceNotFoundError:
        raise ToolError(f"no data for {name} over {frame} in {region}") from None
    current, previous = float(row["current"]), float(row["previous"])
    change = round((current - previous) / previous * 100, 1) if previous else 0.0
    trend = "increasing" if change > 0 else "decreasing" if change < 0 else "flat"
    return {
        "metric": name,
        "timeframe": frame,
        "region": region,
        "currentValue": current,
        "previousValue": previous,
        "changePercent": change,
        "trend": trend,
        "insights": [f"{name} shows a {abs(change)}% {'increase' if change >= 0 else 'decrease'} over {frame}"],
        **({"ignoredFilters": ignored} if ignored else {}),
    }


def get_weather(
    ctx: ToolContext,
    location: Annotated[str, Param("City, with or without its region, e.g. 'Seattle' or 'Seattle, WA'",
                                   max_length=PLACE_CHARS)],
) -> dict[str, Any]:
    """Get the weather in a location."""
    ensure_seeded(ctx.storage)
    rows = ctx.storage.table(WEATHER_TABLE).query_entities("PartitionKey eq @pk",
                                                            parameters={"pk": WEATHER_PARTITION})
    places = {str(r["RowKey"]): r for r in rows}
    key = _find_place(location, sorted(places))
    row = places[key]
    name = _place_name(key)
    return {"location": name, "temperatureF": row["temperatureF"], "condition": row["condition"],
            "humidity": row["humidity"],
            "summary": f"Weather is {row['temperatureF']} degrees and {row['condition']} in {name}"}


def _place_key(text: str) -> str:
    """'  Seattle ,WA? ' -> 'seattle, wa': the form the weather rows are keyed by."""
    parts = [" ".join(p.split()) for p in text.strip().strip(".?!'\"").lower().split(",")]
    return ", ".join(p for p in parts if p)


def _place_name(key: str) -> str:
    city, _, region = key.partition(", ")
    return f"{city.title()}, {region.upper()}" if region else city.title()


def _find_place(location: str, keys: list[str]) -> str:
    """The row key for ``location``: the exact place, else the one place with that city (case-insensitive, the
    region optional). Raises ToolError naming the candidates or, for an unknown place, the places there are."""
    wanted = _place_key(location)
    if wanted in keys:
        return wanted
    city, _, region = wanted.partition(", ")
    matches = [k for k in keys if k.partition(", ")[0] == city and (not region or k.partition(", ")[2] == region)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ToolError(f"{location!r} is ambiguous: it could be {' or '.join(_place_name(k) for k in matches)}; "
                        "give the region too")
    raise ToolError(f"no weather data for {location!r}; places with weather data: "
                    f"{'; '.join(_place_name(k) for k in keys)}")


_LAMP_UPDATE_ATTEMPTS = 8


def set_lamp(
    ctx: ToolContext,
    lamp: Annotated[str, Param("Name of the lamp, e.g. 'living room'", max_length=NAME_CHARS)],
    state: Annotated[bool, Param("true to turn the lamp on, false to turn it off")],
) -> dict[str, Any]:
    """Turn lamp on or off."""
    return _apply_lamp_change(ctx, lamp, {"on": state},
                              lambda name: f"The {name} lamp is {'on' if state else 'off'}")


def set_lamp_brightness(
    ctx: ToolContext,
    lamp: Annotated[str, Param("Name of the lamp, e.g. 'kitchen'", max_length=NAME_CHARS)],
    brightness: Annotated[int, Param("Brightness in percent", minimum=0, maximum=100)],
) -> dict[str, Any]:
    """Set the brightness of a lamp (0-100)."""
    return _apply_lamp_change(ctx, lamp, {"brightness": brightness},
                              lambda name: f"The brightness of the {name} lamp is set to {brightness}")


def _apply_lamp_change(ctx: ToolContext, lamp: str, change: dict[str, Any], describe: Any) -> dict[str, Any]:
    """Apply ``change`` exactly once per call key: the lamp update and the call's record commit in one
    table transaction, so a retried activity finds the record and returns the first outcome unchanged.

    The update is conditional on the ETag of the read, so the state reported back is the lamp's real state just
    after this change, even while parallel calls (set_lamp and set_lamp_brightness on one lamp) race."""
    ensure_seeded(ctx.storage)
    table = ctx.storage.table(LAMPS_TABLE)
    name = " ".join(lamp.strip().lower().split())
    row_key = name.translate(_ROWKEY_FORBIDDEN)
    op_key = "op|" + ctx.call_key.translate(_ROWKEY_FORBIDDEN)
    for _ in range(_LAMP_UPDATE_ATTEMPTS):
        try:
            current = table.get_entity(LAMPS_PARTITION, row_key)
        except ResourceNotFoundError:
            raise ToolError(f"unknown lamp {lamp!r}") from None
        result = {"lamp": name, "on": bool(change.get("on", current["on"])),
                  "brightness": int(change.get("brightness", current["brightness"])), "message": describe(name)}
        try:
            table.submit_transaction([
                ("update", {"PartitionKey": LAMPS_PARTITION, "RowKey": row_key, **change},
                 {"mode": UpdateMode.MERGE, "etag": current.metadata["etag"],
                  "match_condition": MatchConditions.IfNotModified}),
                ("create", {"PartitionKey": LAMPS_PARTITION, "RowKey": op_key, "result": json.dumps(result)}),
            ])
            return result
        except TableTransactionError:
            try:
                recorded = table.get_entity(LAMPS_PARTITION, op_key)
            except ResourceNotFoundError:
                continue  # another call changed the lamp since the read: read again
            return dict(json.loads(recorded["result"]))
    raise ToolError(f"lamp {lamp!r} is changing too often right now; try again")


def lamp_states(ctx: ToolContext) -> dict[str, dict[str, Any]]:
    """Current state of every lamp (for the API and tests)."""
    ensure_seeded(ctx.storage)
    rows = ctx.storage.table(LAMPS_TABLE).query_entities("PartitionKey eq @pk", parameters={"pk": LAMPS_PARTITION})
    return {r["RowKey"]: {"on": r["on"], "brightness": r["brightness"]} for r in rows
            if not r["RowKey"].startswith("op|")}


def forget_conversation_operations(storage: StorageClients, conversation_id: str) -> int:
    """Delete the exactly-once records (``op|{conversation}:{turn}:{callId}``) the lamp tools kept for one
    conversation's calls (when the conversation is deleted: no call of it can be retried any more). Returns
    how many there were; lamp states stay as they are."""
    table = storage.table(LAMPS_TABLE)
    low, high = f"op|{conversation_id}:", f"op|{conversation_id};"  # ";" sorts right after ":"
    try:
        keys = [str(r["RowKey"]) for r in table.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={"pk": LAMPS_PARTITION, "low": low, "high": high}, select=["RowKey"])]
    except ResourceNotFoundError:
        return 0  # no lamp was ever switched in this storage account
    for start in range(0, len(keys), 100):  # a table transaction takes up to 100 operations
        chunk = keys[start:start + 100]
        try:
            table.submit_transaction([("delete", {"PartitionKey": LAMPS_PARTITION, "RowKey": k}) for k in chunk])
        except TableTransactionError:  # one of them went meanwhile: single deletes tolerate that
            for key in chunk:
                table.delete_entity(LAMPS_PARTITION, key)
    return len(keys)
