"""InstanceRecord <-> ``{hub}Instances`` entity with DTFx's column names and Edm types (spec section 6.3).

Large Input/Output offloading needs blob I/O and lives in ``_instances.py``; this module is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devhost.model import InstanceRecord, RuntimeStatus
from devhost.storage._keys import escape_partition_key, unescape_partition_key
from devhost.storage._values import from_table_value, require_aware, to_table_value

INSTANCE_ROW_KEY = ""
# Columns that may hold a blob URL instead of the value. Only the start path (``SetNewExecutionAsync``) writes an
# ``InputBlobName`` column (with ``Input`` empty); episodes then merge the history blob's URL into ``Input``.
LARGE_COLUMNS = ("Input", "Output")


def instance_entity(record: InstanceRecord, hub_name: str) -> dict[str, Any]:
    """The row for ``record``; None members are left out, so a merge keeps what the row already has."""
    columns: dict[str, Any] = {
        "Name": record.name,
        "Version": record.version,
        "Input": record.input,
        "Output": record.output,
        "CustomStatus": record.custom_status,
        "RuntimeStatus": RuntimeStatus(record.runtime_status).value,
        "CreatedTime": require_aware("created_time", record.created_time),
        "LastUpdatedTime": require_aware("last_updated_time", record.last_updated_time),
        "CompletedTime": record.completed_time,
        "ExecutionId": record.execution_id,
        # AS2 writes TaskHubName on every update; DFM can filter on it, so devhost always does.
        "TaskHubName": record.task_hub_name or hub_name,
        "Generation": record.generation,
        "ScheduledStartTime": record.scheduled_start_time,
    }
    entity: dict[str, Any] = {
        "PartitionKey": escape_partition_key(record.instance_id),
        "RowKey": INSTANCE_ROW_KEY,
    }
    for name, value in columns.items():
        stored = to_table_value(name, value)
        if stored is not None:
            entity[name] = stored
    return entity


def record_from_entity(entity: Mapping[str, Any]) -> InstanceRecord:
    """The record of a row whose large Input/Output were already inflated."""

    def get(name: str) -> Any:
        return from_table_value(name, entity.get(name))

    return InstanceRecord(
        instance_id=unescape_partition_key(entity["PartitionKey"]),
        name=get("Name") or "",
        runtime_status=RuntimeStatus(get("RuntimeStatus")),
        execution_id=get("ExecutionId") or "",
        created_time=get("CreatedTime"),
        last_updated_time=get("LastUpdatedTime") or get("CreatedTime"),
        input=get("Input"),
        output=get("Output"),
        custom_status=get("CustomStatus"),
        completed_time=get("CompletedTime"),
        version=get("Version") or "",
        generation=int(get("Generation") or 0),
        task_hub_name=get("TaskHubName"),
        scheduled_start_time=get("ScheduledStartTime"),
    )
