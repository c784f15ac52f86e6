"""The interface the management API needs from the durable runtime (``devhost.runtime`` implements it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from devhost.model import HistoryEvent, InstanceRecord, RuntimeStatus


@dataclass(frozen=True)
class InstanceQuery:
    """Filter of ``GET/DELETE /instances`` (same fields as ``devhost.storage.InstanceQuery``).

    Empty ``runtime_statuses`` means any status; time bounds are inclusive and compare ``CreatedTime``.
    """

    created_from: datetime | None = None
    created_to: datetime | None = None
    runtime_statuses: frozenset[RuntimeStatus] = field(default_factory=frozenset)
    instance_id_prefix: str | None = None


class DurableBackend(Protocol):
    """Client operations. Errors are the typed ones of ``devhost.errors``; the HTTP layer maps them (spec §5)."""

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str: ...

    async def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The stored history of the current execution, in order."""
        ...

    async def list_instances(
        self, query: InstanceQuery, top: int, continuation: str | None
    ) -> tuple[list[InstanceRecord], str | None]: ...

    async def raise_event(self, instance_id: str, name: str, payload_text: str) -> None: ...

    async def terminate(self, instance_id: str, reason: str | None) -> None: ...

    async def suspend(self, instance_id: str, reason: str | None) -> None: ...

    async def resume(self, instance_id: str, reason: str | None) -> None: ...

    async def restart(self, instance_id: str, new_instance_id: bool) -> str: ...

    async def purge(self, instance_id: str) -> bool: ...

    async def purge_by(self, query: InstanceQuery) -> int: ...
