"""FakeBackend: an in-memory ``DurableBackend`` for testing the HTTP layer alone.

It is a fake (named as one): the real backend is ``devhost.runtime``'s client over Azure Storage, exercised by the
runtime and conformance suites. Here it lets tests set instance states and histories directly and see exactly
which client operations the HTTP layer performed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from devhost.errors import InstanceAlreadyExists, InstanceGone, InstanceNotFound, UnknownOrchestrator
from devhost.http import InstanceQuery
from devhost.model import HistoryEvent, InstanceRecord, RuntimeStatus, utcnow
from devhost.runtime import validate_instance_id

ACTIVE = frozenset({RuntimeStatus.Running, RuntimeStatus.Pending, RuntimeStatus.ContinuedAsNew,
                    RuntimeStatus.Suspended})


@dataclass
class FakeBackend:
    orchestrators: frozenset[str]
    instances: dict[str, InstanceRecord] = field(default_factory=dict)
    histories: dict[str, list[HistoryEvent]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    # When set, the N-th get_instance call of an instance completes it with this output (wait-for-completion).
    complete_after_polls: int | None = None
    completion_output: str = '"done"'
    _polls: dict[str, int] = field(default_factory=dict)

    def add(self, instance_id: str, name: str, status: RuntimeStatus, *, input: str | None = None,
            output: str | None = None, custom_status: str | None = None,
            created: datetime | None = None) -> InstanceRecord:
        now = created or utcnow()
        record = InstanceRecord(instance_id=instance_id, name=name, runtime_status=status, execution_id="e1",
                                created_time=now, last_updated_time=now, input=input, output=output,
                                custom_status=custom_status)
        self.instances[instance_id] = record
        return record

    def last_call(self) -> tuple[str, ...]:
        return self.calls[-1]

    def status_of(self, instance_id: str) -> RuntimeStatus:
        return self.instances[instance_id].runtime_status

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        self.calls.append(("start_new", name, instance_id or "", input_text or ""))
        if name.lower() not in {o.lower() for o in self.orchestrators}:
            raise UnknownOrchestrator(name)
        instance_id = instance_id or uuid.uuid4().hex
        validate_instance_id(instance_id)
        existing = self.instances.get(instance_id)
        if existing is not None and existing.runtime_status in ACTIVE:
            raise InstanceAlreadyExists(instance_id, existing.runtime_status)
        self.add(instance_id, name, RuntimeStatus.Pending, input=input_text)
        return instance_id

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        record = self.instances.get(instance_id)
        if record is not None and self.complete_after_polls is not None and not record.runtime_status.is_terminal:
            self._polls[instance_id] = self._polls.get(instance_id, 0) + 1
            if self._polls[instance_id] >= self.complete_after_polls:
                record = replace(record, runtime_status=RuntimeStatus.Completed, output=self.completion_output)
                self.instances[instance_id] = record
        return record

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        return list(self.histories.get(instance_id, []))

    def _matches(self, record: InstanceRecord, query: InstanceQuery) -> bool:
        return (
            (query.created_from is None or record.created_time >= query.created_from)
            and (query.created_to is None or record.created_time <= query.created_to)
            and (not query.runtime_statuses or record.runtime_status in query.runtime_statuses)
            and (query.instance_id_prefix is None or record.instance_id.startswith(query.instance_id_prefix))
        )

    async def list_instances(
        self, query: InstanceQuery, top: int, continuation: str | None
    ) -> tuple[list[InstanceRecord], str | None]:
        self.calls.append(("list_instances", str(top), continuation or ""))
        matches = sorted((r for r in self.instances.values() if self._matches(r, query)), key=lambda r: r.instance_id)
        start = int(continuation) if continuation else 0
        page = matches[start:start + top]
        return page, (str(start + top) if start + top < len(matches) else None)

    def _active(self, instance_id: str) -> InstanceRecord:
        record = self.instances.get(instance_id)
        if record is None:
            raise InstanceNotFound(instance_id)
        if record.runtime_status.is_terminal:
            raise InstanceGone(instance_id, record.runtime_status)
        return record

    async def raise_event(self, instance_id: str, name: str, payload_text: str) -> None:
        self._active(instance_id)
        self.calls.append(("raise_event", instance_id, name, payload_text))

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        record = self._active(instance_id)
        self.calls.append(("terminate", instance_id, reason or ""))
        self.instances[instance_id] = replace(record, runtime_status=RuntimeStatus.Terminated, output=reason)

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        record = self._active(instance_id)
        self.calls.append(("suspend", instance_id, reason or ""))
        self.instances[instance_id] = replace(record, runtime_status=RuntimeStatus.Suspended)

    async def resume(self, instance_id: str, reason: str | None) -> None:
        record = self._active(instance_id)
        self.calls.append(("resume", instance_id, reason or ""))
        self.instances[instance_id] = replace(record, runtime_status=RuntimeStatus.Running)

    async def restart(self, instance_id: str, new_instance_id: bool) -> str:
        record = self.instances.get(instance_id)
        if record is None:
            raise InstanceNotFound(instance_id)
        return await self.start_new(record.name, None if new_instance_id else instance_id, record.input)

    async def purge(self, instance_id: str) -> bool:
        self.calls.append(("purge", instance_id))
        return self.instances.pop(instance_id, None) is not None

    async def purge_by(self, query: InstanceQuery) -> int:
        doomed = [r.instance_id for r in self.instances.values()
                  if self._matches(r, query) and r.runtime_status.is_terminal]
        for instance_id in doomed:
            del self.instances[instance_id]
        return len(doomed)
