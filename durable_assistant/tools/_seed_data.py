"""Reproducible reference data for the seed tools, written once into real Azure Tables.

Values are fixed (no randomness): the same question always gets the same answer, and tests can assert on
them. Seeding never overwrites existing rows, so lamp changes made by the assistant survive restarts.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from azure.core.exceptions import ResourceExistsError

from durable_assistant.storage_clients import StorageClients

CUSTOMERS_TABLE = "customers"
METRICS_TABLE = "metrics"
WEATHER_TABLE = "weather"
LAMPS_TABLE = "lamps"
LAMPS_PARTITION = "lamps"
WEATHER_PARTITION = "weather"

CUSTOMERS: dict[str, dict[str, Any]] = {
    "CUST001": {"name": "Contoso Retail", "status": "Active", "joinDate": "2023-01-15", "totalOrders": 42},
    "CUST002": {"name": "Fabrikam Foods", "status": "Active", "joinDate": "2022-06-03", "totalOrders": 87},
    "CUST003": {"name": "Northwind Traders", "status": "Suspended", "joinDate": "2021-11-20", "totalOrders": 12},
    "CUST004": {"name": "Tailspin Toys", "status": "Active", "joinDate": "2024-03-09", "totalOrders": 5},
}
CUSTOMER_ACTIVITY: dict[str, list[dict[str, Any]]] = {
    "CUST001": [
        {"date": "2026-11-10", "action": "Order placed", "amount": "$150.00"},
        {"date": "2026-11-05", "action": "Account updated", "amount": None},
        {"date": "2026-10-28", "action": "Order placed", "amount": "$89.90"},
    ],
    "CUST002": [{"date": "2026-11-12", "action": "Order placed", "amount": "$1,240.00"}],
    "CUST003": [{"date": "2026-09-01", "action": "Payment failed", "amount": "$310.00"}],
    "CUST004": [],
}

# metric -> timeframe -> (current, previous) for all regions; regional rows split these in fixed shares.
METRICS: dict[str, dict[str, tuple[float, float]]] = {
    "sales": {"last_week": (18250, 17100), "last_month": (74200, 68900), "last_quarter": (221400, 230100),
              "last_year": (902300, 815000)},
    "traffic": {"last_week": (40210, 38800), "last_month": (161000, 170500), "last_quarter": (498000, 470200),
                "last_year": (1932000, 1700400)},
    "conversion": {"last_week": (3.1, 2.9), "last_month": (3.0, 3.2), "last_quarter": (3.1, 3.0),
                   "last_year": (3.05, 2.8)},
    "orders": {"last_week": (412, 398), "last_month": (1655, 1590), "last_quarter": (4980, 5120),
               "last_year": (20140, 18730)},
    "revenue": {"last_week": (21900, 20500), "last_month": (89100, 82700), "last_quarter": (265700, 276100),
                "last_year": (1082800, 978000)},
}
REGION_SHARES: dict[str, float] = {"NA": 0.5, "EU": 0.3, "APAC": 0.2}

WEATHER: dict[str, dict[str, Any]] = {
    "seattle, wa": {"temperatureF": 74, "condition": "sunny", "humidity": 40},
    "new york, ny": {"temperatureF": 58, "condition": "cloudy", "humidity": 63},
    "london": {"temperatureF": 50, "condition": "light rain", "humidity": 82},
    "amsterdam": {"temperatureF": 48, "condition": "windy", "humidity": 77},
    "tokyo": {"temperatureF": 66, "condition": "clear", "humidity": 55},
}
LAMPS: tuple[str, ...] = ("living room", "kitchen", "bedroom", "office")

_seeded: set[tuple[str, str]] = set()
_lock = threading.Lock()


def ensure_seeded(storage: StorageClients) -> None:
    """Create the tool tables and insert any missing reference rows (once per process and storage)."""
    key = (storage.prefix, storage.settings.connection_string or storage.settings.table_service_uri or "")
    with _lock:
        if key in _seeded:
            return
        _seed(storage)
        _seeded.add(key)


def _insert_missing(storage: StorageClients, table: str, rows: list[dict[str, Any]]) -> None:
    client = storage.ensure_table(table)
    for row in rows:
        # Keep existing rows: lamp state must survive reseeding.
        with contextlib.suppress(ResourceExistsError):
            client.create_entity(row)


def _seed(storage: StorageClients) -> None:
    customers: list[dict[str, Any]] = []
    for cid, profile in CUSTOMERS.items():
        customers.append({"PartitionKey": cid, "RowKey": "profile", **profile})
        for i, act in enumerate(CUSTOMER_ACTIVITY[cid]):
            customers.append({"PartitionKey": cid, "RowKey": f"activity-{i:03d}", **act})
    _insert_missing(storage, CUSTOMERS_TABLE, customers)

    metrics: list[dict[str, Any]] = []
    for metric, frames in METRICS.items():
        for frame, (cur, prev) in frames.items():
            metrics.append({"PartitionKey": metric, "RowKey": f"{frame}|ALL", "current": float(cur),
                            "previous": float(prev)})
            for region, share in REGION_SHARES.items():
                # Rates (conversion) do not split by share; totals do.
                factor = 1.0 if metric == "conversion" else share
                metrics.append({"PartitionKey": metric, "RowKey": f"{frame}|{region}",
                                "current": round(cur * factor, 2), "previous": round(prev * factor, 2)})
    _insert_missing(storage, METRICS_TABLE, metrics)

    weather = [{"PartitionKey": WEATHER_PARTITION, "RowKey": loc, **w} for loc, w in WEATHER.items()]
    _insert_missing(storage, WEATHER_TABLE, weather)

    lamps = [{"PartitionKey": LAMPS_PARTITION, "RowKey": lamp, "on": False, "brightness": 100} for lamp in LAMPS]
    _insert_missing(storage, LAMPS_TABLE, lamps)
