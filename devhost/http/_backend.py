"""The interface the management API needs from the durable runtime (``devhost.runtime`` implements it)."""

from __future__ import annotations

from typing import Protocol

from devhost.model import HistoryEvent, InstanceRecord
from devhost.storage import InstanceQuery  # one filter type for storage, runtime and HTTP

__all__ = ["DurableBackend", "InstanceQuery"]


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
