"""``TaskHubStorage``: everything devhost keeps in Azure Storage for one task hub, behind one async object."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError

from devhost.model import (
    HistoryEvent,
    InstanceRecord,
    QueueMessage,
    RuntimeStatus,
    compact_json,
    format_timestamp,
    utcnow,
)
from devhost.storage._clients import ServiceClients, StorageOptions, probe, unavailable_on_connection_failure
from devhost.storage._history import HistoryStore
from devhost.storage._instances import InstanceStore
from devhost.storage._keys import escape_partition_key, partition_for
from devhost.storage._large import LargeMessageStore
from devhost.storage._names import TaskHubNames
from devhost.storage._queues import QueueStore
from devhost.storage._render import history_table, instance_table, render_text
from devhost.storage._types import HistoryCheckpoint, HistorySnapshot, InstanceQuery, ReceivedMessage
from devhost.storage._values import require_aware

log = logging.getLogger("devhost.storage")

TERMINAL_STATUSES = frozenset(status for status in RuntimeStatus if status.is_terminal)
TASKHUB_BLOB = "taskhub.json"
_PURGE_CONCURRENCY = 8


class TaskHubStorage:
    """Tables, queues and blobs of one task hub in the layout of DurableTask.AzureStorage.

    Call ``open()`` first (it checks the account is reachable and creates missing resources) and ``close()``
    last, or use ``async with``. After ``open()``, ``partition_count`` is the one recorded in the hub's
    ``taskhub.json``: like DTFx, an existing hub keeps the partition count it was created with.
    """

    def __init__(
        self,
        connection_string: str,
        hub_name: str,
        *,
        partition_count: int = 4,
        options: StorageOptions | None = None,
    ) -> None:
        self._names = TaskHubNames(hub_name, partition_count)  # validates both
        self._connection_string = connection_string
        self._options = options or StorageOptions()
        self._clients: ServiceClients | None = None
        self._instances: InstanceStore | None = None
        self._history: HistoryStore | None = None
        self._queues: QueueStore | None = None
        self._large: LargeMessageStore | None = None

    @property
    def hub_name(self) -> str:
        return self._names.hub_name

    @property
    def partition_count(self) -> int:
        return self._names.partition_count

    @property
    def names(self) -> TaskHubNames:
        return self._names

    async def __aenter__(self) -> TaskHubStorage:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._clients is not None:
            return
        await probe(self._connection_string, self._options)
        clients = ServiceClients.create(self._connection_string, self._options)
        try:
            await self._create_resources(clients)
        except BaseException:
            await clients.close()
            raise
        self._clients = clients
        names = self._names
        self._large = LargeMessageStore(clients.blobs.get_container_client(names.large_messages_container))
        self._instances = InstanceStore(
            clients.tables.get_table_client(names.instances_table), self._large, names.hub_name
        )
        self._history = HistoryStore(clients.tables.get_table_client(names.history_table), self._large)
        self._queues = QueueStore(clients.queues, names, self._large)

    async def close(self) -> None:
        clients, self._clients = self._clients, None
        if clients is not None:
            await clients.close()

    @unavailable_on_connection_failure
    async def _create_resources(self, clients: ServiceClients) -> None:
        containers = (self._names.large_messages_container, self._names.leases_container)
        await asyncio.gather(*(_ignore_exists(clients.blobs.create_container(c)) for c in containers))
        await self._ensure_taskhub_info(clients)  # may adopt the hub's recorded partition count
        names = self._names
        await asyncio.gather(
            *(
                _ignore_exists(clients.tables.create_table(t))
                for t in (names.instances_table, names.history_table)
            ),
            *(
                _ignore_exists(clients.queues.create_queue(q))
                for q in [*names.control_queues, names.work_item_queue]
            ),
        )

    async def _ensure_taskhub_info(self, clients: ServiceClients) -> None:
        blob = clients.blobs.get_blob_client(self._names.leases_container, TASKHUB_BLOB)
        info = {
            "TaskHubName": self._names.hub_name,
            "CreatedAt": format_timestamp(utcnow()),
            "PartitionCount": self._names.partition_count,
        }
        try:
            await blob.upload_blob(compact_json(info).encode("utf-8"), overwrite=False)
            return
        except ResourceExistsError:
            pass
        stored: dict[str, Any] = json.loads(await (await blob.download_blob()).readall())
        stored_count = int(stored.get("PartitionCount", self._names.partition_count))
        if stored_count != self._names.partition_count:
            log.warning(
                "task hub %s was created with %d partitions; keeping %d (configured: %d). "
                "Use a new hub name to change the partition count.",
                self._names.hub_name,
                stored_count,
                stored_count,
                self._names.partition_count,
            )
            self._names = TaskHubNames(self._names.hub_name, stored_count)

    def _require_open(self) -> tuple[InstanceStore, HistoryStore, QueueStore, LargeMessageStore]:
        if self._instances is None or self._history is None or self._queues is None or self._large is None:
            raise RuntimeError("TaskHubStorage is not open: call `await storage.open()` first")
        return self._instances, self._history, self._queues, self._large

    # -- instances -----------------------------------------------------------------------------------------

    @unavailable_on_connection_failure
    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return await self._require_open()[0].get(instance_id)

    @unavailable_on_connection_failure
    async def create_instance(
        self, record: InstanceRecord, *, dedupe: frozenset[RuntimeStatus]
    ) -> InstanceRecord:
        """Write a new instance row (the start path). Raises ``InstanceAlreadyExistsError`` if a row exists
        whose status is in ``dedupe``; otherwise replaces it with ``Generation`` = old + 1 (record.generation is
        used only for a brand-new id). Returns the record as stored."""
        return await self._require_open()[0].create(record, dedupe)

    @unavailable_on_connection_failure
    async def update_instance(self, record: InstanceRecord, *, blobs: Mapping[str, str] | None = None) -> None:
        """Insert-or-merge: None members keep what the row has. ``blobs`` maps ``Input``/``Output`` to the
        large-message blob that already holds that value (the ExecutionStarted / ExecutionCompleted history
        blob): a large value then points there, as in DTFx, instead of being uploaded once more."""
        await self._require_open()[0].update(record, blobs or {})

    @unavailable_on_connection_failure
    async def query_instances(
        self, query: InstanceQuery, *, top: int, continuation: str | None
    ) -> tuple[list[InstanceRecord], str | None]:
        """One page of at most ``top`` records and the opaque token of the next page (None at the end)."""
        return await self._require_open()[0].query(query, top=top, continuation=continuation)

    @unavailable_on_connection_failure
    async def purge_instance(self, instance_id: str) -> bool:
        """Delete the Instances row, every History row (all executions, sentinel) and the instance's blobs.
        Returns whether an Instances row existed."""
        instances, history, _, large = self._require_open()
        instances.forget(instance_id)
        existed = await instances.delete(instance_id)
        await asyncio.gather(
            history.delete_all(instance_id),
            large.delete_prefix(escape_partition_key(instance_id) + "/"),
        )
        return existed

    @unavailable_on_connection_failure
    async def purge_instances(self, query: InstanceQuery) -> int:
        """Purge every instance matching ``query`` whose status is terminal (other statuses in the query are
        ignored, as in DTFx); returns how many Instances rows were deleted."""
        statuses = query.runtime_statuses & TERMINAL_STATUSES if query.runtime_statuses else TERMINAL_STATUSES
        if not statuses:
            return 0
        terminal_query = InstanceQuery(
            created_from=query.created_from,
            created_to=query.created_to,
            runtime_statuses=statuses,
            instance_id_prefix=query.instance_id_prefix,
        )
        ids = await self._require_open()[0].ids_matching(terminal_query)
        limit = asyncio.Semaphore(_PURGE_CONCURRENCY)

        async def purge(instance_id: str) -> bool:
            async with limit:
                return await self.purge_instance(instance_id)

        return sum(await asyncio.gather(*(purge(instance_id) for instance_id in ids)))

    async def describe_instance(self, instance_id: str) -> str:
        """The Instances row and current history of ``instance_id`` as plain-text tables (debugging aid)."""
        record = await self.get_instance(instance_id)
        snapshot = await self.load_history(instance_id)
        title = f"History of {instance_id} (execution {snapshot.execution_id})"
        return render_text(
            instance_table([record] if record else [], title=f"Instance {instance_id}"),
            history_table(snapshot.events, title=title),
        )

    # -- history -------------------------------------------------------------------------------------------

    @unavailable_on_connection_failure
    async def load_history(self, instance_id: str) -> HistorySnapshot:
        """The current execution's events (per the sentinel) in RowKey order, large values inflated."""
        return await self._require_open()[1].load(instance_id)

    @unavailable_on_connection_failure
    async def append_history(
        self,
        instance_id: str,
        execution_id: str,
        events: Sequence[HistoryEvent],
        first_index: int,
        etag: str | None,
    ) -> str:
        """Write ``events`` as rows ``first_index``, ``first_index + 1``, ... of ``execution_id`` and move the
        sentinel to that execution. ``etag`` is the sentinel ETag from ``load_history`` (None only if it had
        none). Returns the new ETag; raises ``HistoryConflictError`` if the sentinel changed meanwhile."""
        checkpoint = await self.checkpoint_history(instance_id, execution_id, events, first_index, etag)
        return checkpoint.etag

    @unavailable_on_connection_failure
    async def checkpoint_history(
        self,
        instance_id: str,
        execution_id: str,
        events: Sequence[HistoryEvent],
        first_index: int,
        etag: str | None,
    ) -> HistoryCheckpoint:
        """``append_history`` that also returns the blobs of the values it offloaded (for ``update_instance``)."""
        return await self._require_open()[1].append(instance_id, execution_id, events, first_index, etag)

    # -- queues --------------------------------------------------------------------------------------------

    def partition_of(self, instance_id: str) -> int:
        return partition_for(instance_id, self._names.partition_count)

    @unavailable_on_connection_failure
    async def send_control(
        self, message: QueueMessage, *, visible_at: datetime | None = None, hold_for: float | None = None
    ) -> ReceivedMessage | None:
        """Enqueue to the instance's control queue; ``visible_at`` delays delivery (durable timers).
        A time in the past means now; more than 7 days ahead raises ``ValueError``. ``hold_for`` sends it
        invisible for that many seconds (at least until ``visible_at``) and returns it as received, for the
        sender to process in process."""
        queues = self._require_open()[2]
        delay = 0.0
        if visible_at is not None:
            delay = (require_aware("visible_at", visible_at) - utcnow()).total_seconds()
        return await queues.send(
            queues.control[self.partition_of(message.instance_id)],
            message,
            delay_seconds=delay,
            hold_seconds=hold_for,
        )

    @unavailable_on_connection_failure
    async def send_work_item(
        self, message: QueueMessage, *, hold_for: float | None = None
    ) -> ReceivedMessage | None:
        """Enqueue an activity work item; ``hold_for`` as for ``send_control``."""
        queues = self._require_open()[2]
        return await queues.send(queues.work_items, message, hold_seconds=hold_for)

    @unavailable_on_connection_failure
    async def receive_control(
        self, partition: int, *, max_messages: int, visibility_timeout: float
    ) -> list[ReceivedMessage]:
        queues = self._require_open()[2]
        if not 0 <= partition < self._names.partition_count:
            raise ValueError(f"partition {partition} is outside 0..{self._names.partition_count - 1}")
        return await queues.receive(
            queues.control[partition], max_messages=max_messages, visibility_timeout=visibility_timeout
        )

    @unavailable_on_connection_failure
    async def receive_work_items(
        self, *, max_messages: int, visibility_timeout: float
    ) -> list[ReceivedMessage]:
        queues = self._require_open()[2]
        return await queues.receive(
            queues.work_items, max_messages=max_messages, visibility_timeout=visibility_timeout
        )

    @unavailable_on_connection_failure
    async def delete_message(self, received: ReceivedMessage) -> None:
        """Raises ``MessageLostError`` if it was already deleted or re-received elsewhere."""
        await self._require_open()[2].delete(received)

    @unavailable_on_connection_failure
    async def renew_message(self, received: ReceivedMessage, visibility_timeout: float) -> None:
        """Keep ``received`` invisible for ``visibility_timeout`` more seconds (updates its pop receipt)."""
        await self._require_open()[2].renew(received, visibility_timeout)


async def _ignore_exists(creation: Any) -> None:
    with contextlib.suppress(ResourceExistsError):
        await creation
