"""The Durable Functions management API (``/runtime/webhooks/durabletask/...``), spec §5.

Paths are parsed the way the extension's ``HttpApiHandler`` does (case-insensitive segments, same fall-through
answers), so clients written against the real host see the same status codes, headers and bodies.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from devhost.errors import (
    InstanceAlreadyExists,
    InstanceGone,
    InstanceNotFound,
    InvalidInstanceId,
    UnknownOrchestrator,
)
from devhost.functions import WEBHOOK_PATH, ManagementEndpoint
from devhost.model import RuntimeStatus, compact_json

from ._backend import DurableBackend, InstanceQuery
from ._status import IN_PROGRESS, status_payload

DEFAULT_PAGE_SIZE = 100
_TERMINAL_FOR_REWIND = frozenset({RuntimeStatus.Completed, RuntimeStatus.Canceled, RuntimeStatus.Terminated})


def error_response(status: int, message: str, exc: BaseException | None = None) -> web.Response:
    """The ASP.NET error object the extension returns (the Python SDK reads ``ExceptionMessage``)."""
    body: dict[str, Any] = {"Message": message}
    if exc is not None:
        body["ExceptionMessage"] = str(exc)
        body["ExceptionType"] = _dotnet_type(exc)
        body["StackTrace"] = "".join(traceback.format_tb(exc.__traceback__)) or None
    return web.json_response(body, status=status)


def _dotnet_type(exc: BaseException) -> str:
    names = {
        InstanceAlreadyExists: "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
        UnknownOrchestrator: "System.ArgumentException",
        InvalidInstanceId: "System.ArgumentException",
        json.JSONDecodeError: "Newtonsoft.Json.JsonReaderException",
    }
    return names.get(type(exc), f"{type(exc).__module__}.{type(exc).__name__}")


def _bool_param(request: web.Request, name: str, default: bool) -> bool:
    """.NET ``bool.TryParse`` semantics: "true"/"false" in any case; anything else → default."""
    value = _query_ci(request, name)
    if value is None:
        return default
    lowered = value.strip().lower()
    return {"true": True, "false": False}.get(lowered, default)


def _query_ci(request: web.Request, name: str) -> str | None:
    lowered = name.lower()
    for key, value in request.query.items():
        if key.lower() == lowered:
            return value
    return None


def _datetime_param(request: web.Request, name: str) -> datetime | None:
    value = _query_ci(request, name)
    if not value:
        return None
    text = value.strip().replace(" ", "+")  # an unencoded "+00:00" arrives as " 00:00"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"Message": f"'{name}' must be an ISO-8601 date/time, got '{value}'"}),
            content_type="application/json",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _statuses_param(request: web.Request) -> frozenset[RuntimeStatus]:
    value = _query_ci(request, "runtimeStatus")
    if not value:
        return frozenset()
    by_name = {s.value.lower(): s for s in RuntimeStatus}
    # Enum.TryParse skips names it does not know; so do we.
    return frozenset(by_name[part.strip().lower()] for part in value.split(",") if part.strip().lower() in by_name)


def _seconds_param(request: web.Request, name: str) -> float | None:
    value = _query_ci(request, name)
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"Message": f"'{name}' must be a number of seconds, got '{value}'"}),
            content_type="application/json",
        ) from None
    return seconds


class ManagementApi:
    """Request handlers bound to one backend. ``endpoint`` gives task hub, connection and key for the URLs."""

    def __init__(
        self,
        backend: DurableBackend,
        endpoint: Callable[[], ManagementEndpoint],
        *,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._backend = backend
        self._endpoint = endpoint
        self._sleep = sleep

    def _endpoint_for(self, request: web.Request) -> ManagementEndpoint:
        # Check-status URLs point at the host the caller used (the extension builds them from the request).
        return self._endpoint().with_origin(f"{request.scheme}://{request.host}")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        segments = tail.split("/")
        head = segments[0].lower() if segments else ""
        try:
            if head == "orchestrators":
                if request.method != "POST" or len(segments) < 2 or not segments[1] or len(segments) > 3:
                    return web.Response(status=404)
                instance_id = segments[2] if len(segments) == 3 and segments[2] else None
                return await self._start(request, segments[1], instance_id)
            if head == "entities":
                return error_response(501, "Durable entities are not supported by devhost.")
            if head == "instances":
                return await self._instances(request, [s for s in segments[1:]])
            return web.Response(status=404)
        except web.HTTPException:
            raise
        except (UnknownOrchestrator, InvalidInstanceId) as exc:
            return error_response(400, "One or more of the arguments submitted is incorrect", exc)
        except Exception as exc:
            return error_response(500, "Something went wrong while processing your request", exc)

    async def _instances(self, request: web.Request, rest: list[str]) -> web.StreamResponse:
        if not rest or rest == [""]:
            if request.method == "GET":
                return await self._list(request)
            if request.method == "DELETE":
                return await self._purge_by(request)
            return web.Response(status=404)
        instance_id = rest[0]
        if len(rest) == 1 or (len(rest) == 2 and rest[1] == ""):
            if request.method == "GET":
                return await self._get_status(request, instance_id)
            if request.method == "DELETE":
                return await self._purge(instance_id)
            return web.Response(status=404)
        if request.method != "POST":
            return error_response(400, "No such API")
        operation = rest[1].lower()
        if len(rest) == 2:
            reason = _query_ci(request, "reason")
            if operation == "terminate":
                return await self._lifecycle(instance_id, self._backend.terminate, reason)
            if operation == "suspend":
                return await self._lifecycle(instance_id, self._backend.suspend, reason)
            if operation == "resume":
                return await self._lifecycle(instance_id, self._backend.resume, reason)
            if operation == "rewind":
                return await self._rewind(instance_id)
            if operation == "restart":
                return await self._restart(request, instance_id)
        if len(rest) == 3 and operation == "raiseevent" and rest[2]:
            return await self._raise_event(request, instance_id, rest[2])
        return error_response(400, "No such API")

    # -- start ------------------------------------------------------------------------------------------------
    async def _start(self, request: web.Request, name: str, instance_id: str | None) -> web.StreamResponse:
        body = await request.text()
        input_text: str | None = None
        if body.strip():
            try:
                parsed = json.loads(body)
            except json.JSONDecodeError as exc:
                return error_response(400, "Invalid JSON content", exc)
            input_text = None if parsed is None else compact_json(parsed)  # a JSON null body means no input
        try:
            new_id = await self._backend.start_new(name, instance_id, input_text)
        except InstanceAlreadyExists as exc:
            return error_response(500, "Something went wrong while processing your request", exc)
        timeout = _seconds_param(request, "timeout")
        interval = _seconds_param(request, "pollingInterval")
        if timeout is not None and interval is not None:
            return await self._wait_for_completion(request, new_id, timeout, interval)
        return self.check_status_response(request, new_id)

    def check_status_response(self, request: web.Request, instance_id: str) -> web.Response:
        payload = self._endpoint_for(request).check_status_payload(instance_id)
        return web.json_response(
            payload, status=202, headers={"Location": payload["statusQueryGetUri"], "Retry-After": "10"}
        )

    async def _wait_for_completion(
        self, request: web.Request, instance_id: str, wait_seconds: float, interval: float
    ) -> web.StreamResponse:
        if wait_seconds < 0 or interval <= 0:
            return error_response(400, "'timeout' must be >= 0 and 'pollingInterval' > 0 seconds")
        deadline = time.monotonic() + wait_seconds
        fail_500 = _bool_param(request, "returnInternalServerErrorOnFailure", False)
        while True:
            record = await self._backend.get_instance(instance_id)
            if record is not None and record.runtime_status is RuntimeStatus.Completed:
                # The raw output JSON, as the extension's CreateAndWait does.
                return web.Response(status=200, text=record.output or "null", content_type="application/json")
            if record is not None and record.runtime_status in (
                RuntimeStatus.Failed, RuntimeStatus.Canceled, RuntimeStatus.Terminated
            ):
                status = 500 if record.runtime_status is RuntimeStatus.Failed and fail_500 else 200
                return web.json_response(status_payload(record), status=status)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self.check_status_response(request, instance_id)
            await self._sleep(min(interval, remaining))

    # -- status -----------------------------------------------------------------------------------------------
    async def _get_status(self, request: web.Request, instance_id: str) -> web.StreamResponse:
        show_history = _bool_param(request, "showHistory", False)
        show_history_output = _bool_param(request, "showHistoryOutput", False)
        show_input = _bool_param(request, "showInput", True)
        record = await self._backend.get_instance(instance_id)
        if record is None:
            return web.Response(status=404)  # empty body: the SDK turns it into a falsy status
        history = await self._backend.get_history(instance_id) if show_history else None
        payload = status_payload(record, history, show_input=show_input, show_history_output=show_history_output)
        if record.runtime_status in IN_PROGRESS:
            return web.json_response(payload, status=202, headers={"Location": str(request.url), "Retry-After": "5"})
        fail_500 = _bool_param(request, "returnInternalServerErrorOnFailure", False)
        status = 500 if record.runtime_status is RuntimeStatus.Failed and fail_500 else 200
        return web.json_response(payload, status=status)

    def _query(self, request: web.Request) -> InstanceQuery:
        return InstanceQuery(
            created_from=_datetime_param(request, "createdTimeFrom"),
            created_to=_datetime_param(request, "createdTimeTo"),
            runtime_statuses=_statuses_param(request),
            instance_id_prefix=_query_ci(request, "instanceIdPrefix") or None,
        )

    async def _list(self, request: web.Request) -> web.StreamResponse:
        query = self._query(request)
        show_input = _bool_param(request, "showInput", True)
        top_text = _query_ci(request, "top")
        top = int(top_text) if top_text and top_text.strip().lstrip("-").isdigit() else 0
        token = request.headers.get("x-ms-continuation-token") or None
        headers: dict[str, str] = {}
        if top > 0:
            records, next_token = await self._backend.list_instances(query, top, token)
            if next_token:
                headers["x-ms-continuation-token"] = next_token
        else:
            # Without ``top`` the extension returns every match in one response.
            records, next_token = await self._backend.list_instances(query, DEFAULT_PAGE_SIZE, token)
            while next_token:
                more, next_token = await self._backend.list_instances(query, DEFAULT_PAGE_SIZE, next_token)
                records.extend(more)
        body = [status_payload(r, show_input=show_input) for r in records]
        return web.json_response(body, status=200, headers=headers)

    # -- purge ------------------------------------------------------------------------------------------------
    async def _purge(self, instance_id: str) -> web.StreamResponse:
        if await self._backend.get_instance(instance_id) is None:
            return web.Response(status=404)
        deleted = await self._backend.purge(instance_id)
        return web.json_response({"instancesDeleted": 1 if deleted else 0}, status=200)

    async def _purge_by(self, request: web.Request) -> web.StreamResponse:
        query = self._query(request)
        if query.created_from is None:
            return web.json_response({"Message": "Please provide value for 'createdTimeFrom' parameter."}, status=400)
        deleted = await self._backend.purge_by(query)
        if deleted == 0:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted}, status=200)

    # -- operations -------------------------------------------------------------------------------------------
    async def _lifecycle(
        self, instance_id: str, operation: Callable[[str, str | None], Any], reason: str | None
    ) -> web.StreamResponse:
        try:
            await operation(instance_id, reason)
        except InstanceNotFound:
            return web.Response(status=404)
        except InstanceGone:
            return web.Response(status=410)
        return web.Response(status=202)

    async def _rewind(self, instance_id: str) -> web.StreamResponse:
        record = await self._backend.get_instance(instance_id)
        if record is None:
            return web.Response(status=404)
        if record.runtime_status in _TERMINAL_FOR_REWIND:
            return web.Response(status=410)
        return error_response(501, "Rewind is not supported by devhost.")

    async def _restart(self, request: web.Request, instance_id: str) -> web.StreamResponse:
        new_id = _bool_param(request, "restartWithNewInstanceId", True)
        try:
            restarted = await self._backend.restart(instance_id, new_id)
        except InstanceNotFound:
            return error_response(
                400, "One or more of the arguments submitted is incorrect",
                ValueError("InstanceId does not match a valid orchestration instance."),
            )
        except InstanceAlreadyExists as exc:
            return error_response(500, "Something went wrong while processing your request", exc)
        return self.check_status_response(request, restarted)

    async def _raise_event(self, request: web.Request, instance_id: str, event_name: str) -> web.StreamResponse:
        record = await self._backend.get_instance(instance_id)
        if record is None:
            return web.Response(status=404)
        if record.runtime_status.is_terminal:
            return web.Response(status=410)
        if request.content_type.lower() != "application/json":
            return web.json_response({"Message": "Only application/json request content is supported"}, status=400)
        text = await request.text()
        try:
            payload_text = compact_json(json.loads(text)) if text.strip() else "null"
        except json.JSONDecodeError as exc:
            return error_response(400, "Invalid JSON content", exc)
        try:
            await self._backend.raise_event(instance_id, event_name, payload_text)
        except InstanceNotFound:
            return web.Response(status=404)
        except InstanceGone:
            return web.Response(status=410)
        return web.Response(status=202)


__all__ = ["WEBHOOK_PATH", "ManagementApi", "error_response"]
