"""The ``{hub}Instances`` table: start-time dedupe, insert-or-merge updates and paged queries (spec section 6.3)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableEntity, UpdateMode
from azure.data.tables.aio import TableClient

from devhost.model import InstanceRecord, RuntimeStatus, compact_json
from devhost.storage._errors import InstanceAlreadyExistsError, InvalidContinuationTokenError, StorageError
from devhost.storage._history_rows import BLOB_NAME_SUFFIX
from devhost.storage._instance_rows import (
    INSTANCE_ROW_KEY,
    LARGE_COLUMNS,
    instance_entity,
    record_from_entity,
)
from devhost.storage._keys import escape_partition_key, unescape_partition_key
from devhost.storage._large import TABLE_VALUE_LIMIT, LargeMessageStore, exceeds_table_limit, random_suffix
from devhost.storage._types import InstanceQuery
from devhost.storage._values import utf16_size

_CREATE_ATTEMPTS = 5


class InstanceStore:
    def __init__(self, table: TableClient, large: LargeMessageStore, hub_name: str) -> None:
        self._table = table
        self._large = large
        self._hub_name = hub_name
        self._uploaded: dict[tuple[str, str], tuple[str, str]] = {}  # (key, column) -> (sha256, blob name)

    async def get(self, instance_id: str) -> InstanceRecord | None:
        entity = await self._get_entity(instance_id)
        return None if entity is None else await self._to_record(entity)

    async def create(self, record: InstanceRecord, dedupe: frozenset[RuntimeStatus]) -> InstanceRecord:
        """Insert the row, or replace an existing one whose status is not in ``dedupe`` (Generation + 1)."""
        for _ in range(_CREATE_ATTEMPTS):
            existing = await self._get_entity(record.instance_id)
            if existing is None:
                entity = await self._to_entity(record, {}, new_execution=True)
                try:
                    await self._table.create_entity(entity)
                    return replace(record, task_hub_name=entity["TaskHubName"])
                except ResourceExistsError:
                    continue  # created concurrently: decide again against that row
            status = RuntimeStatus(existing["RuntimeStatus"])
            if status in dedupe:
                raise InstanceAlreadyExistsError(record.instance_id, status)
            stored = replace(
                record,
                generation=int(existing.get("Generation") or 0) + 1,
                task_hub_name=record.task_hub_name or self._hub_name,
            )
            entity = await self._to_entity(stored, {}, new_execution=True)
            try:
                await self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=existing.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return stored
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
        raise StorageError(
            f"could not create instance {record.instance_id!r}: its row kept changing concurrently"
        )

    async def update(self, record: InstanceRecord, blobs: Mapping[str, str]) -> None:
        await self._table.upsert_entity(await self._to_entity(record, blobs), mode=UpdateMode.MERGE)

    async def delete(self, instance_id: str) -> bool:
        """Delete the row; False if there was none (the SDK's delete_entity does not report that itself)."""
        if await self._get_entity(instance_id) is None:
            return False
        await self._table.delete_entity(escape_partition_key(instance_id), INSTANCE_ROW_KEY)
        return True

    async def query(
        self, query: InstanceQuery, *, top: int, continuation: str | None
    ) -> tuple[list[InstanceRecord], str | None]:
        if top < 1:
            raise ValueError(f"top must be at least 1, got {top}")
        query_filter, parameters = build_filter(query)
        token = decode_continuation(continuation)
        entities: list[TableEntity] = []
        # The service may return short (even empty) pages with a token: keep reading until `top` or the end.
        while len(entities) < top:
            wanted = top - len(entities)
            if query_filter:
                items = self._table.query_entities(
                    query_filter, parameters=parameters, results_per_page=wanted
                )
            else:
                items = self._table.list_entities(results_per_page=wanted)
            # The SDK's token is a {"PartitionKey", "RowKey"} dict although the type hints say str.
            pager: Any = items.by_page(continuation_token=token)  # type: ignore[arg-type]
            async for page in pager:
                entities.extend([entity async for entity in page])
                break
            token = pager.continuation_token or None
            if token is None:
                break
        records = await asyncio.gather(*(self._to_record(entity) for entity in entities))
        return list(records), encode_continuation(token)

    async def ids_matching(self, query: InstanceQuery) -> list[str]:
        query_filter, parameters = build_filter(query)
        if query_filter:
            rows = self._table.query_entities(query_filter, parameters=parameters, select=["PartitionKey"])
        else:
            rows = self._table.list_entities(select=["PartitionKey"])
        return [unescape_partition_key(row["PartitionKey"]) async for row in rows]

    async def _get_entity(self, instance_id: str) -> TableEntity | None:
        try:
            return await self._table.get_entity(escape_partition_key(instance_id), INSTANCE_ROW_KEY)
        except ResourceNotFoundError:
            return None

    async def _to_entity(
        self, record: InstanceRecord, blobs: Mapping[str, str], *, new_execution: bool = False
    ) -> dict[str, Any]:
        """The row for ``record`` with large Input/Output offloaded the way DTFx does it.

        An episode's row (``blobs`` given) points a large value at the history blob that already holds it
        (``SetInstancesTablePropertyFromHistoryProperty``). The start path (``new_execution``) has no history
        yet: like ``SetNewExecutionAsync`` it uploads the input and leaves ``Input`` empty with an
        ``InputBlobName`` column. Values with neither (only direct callers of ``update_instance``) get their
        own blob, named the same way.
        """
        entity = instance_entity(record, self._hub_name)
        for column in LARGE_COLUMNS:
            value = entity.get(column)
            if not (isinstance(value, str) and exceeds_table_limit(value)):
                continue
            source = blobs.get(column)
            if source is not None:
                entity[column] = self._large.url_of(source)
            elif new_execution:
                entity[column] = ""
                entity[column + BLOB_NAME_SUFFIX] = await self._blob_for(entity["PartitionKey"], column, value)
            else:
                entity[column] = self._large.url_of(await self._blob_for(entity["PartitionKey"], column, value))
        for name, value in entity.items():
            if isinstance(value, str) and exceeds_table_limit(value):
                # Only Input/Output are offloaded (as in DTFx); the SDK limits custom status to 16 KB.
                raise ValueError(
                    f"instance {record.instance_id!r}: {name} is {utf16_size(value)} bytes in UTF-16, over the "
                    f"{TABLE_VALUE_LIMIT}-byte limit of values devhost keeps in the Instances table"
                )
        return entity

    async def _blob_for(self, partition_key: str, column: str, value: str) -> str:
        """A blob holding ``value`` for a row with no history blob to point at: the one uploaded last time if
        the value did not change (a rewrite of the same row must not leave an orphan blob each time). Named as
        DTFx names the blob of an entity without EventType/RowKey: ``{key}/history--{Column}-{random}-{Column}``."""
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
        previous = self._uploaded.get((partition_key, column))
        if previous is not None and previous[0] == digest and await self._large.exists(previous[1]):
            return previous[1]
        blob_name = f"{partition_key}/history--{column}-{random_suffix()}-{column}.json.gz"
        await self._large.upload(blob_name, value)
        self._uploaded[(partition_key, column)] = (digest, blob_name)
        return blob_name

    def forget(self, instance_id: str) -> None:
        """Drop what is remembered about the instance's blobs (they are being purged)."""
        partition_key = escape_partition_key(instance_id)
        for column in LARGE_COLUMNS:
            self._uploaded.pop((partition_key, column), None)

    async def _to_record(self, entity: TableEntity) -> InstanceRecord:
        inflated: dict[str, Any] = dict(entity)
        for column in LARGE_COLUMNS:
            value = inflated.get(column)
            blob_name = self._large.blob_name_from_url(value) if isinstance(value, str) else None
            if blob_name is None and not value:
                # A start-path row keeps a large input as "" + InputBlobName (later episodes put the URL in Input).
                named = inflated.get(column + BLOB_NAME_SUFFIX)
                blob_name = named if isinstance(named, str) and named else None
            if blob_name is not None:
                inflated[column] = await self._large.download(blob_name)
        return record_from_entity(inflated)


def build_filter(query: InstanceQuery) -> tuple[str, dict[str, Any]]:
    """An OData filter with @parameters (the SDK quotes and formats them; words must stay space-separated)."""
    clauses: list[str] = []
    parameters: dict[str, Any] = {}
    if query.created_from is not None:
        clauses.append("CreatedTime ge @created_from")
        parameters["created_from"] = query.created_from
    if query.created_to is not None:
        clauses.append("CreatedTime le @created_to")
        parameters["created_to"] = query.created_to
    if query.runtime_statuses:
        alternatives = []
        for number, status in enumerate(sorted(query.runtime_statuses)):
            alternatives.append(f"RuntimeStatus eq @status{number}")
            parameters[f"status{number}"] = RuntimeStatus(status).value
        clauses.append("( " + " or ".join(alternatives) + " )")
    if query.instance_id_prefix:
        start = escape_partition_key(query.instance_id_prefix)
        clauses.append("PartitionKey ge @prefix_start")
        parameters["prefix_start"] = start
        end = _next_key(start)
        if end is not None:
            clauses.append("PartitionKey lt @prefix_end")
            parameters["prefix_end"] = end
    return " and ".join(clauses), parameters


def _next_key(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None if there is none)."""
    for position in range(len(prefix) - 1, -1, -1):
        following = ord(prefix[position]) + 1
        if 0xD800 <= following <= 0xDFFF:
            following = 0xE000  # surrogates cannot appear in keys
        if following <= 0x10FFFF:
            return prefix[:position] + chr(following)
    return None


def encode_continuation(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(compact_json(token).encode("utf-8")).decode("ascii")


def decode_continuation(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        token = json.loads(base64.urlsafe_b64decode(text.encode("ascii")).decode("utf-8"))
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidContinuationTokenError(f"invalid continuation token {text[:40]!r}: {exc}") from exc
    if not isinstance(token, dict) or not all(isinstance(key, str) for key in token):
        raise InvalidContinuationTokenError(f"invalid continuation token {text[:40]!r}")
    return token
