"""devhost's Azure Storage layer: one task hub's tables, queues and blobs in the layout of
DurableTask.AzureStorage (shared/reference/durable-functions-host.md section 6), so Durable Functions Monitor
can read what devhost writes.

Entry point: ``TaskHubStorage`` (async; ``await open()`` / ``close()`` or ``async with``).
"""

from devhost.storage._clients import StorageOptions, http_settings_in_environment
from devhost.storage._errors import (
    HistoryConflictError,
    InstanceAlreadyExistsError,
    InvalidContinuationTokenError,
    InvalidHubNameError,
    MessageDecodeError,
    MessageLostError,
    StorageError,
    StorageUnavailableError,
)
from devhost.storage._keys import (
    escape_partition_key,
    fnv1a_32,
    history_row_key,
    partition_for,
    unescape_partition_key,
)
from devhost.storage._names import TaskHubNames, validate_hub_name
from devhost.storage._queues import MAX_VISIBILITY_SECONDS
from devhost.storage._render import history_table, instance_table, render_text
from devhost.storage._taskhub import TERMINAL_STATUSES, TaskHubStorage
from devhost.storage._types import HistoryCheckpoint, HistorySnapshot, InstanceQuery, ReceivedMessage
from devhost.storage._wire import decode_message, encode_message

__all__ = [
    "MAX_VISIBILITY_SECONDS",
    "TERMINAL_STATUSES",
    "HistoryCheckpoint",
    "HistoryConflictError",
    "HistorySnapshot",
    "InstanceAlreadyExistsError",
    "InstanceQuery",
    "InvalidContinuationTokenError",
    "InvalidHubNameError",
    "MessageDecodeError",
    "MessageLostError",
    "ReceivedMessage",
    "StorageError",
    "StorageOptions",
    "StorageUnavailableError",
    "TaskHubNames",
    "TaskHubStorage",
    "decode_message",
    "encode_message",
    "http_settings_in_environment",
    "escape_partition_key",
    "fnv1a_32",
    "history_row_key",
    "history_table",
    "instance_table",
    "partition_for",
    "render_text",
    "unescape_partition_key",
    "validate_hub_name",
]
