"""HistoryEvent <-> ``{hub}History`` entity, column for column as DurableTask.AzureStorage writes them (spec 6.4).

Large-value offloading needs blob I/O and lives in ``_history.py``; this module is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from devhost.model import EventType, HistoryEvent
from devhost.storage._keys import SENTINEL_ROW_KEY, history_index, history_row_key
from devhost.storage._values import from_table_value, plain_utc, require_aware, to_table_value

# Columns every row has; event fields must not use these names.
COMMON_COLUMNS = ("PartitionKey", "RowKey", "ExecutionId", "EventType", "EventId", "IsPlayed", "_Timestamp")
# devhost bookkeeping (HistoryEvent.message_id), the only column DTFx does not write.
MESSAGE_ID_COLUMN = "MessageId"
_RESERVED = frozenset({*COMMON_COLUMNS, MESSAGE_ID_COLUMN, "Timestamp", "odata.etag"})
# Properties DTFx offloads to blobs when large (AzureTableTrackingStore.CompressLargeMessageAsync).
LARGE_PROPERTIES = (
    "Name",
    "Input",
    "Result",
    "Output",
    "Reason",
    "Details",
    "Correlation",
    "FailureDetails",
    "Tags",
)
BLOB_NAME_SUFFIX = "BlobName"
SENTINEL_COLUMNS = ("ExecutionId", "IsCheckpointComplete", "CheckpointCompletedTimestamp")


def history_entity(partition_key: str, execution_id: str, index: int, event: HistoryEvent) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": partition_key,
        "RowKey": history_row_key(index),
        "ExecutionId": execution_id,
        "EventType": event.event_type.name,
        "EventId": to_table_value("EventId", event.event_id),
        "IsPlayed": event.is_played,
        "_Timestamp": require_aware("event timestamp", event.timestamp),
    }
    if event.message_id is not None:
        entity[MESSAGE_ID_COLUMN] = event.message_id
    for name, value in event.fields.items():
        if name in _RESERVED or name.endswith(BLOB_NAME_SUFFIX):
            raise ValueError(
                f"history field name {name!r} collides with a column devhost.storage writes itself"
            )
        stored = to_table_value(name, value)
        if stored is not None:
            entity[name] = stored
    return entity


def event_from_entity(entity: Mapping[str, Any]) -> tuple[int, HistoryEvent]:
    """(index, event) from a history row whose large values were already inflated."""
    fields = {
        name: from_table_value(name, value)
        for name, value in entity.items()
        if name not in _RESERVED and not name.endswith(BLOB_NAME_SUFFIX)
    }
    timestamp = entity["_Timestamp"]
    event = HistoryEvent(
        event_type=EventType[entity["EventType"]],
        event_id=int(from_table_value("EventId", entity["EventId"])),
        is_played=bool(entity.get("IsPlayed", False)),
        timestamp=plain_utc(timestamp),
        fields=fields,
        message_id=entity.get(MESSAGE_ID_COLUMN),
    )
    return history_index(entity["RowKey"]), event


def sentinel_entity(
    partition_key: str, execution_id: str, *, complete: bool, now: datetime
) -> dict[str, Any]:
    """The checkpoint marker; ``CheckpointCompletedTimestamp`` is set only by the final batch, as in DTFx."""
    entity: dict[str, Any] = {
        "PartitionKey": partition_key,
        "RowKey": SENTINEL_ROW_KEY,
        "ExecutionId": execution_id,
        "IsCheckpointComplete": complete,
    }
    if complete:
        entity["CheckpointCompletedTimestamp"] = require_aware("checkpoint time", now)
    return entity
