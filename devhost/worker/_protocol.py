"""The wire between devhost and its worker process: length-prefixed JSON frames over a Unix socket, and the
encodings of what crosses it (HTTP requests and responses, queue deliveries, activity outcomes).

The real host talks to the Python worker over gRPC with protobuf messages; this is the same conversation in the
smallest form that carries every value devhost passes to functions. Frames: a 4-byte big-endian length, then UTF-8
JSON. A request is ``{"id": n, "op": ..., ...}``; its answer ``{"id": n, "ok": true, "result": ...}`` or
``{"id": n, "ok": false, "error": "<ExceptionType>: <message>"}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from dataclasses import asdict
from datetime import datetime
from typing import Any

import azure.functions as func

from devhost.functions._client_binding import ManagementEndpoint
from devhost.functions._invoke import QueueDelivery
from devhost.runtime import ActivityOutcome

_LENGTH = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024


class ProtocolError(Exception):
    """The other side sent something that is not a frame of this protocol."""


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next frame, or None at the end of the stream."""
    try:
        header = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError:
        return None
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None
    frame = json.loads(body)
    if not isinstance(frame, dict):
        raise ProtocolError("a frame must be a JSON object")
    return frame


def encode_frame(frame: dict[str, Any]) -> bytes:
    body = json.dumps(frame, separators=(",", ":")).encode()
    return _LENGTH.pack(len(body)) + body


# -- values ---------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def http_request_to_wire(request: func.HttpRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers.items()),
        "params": dict(request.params.items()),
        "route_params": dict(request.route_params.items()),
        "body": _b64(request.get_body()),
    }


def http_request_from_wire(wire: dict[str, Any]) -> func.HttpRequest:
    return func.HttpRequest(
        method=wire["method"],
        url=wire["url"],
        headers=wire["headers"],
        params=wire["params"],
        route_params=wire["route_params"],
        body=base64.b64decode(wire["body"]),
    )


def http_response_to_wire(response: func.HttpResponse) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "headers": [[name, value] for name, value in response.headers.items()],
        "body": _b64(response.get_body()),
        "mimetype": response.mimetype,
        "charset": response.charset,
    }


def http_response_from_wire(wire: dict[str, Any]) -> func.HttpResponse:
    response = func.HttpResponse(
        base64.b64decode(wire["body"]), status_code=wire["status"], mimetype=wire["mimetype"],
        charset=wire["charset"],
    )
    for name, value in wire["headers"]:
        response.headers[name] = value
    return response


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def delivery_to_wire(delivery: QueueDelivery) -> dict[str, Any]:
    binary = isinstance(delivery.body, bytes)
    body = delivery.body
    return {
        "id": delivery.id,
        "body": _b64(body) if isinstance(body, bytes) else body,
        "binary": binary,
        "dequeue_count": delivery.dequeue_count,
        "insertion_time": iso(delivery.insertion_time),
        "expiration_time": iso(delivery.expiration_time),
        "next_visible_time": iso(delivery.next_visible_time),
        "pop_receipt": delivery.pop_receipt,
    }


def delivery_from_wire(wire: dict[str, Any]) -> QueueDelivery:
    return QueueDelivery(
        id=wire["id"],
        body=base64.b64decode(wire["body"]) if wire["binary"] else wire["body"],
        dequeue_count=wire["dequeue_count"],
        insertion_time=parse_iso(wire["insertion_time"]),
        expiration_time=parse_iso(wire["expiration_time"]),
        next_visible_time=parse_iso(wire["next_visible_time"]),
        pop_receipt=wire["pop_receipt"],
    )


def outcome_to_wire(outcome: ActivityOutcome) -> dict[str, Any]:
    return asdict(outcome)


def outcome_from_wire(wire: dict[str, Any]) -> ActivityOutcome:
    return ActivityOutcome(**wire)


def endpoint_to_wire(endpoint: ManagementEndpoint | None) -> dict[str, Any] | None:
    return asdict(endpoint) if endpoint is not None else None


def endpoint_from_wire(wire: dict[str, Any] | None) -> ManagementEndpoint | None:
    return ManagementEndpoint(**wire) if wire is not None else None
