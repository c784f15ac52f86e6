"""Client operations behind the management HTTP API and the SDK's durable client: they only write state and
enqueue messages; the dispatchers do the rest (the real extension's DurableClient works the same way)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from devhost import engine
from devhost.errors import (
    InstanceAlreadyExists,
    InstanceGone,
    InstanceNotFound,
    InvalidInstanceId,
    UnknownOrchestrator,
)
from devhost.model import HistoryEvent, InstanceRecord, QueueMessage, RuntimeStatus, new_execution_id, utcnow
from devhost.storage import InstanceAlreadyExistsError, InstanceQuery, ReceivedMessage, TaskHubStorage

from ._functions import DurableFunctions
from ._options import RuntimeOptions

# overridableExistingInstanceStates = NonRunningStates: starting an id in one of these states fails.
RUNNING_STATES = frozenset(
    {RuntimeStatus.Running, RuntimeStatus.Pending, RuntimeStatus.ContinuedAsNew, RuntimeStatus.Suspended}
)
_BAD_ID_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def validate_instance_id(instance_id: str) -> None:
    """The extension's rules for caller-chosen ids (spec §5): not empty, <= 256 chars, no @ prefix, no / \\ # ?"""
    if not instance_id or instance_id.isspace():
        raise InvalidInstanceId("Instance ID must not be empty.")
    if len(instance_id) > 256:
        raise InvalidInstanceId("Instance ID must not exceed 256 characters.")
    if instance_id.startswith("@"):
        raise InvalidInstanceId(f"Orchestration instance ids must not start with @: '{instance_id}'.")
    if _BAD_ID_CHARS.search(instance_id):
        raise InvalidInstanceId(
            f"Instance ID '{instance_id}' must not contain /, \\, #, ? or control characters."
        )


class DurableClientOperations:
    def __init__(
        self,
        storage: TaskHubStorage,
        functions: DurableFunctions,
        deliver: Callable[[ReceivedMessage], None],
        options: RuntimeOptions,
        forget: Callable[[str | None], None],
        published: Callable[[str], InstanceRecord | None] = lambda _: None,
        publish_start: Callable[[InstanceRecord], None] = lambda _: None,
    ) -> None:
        self._storage = storage
        self._functions = functions
        self._deliver = deliver  # the orchestration dispatcher's accept(): messages are sent held, then handed over
        self._hold_for = options.control_queue_visibility_timeout
        self._forget = forget  # the dispatcher caches instance state; purges and restarts must invalidate it
        # The row of a running instance as the dispatcher last wrote it: saves a table read per status query.
        self._published = published
        self._publish_start = publish_start

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        if not self._functions.has_orchestrator(name):
            raise UnknownOrchestrator(name)
        instance_id = instance_id or uuid.uuid4().hex
        validate_instance_id(instance_id)
        execution_id = new_execution_id()
        now = utcnow()
        record = InstanceRecord(
            instance_id=instance_id,
            name=name,
            runtime_status=RuntimeStatus.Pending,
            execution_id=execution_id,
            created_time=now,
            last_updated_time=now,
            input=input_text,
            task_hub_name=self._storage.hub_name,
        )
        self._forget(instance_id)
        # As DTFx does (AzureStorageOrchestrationService: the ExecutionStarted message is sent, then the Pending
        # row is written): a crash between the two leaves a message that starts the instance, never a Pending
        # row that nothing will ever run. The message is sent held and handed over only once the row is written.
        existing = await self._storage.get_instance(instance_id)
        if existing is not None and existing.runtime_status in RUNNING_STATES:
            raise InstanceAlreadyExists(instance_id)
        started = engine.execution_started(
            name=name,
            instance_id=instance_id,
            execution_id=execution_id,
            input_text=input_text,
            parent=None,
            generation=existing.generation + 1 if existing is not None else 0,
            timestamp=now,
        )
        held = await self._storage.send_control(QueueMessage(instance_id, started, execution_id=execution_id),
                                                hold_for=self._hold_for)
        assert held is not None
        try:
            stored = await self._storage.create_instance(record, dedupe=RUNNING_STATES)
        except InstanceAlreadyExistsError as exc:
            await self._storage.delete_message(held)  # a start raced this one and won: withdraw our message
            raise InstanceAlreadyExists(instance_id) from exc
        self._publish_start(stored)
        self._deliver(held)
        return instance_id

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return self._published(instance_id) or await self._storage.get_instance(instance_id)

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return list((await self._storage.load_history(instance_id)).events)

    async def list_instances(
        self, query: InstanceQuery, top: int, continuation: str | None
    ) -> tuple[list[InstanceRecord], str | None]:
        return await self._storage.query_instances(query, top=top, continuation=continuation)

    async def raise_event(self, instance_id: str, name: str, payload_text: str) -> None:
        await self._require_active(instance_id)
        await self._send(instance_id, engine.event_raised(name, payload_text), None)

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        await self._require_active(instance_id)
        await self._send(instance_id, engine.execution_terminated(reason or ""), None)

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        await self._require_active(instance_id)
        await self._send(instance_id, engine.execution_suspended(reason or ""), None)

    async def resume(self, instance_id: str, reason: str | None) -> None:
        await self._require_active(instance_id)
        await self._send(instance_id, engine.execution_resumed(reason or ""), None)

    async def restart(self, instance_id: str, new_instance_id: bool) -> str:
        record = await self._storage.get_instance(instance_id)
        if record is None:
            raise InstanceNotFound(instance_id)
        return await self.start_new(record.name, None if new_instance_id else instance_id, record.input)

    async def purge(self, instance_id: str) -> bool:
        self._forget(instance_id)
        return await self._storage.purge_instance(instance_id)

    async def purge_by(self, query: InstanceQuery) -> int:
        self._forget(None)
        return await self._storage.purge_instances(query)

    async def _require_active(self, instance_id: str) -> InstanceRecord:
        record = await self.get_instance(instance_id)
        if record is None:
            raise InstanceNotFound(instance_id)
        if record.runtime_status.is_terminal:
            raise InstanceGone(instance_id, record.runtime_status)
        return record

    async def _send(self, instance_id: str, event: HistoryEvent, execution_id: str | None) -> None:
        message = QueueMessage(instance_id, event, execution_id=execution_id)
        held = await self._storage.send_control(message, hold_for=self._hold_for)
        assert held is not None
        self._deliver(held)
