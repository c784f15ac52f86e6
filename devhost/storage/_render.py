"""Human-readable views of stored instances and histories (for debugging, logs and test failure messages)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from devhost.model import HistoryEvent, InstanceRecord, compact_json, format_timestamp

_CELL = 60


def _short(value: Any) -> str:
    if value is None:
        return ""
    text = (
        format_timestamp(value)
        if isinstance(value, datetime)
        else value
        if isinstance(value, str)
        else (compact_json(value) if isinstance(value, dict | list) else str(value))
    )
    return text if len(text) <= _CELL else f"{text[: _CELL - 12]}…({len(text)} chars)"


def instance_table(records: Sequence[InstanceRecord], *, title: str = "Instances") -> Table:
    table = Table(title=title)
    for column in (
        "InstanceId",
        "Name",
        "RuntimeStatus",
        "ExecutionId",
        "Generation",
        "CreatedTime",
        "LastUpdatedTime",
        "Input",
        "Output",
        "CustomStatus",
    ):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            r.instance_id,
            r.name,
            r.runtime_status.value,
            r.execution_id,
            str(r.generation),
            _short(r.created_time),
            _short(r.last_updated_time),
            _short(r.input),
            _short(r.output),
            _short(r.custom_status),
        )
    return table


def history_table(events: Sequence[HistoryEvent], *, title: str = "History") -> Table:
    table = Table(title=title)
    for column in ("RowKey", "EventType", "EventId", "IsPlayed", "Timestamp", "Fields", "MessageId"):
        table.add_column(column, overflow="fold")
    for index, event in enumerate(events):
        fields = ", ".join(f"{name}={_short(value)}" for name, value in event.fields.items())
        table.add_row(
            f"{index:016X}",
            event.event_type.name,
            str(event.event_id),
            str(event.is_played),
            _short(event.timestamp),
            fields,
            event.message_id or "",
        )
    return table


def render_text(*renderables: Table, width: int = 200) -> str:
    """Plain text of rich renderables (no colour codes), e.g. for assertion messages."""
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
    for renderable in renderables:
        console.print(renderable)
    return console.export_text()
