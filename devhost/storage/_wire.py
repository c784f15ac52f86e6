"""devhost's queue message wire format: the one place that turns a ``QueueMessage`` into a queue body and back.

A body is Base64 (like DTFx's default encoding) of UTF-8 compact JSON::

    {"v": 1,
     "messageId": "<32 hex>", "instanceId": "<id>", "executionId": "<32 hex>" | null, "episode": 3 | null,
     "event": {"EventType": "TimerFired", "EventId": -1, "IsPlayed": false,
               "Timestamp": "2026-11-21T12:00:00.1234560Z", "MessageId": null,
               "Fields": {"TimerId": 0, "FireAt": "2026-11-21T12:05:00.0000000Z"}}}

``Fields`` are the event's DataMembers under their .NET names. Datetimes are ISO text and are allowed only in the
fields that are datetimes in DTFx (``devhost.model.DATETIME_FIELDS``), so decoding restores them unambiguously.
A body over 45 KB is stored gzip'd in ``{hub}-largemessages`` as ``{instanceId}/message-{messageId}-{EventType}
.json.gz`` and the queue carries a wrapper ``{"v": 1, "compressedBlobName": "...", "messageId", "instanceId"}``.

This is not DTFx's ``MessageData`` JSON (section 6.6): devhost owns both ends of its queues, and readable bodies
help debugging. The layout of tables, which Durable Functions Monitor reads, is the compatibility surface.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from datetime import UTC, datetime
from typing import Any

from devhost.model import (
    DATETIME_FIELDS,
    EventType,
    HistoryEvent,
    QueueMessage,
    compact_json,
    format_timestamp,
)
from devhost.storage._errors import MessageDecodeError
from devhost.storage._values import require_aware

WIRE_VERSION = 1
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?")


def parse_timestamp(text: str) -> datetime:
    """Parse ISO-8601 text (up to 7 fractional digits, as .NET writes) into an aware UTC datetime."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    whole, fraction, zone = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    value = datetime.fromisoformat(f"{whole}.{micro}{'+00:00' if zone in (None, 'Z') else zone}")
    return value.astimezone(UTC)


def encode_message(message: QueueMessage) -> str:
    """The message as compact JSON text (before Base64 and before any large-message offload)."""
    event = message.event
    return compact_json(
        {
            "v": WIRE_VERSION,
            "messageId": message.message_id,
            "instanceId": message.instance_id,
            "executionId": message.execution_id,
            "episode": message.episode,
            "event": {
                "EventType": event.event_type.name,
                "EventId": event.event_id,
                "IsPlayed": event.is_played,
                "Timestamp": format_timestamp(require_aware("event timestamp", event.timestamp)),
                "MessageId": event.message_id,
                "Fields": {key: _encode_field(key, value) for key, value in event.fields.items()},
            },
        }
    )


def _encode_field(key: str, value: Any) -> Any:
    if isinstance(value, datetime):
        if key not in DATETIME_FIELDS:
            raise TypeError(
                f"event field {key!r} holds a datetime but is not in devhost.model.DATETIME_FIELDS, "
                "so it could not be restored as a datetime"
            )
        return format_timestamp(require_aware(key, value))
    if isinstance(value, enum.Enum) and not isinstance(value, str | int):
        raise TypeError(f"event field {key!r} holds an enum that JSON cannot carry: {value!r}")
    return value


def decode_message(text: str) -> QueueMessage:
    try:
        body = json.loads(text)
        if body.get("v") != WIRE_VERSION:
            raise MessageDecodeError(f"unsupported wire version {body.get('v')!r}")
        raw = body["event"]
        fields = {
            key: parse_timestamp(value) if key in DATETIME_FIELDS and isinstance(value, str) else value
            for key, value in raw["Fields"].items()
        }
        event = HistoryEvent(
            event_type=EventType[raw["EventType"]],
            event_id=int(raw["EventId"]),
            is_played=bool(raw["IsPlayed"]),
            timestamp=parse_timestamp(raw["Timestamp"]),
            fields=fields,
            message_id=raw.get("MessageId"),
        )
        return QueueMessage(
            instance_id=body["instanceId"],
            event=event,
            execution_id=body.get("executionId"),
            message_id=body["messageId"],
            episode=body.get("episode"),
        )
    except MessageDecodeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MessageDecodeError(f"not a devhost queue message: {exc!r}") from exc


def large_message_blob_name(instance_key: str, message: QueueMessage) -> str:
    return f"{instance_key}/message-{message.message_id}-{message.event.event_type.name}.json.gz"


def encode_wrapper(message: QueueMessage, blob_name: str) -> str:
    return compact_json(
        {
            "v": WIRE_VERSION,
            "compressedBlobName": blob_name,
            "messageId": message.message_id,
            "instanceId": message.instance_id,
        }
    )


def wrapped_blob_name(text: str) -> str | None:
    """The blob holding the real body if ``text`` is a large-message wrapper, else None."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise MessageDecodeError(f"queue body is not JSON: {exc}") from exc
    if isinstance(body, dict) and isinstance(body.get("compressedBlobName"), str):
        return str(body["compressedBlobName"])
    return None


def to_queue_body(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def from_queue_body(body: str) -> str:
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise MessageDecodeError(f"queue body is not Base64 UTF-8: {exc}") from exc
