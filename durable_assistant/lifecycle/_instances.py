"""The durable client operations a conversation's deletion needs, behind a small interface (the app passes its
durable client binding; tests of the core can pass their own)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import azure.durable_functions as df

from durable_assistant.contracts import CANCEL_EVENT

log = logging.getLogger("durable_assistant.lifecycle")

ACTIVE_RUNTIME_STATUSES = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})
"""An instance in one of these may still write to the conversation; the others (Completed, Failed, Terminated,
Canceled) never will."""


class TurnInstances(Protocol):
    async def runtime_status(self, instance_id: str) -> str | None:
        """The instance's runtimeStatus, or None when it does not exist (never started, or purged)."""
        ...

    async def cancel(self, instance_id: str, payload: dict[str, Any]) -> bool:
        """Raise CANCEL_EVENT at the instance; False when it is not there or has already ended."""
        ...

    async def purge(self, instance_id: str) -> int:
        """Purge the instance's history; the number of instances deleted (0: there was none)."""
        ...


@dataclass
class DurableTurnInstances:
    """TurnInstances over the Durable Functions client binding."""

    client: df.DurableOrchestrationClient

    async def runtime_status(self, instance_id: str) -> str | None:
        status = await self.client.get_status(instance_id)
        return status.runtime_status.value if status and status.runtime_status else None

    async def cancel(self, instance_id: str, payload: dict[str, Any]) -> bool:
        try:
            await self.client.raise_event(instance_id, CANCEL_EVENT, payload)
        except Exception as exc:  # the SDK raises a bare Exception for 404 (not there) and 410 (ended)
            log.info("could not cancel %s: %s", instance_id, exc)
            return False
        return True

    async def purge(self, instance_id: str) -> int:
        result = await self.client.purge_instance_history(instance_id)
        return int(result.instances_deleted)
