"""The ``{hub}History`` table: checkpointing an execution's events with optimistic concurrency, and reading back.

Rows and the sentinel go in one table transaction, so a checkpoint is atomic up to 99 events. Longer appends are
split into several transactions, each carrying the sentinel (as DTFx does): every batch is guarded by the ETag the
previous one produced, and only the last marks the checkpoint complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from devhost.model import HistoryEvent, utcnow
from devhost.storage._errors import HistoryConflictError
from devhost.storage._history_rows import (
    BLOB_NAME_SUFFIX,
    LARGE_PROPERTIES,
    event_from_entity,
    history_entity,
    sentinel_entity,
)
from devhost.storage._keys import SENTINEL_ROW_KEY, escape_partition_key, history_index
from devhost.storage._large import LargeMessageStore, exceeds_table_limit, random_suffix
from devhost.storage._types import HistoryCheckpoint, HistorySnapshot
from devhost.storage._values import utf16_size

MAX_EVENTS_PER_BATCH = 99  # a transaction holds at most 100 operations: 99 events + the sentinel
MAX_BATCH_BYTES = 3 * 1024 * 1024  # transactions are limited to 4 MiB; stay well under
_PART_OVERHEAD = 1024  # bytes of multipart headers per operation in a transaction body
_PROPERTY_LIMIT = 64 * 1024  # UTF-16 bytes per string property (Table storage)
# Sentinel changed (412), created by someone else (409), or purged meanwhile (404). Other 404/409 codes, such as
# TableNotFound after the hub was deleted, are not conflicts and propagate as they are.
_CONFLICT_CODES = frozenset({"UpdateConditionNotSatisfied", "EntityAlreadyExists", "ResourceNotFound"})
_DELETE_BATCH = 100


class HistoryStore:
    def __init__(self, table: TableClient, large: LargeMessageStore) -> None:
        self._table = table
        self._large = large

    async def load(self, instance_id: str) -> HistorySnapshot:
        partition_key = escape_partition_key(instance_id)
        rows = [
            row
            async for row in self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": partition_key}
            )
        ]
        sentinel = next((row for row in rows if row["RowKey"] == SENTINEL_ROW_KEY), None)
        if sentinel is None:
            return HistorySnapshot(execution_id=None, events=[], etag=None)
        execution_id = sentinel["ExecutionId"]
        # Continue-as-new rewrites RowKeys from 0 and leaves higher rows of older executions behind.
        current = sorted(
            (
                row
                for row in rows
                if row["RowKey"] != SENTINEL_ROW_KEY and row.get("ExecutionId") == execution_id
            ),
            key=lambda row: row["RowKey"],
        )
        inflated = await asyncio.gather(*(self._inflate(row) for row in current))
        return HistorySnapshot(
            execution_id=execution_id,
            events=[event_from_entity(row)[1] for row in inflated],
            etag=sentinel.metadata["etag"],
            checkpoint_complete=bool(sentinel.get("IsCheckpointComplete", True)),
            blob_names=_blob_names(current),
        )

    async def append(
        self,
        instance_id: str,
        execution_id: str,
        events: Sequence[HistoryEvent],
        first_index: int,
        etag: str | None,
    ) -> HistoryCheckpoint:
        """Write ``events`` as rows ``first_index``... plus the sentinel, in one entity-group transaction per
        99 rows (as DTFx's UploadHistoryBatch); returns the sentinel's new ETag and the offloaded values' blobs."""
        partition_key = escape_partition_key(instance_id)
        entities = [
            history_entity(partition_key, execution_id, first_index + offset, event)
            for offset, event in enumerate(events)
        ]
        await asyncio.gather(*(self._offload(entity) for entity in entities))
        blob_names = _blob_names(entities)
        batches = _split(entities)
        for number, batch in enumerate(batches):
            sentinel = sentinel_entity(
                partition_key, execution_id, complete=number == len(batches) - 1, now=utcnow()
            )
            operations: list[Any] = [("upsert", entity, {"mode": UpdateMode.REPLACE}) for entity in batch]
            if etag is None:
                operations.append(("create", sentinel))
            else:
                options = {
                    "mode": UpdateMode.REPLACE,
                    "etag": etag,
                    "match_condition": MatchConditions.IfNotModified,
                }
                operations.append(("update", sentinel, options))
            try:
                results = await self._table.submit_transaction(operations)
            except TableTransactionError as exc:
                code = str(getattr(exc, "error_code", None) or exc.status_code)
                if exc.status_code == 412 or code in _CONFLICT_CODES:
                    raise HistoryConflictError(instance_id, code) from exc
                raise
            etag = str(results[-1]["etag"])
        assert etag is not None  # at least one batch ran
        return HistoryCheckpoint(etag=etag, blob_names=blob_names)

    async def delete_all(self, instance_id: str) -> int:
        """Delete every row of the instance's partition (all executions and the sentinel)."""
        partition_key = escape_partition_key(instance_id)
        keys = [
            row["RowKey"]
            async for row in self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": partition_key}, select=["RowKey"]
            )
        ]
        for start in range(0, len(keys), _DELETE_BATCH):
            chunk = keys[start : start + _DELETE_BATCH]
            operations: list[Any] = [
                ("delete", {"PartitionKey": partition_key, "RowKey": key}) for key in chunk
            ]
            try:
                await self._table.submit_transaction(operations)
            except TableTransactionError:
                # A row vanished meanwhile (a concurrent purge): delete the rest one by one.
                await asyncio.gather(*(self._delete_row(partition_key, key) for key in chunk))
        return len(keys)

    async def _delete_row(self, partition_key: str, row_key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await self._table.delete_entity(partition_key, row_key)

    async def _offload(self, entity: dict[str, Any]) -> None:
        for name in LARGE_PROPERTIES:
            value = entity.get(name)
            if isinstance(value, str) and exceeds_table_limit(value):
                blob_name = (
                    f"{entity['PartitionKey']}/history-{entity['RowKey']}-{entity['EventType']}"
                    f"-{random_suffix()}-{name}.json.gz"
                )
                await self._large.upload(blob_name, value)
                entity[name] = ""
                entity[name + BLOB_NAME_SUFFIX] = blob_name
        for name, value in entity.items():
            if isinstance(value, str) and utf16_size(value) > _PROPERTY_LIMIT:
                raise ValueError(
                    f"history field {name!r} of {entity['EventType']} is {utf16_size(value)} bytes in UTF-16; "
                    f"Table storage allows {_PROPERTY_LIMIT} and only {', '.join(LARGE_PROPERTIES)} are offloaded"
                )

    async def _inflate(self, row: TableEntity) -> dict[str, Any]:
        entity: dict[str, Any] = dict(row)
        for name in LARGE_PROPERTIES:
            blob_name = row.get(name + BLOB_NAME_SUFFIX)
            if isinstance(blob_name, str) and blob_name:
                entity[name] = await self._large.download(blob_name)
        return entity


def _blob_names(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[int, str], str]:
    """(row index, property) -> blob name of every offloaded value in ``rows``."""
    names: dict[tuple[int, str], str] = {}
    for row in rows:
        for name in LARGE_PROPERTIES:
            blob_name = row.get(name + BLOB_NAME_SUFFIX)
            if isinstance(blob_name, str) and blob_name:
                names[(history_index(row["RowKey"]), name)] = blob_name
    return names


def _estimated_size(entity: dict[str, Any]) -> int:
    # The SDK writes ASCII-escaped JSON (one non-ASCII char can take 6 or 12 bytes) inside a multipart part
    # with its own headers.
    return len(json.dumps({name: str(value) for name, value in entity.items()})) + _PART_OVERHEAD


def _split(entities: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Batches of at most 99 events and ~3 MiB; always at least one (an empty append still writes the sentinel)."""
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for entity in entities:
        entity_size = _estimated_size(entity)
        if batches[-1] and (len(batches[-1]) >= MAX_EVENTS_PER_BATCH or size + entity_size > MAX_BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(entity)
        size += entity_size
    return batches
