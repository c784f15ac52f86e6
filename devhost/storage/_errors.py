"""Typed failures of the storage layer, so callers can map them to HTTP statuses and retries."""

from __future__ import annotations

from devhost.model import RuntimeStatus


class StorageError(Exception):
    """Base class of every error raised on purpose by ``devhost.storage``."""


class InvalidHubNameError(StorageError, ValueError):
    """The task hub name would be rejected by the Durable Functions extension (spec section 8)."""


class InstanceAlreadyExistsError(StorageError):
    """``create_instance`` found a row whose status is in the dedupe set."""

    def __init__(self, instance_id: str, status: RuntimeStatus) -> None:
        super().__init__(f"An Orchestration instance with the status {status.value} already exists.")
        self.instance_id = instance_id
        self.status = status


class HistoryConflictError(StorageError):
    """The History sentinel changed since it was read: another writer checkpointed this instance first."""

    def __init__(self, instance_id: str, detail: str) -> None:
        super().__init__(f"history of instance {instance_id!r} was changed by another writer ({detail})")
        self.instance_id = instance_id


class StorageUnavailableError(StorageError):
    """The storage account (Azurite or Azure) cannot be reached."""


class InvalidContinuationTokenError(StorageError, ValueError):
    """A continuation token that ``query_instances`` did not produce."""


class MessageDecodeError(StorageError):
    """A queue message body that is not devhost's wire format (see ``_wire.py``)."""


class MessageLostError(StorageError):
    """The message was already deleted, or its pop receipt is stale (it became visible and was received again)."""
