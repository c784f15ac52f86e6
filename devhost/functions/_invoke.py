"""Invoke the app's functions with the Python worker's conventions (spec §1.3, §1.4).

Async functions run on the caller's event loop (the one loop of the process, §1.6); sync ones in a thread pool.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions._durable_functions import OrchestrationContext
from azure.functions.durable_functions import ActivityTriggerConverter
from azure.functions.queue import QueueMessageInConverter
from azure.functions.timer import TimerRequestConverter

from devhost import logs
from devhost.model import compact_json
from devhost.runtime import ActivityOutcome

from ._client_binding import ManagementEndpoint
from ._context import InvocationContext
from ._index import DURABLE_CLIENT, FunctionIndex, FunctionInfo, FunctionKind


class InvocationError(Exception):
    """A function could not be invoked at all (unknown name, missing binding value)."""


@dataclass(frozen=True)
class QueueDelivery:
    """One dequeued message as the queue trigger sees it (trigger metadata of §1.4)."""

    id: str
    body: str | bytes
    dequeue_count: int
    insertion_time: datetime | None
    expiration_time: datetime | None
    next_visible_time: datetime | None
    pop_receipt: str


def exception_text(exc: BaseException) -> str:
    """The worker's RpcException message: ``"<ExceptionType>: <message>"``."""
    return f"{type(exc).__name__}: {exc}"


class FunctionInvoker:
    """Calls functions of one loaded app. Also the runtime's ``DurableFunctions`` (durable names, case-insensitive).

    ``client_endpoint`` must be set before a function with a durable client binding runs (it holds the server's
    port, known only once it listens).
    """

    def __init__(
        self,
        index: FunctionIndex,
        *,
        executor: Executor | None = None,
        client_endpoint: ManagementEndpoint | None = None,
        function_directory: str = "",
    ) -> None:
        self.index = index
        self.executor = executor
        self.client_endpoint = client_endpoint
        self._function_directory = function_directory

    # -- runtime's DurableFunctions -------------------------------------------------------------------------
    def has_orchestrator(self, name: str) -> bool:
        return self.index.orchestrator(name) is not None

    def has_activity(self, name: str) -> bool:
        return self.index.activity(name) is not None

    def invoke_orchestrator(self, name: str, context_json: str) -> object:
        """Run one orchestrator episode synchronously; the raw return value, or the exception raised (§1.5)."""
        info = self.index.orchestrator(name)
        if info is None:
            raise InvocationError(f"no orchestrator function named '{name}'")
        return self.call_orchestrator(info, context_json)

    async def invoke_activity(self, name: str, input_text: str | None, *, instance_id: str) -> ActivityOutcome:
        info = self.index.activity(name)
        if info is None:
            raise InvocationError(f"no activity function named '{name}'")
        return await self.call_activity(info, input_text, instance_id=instance_id)

    # -- per trigger type -------------------------------------------------------------------------------------
    def call_orchestrator(self, info: FunctionInfo, context_json: str) -> object:
        # The worker's converter wraps the context JSON in OrchestrationContext; the SDK wrapper reads .body.
        kwargs = {info.trigger_name: OrchestrationContext(context_json)}
        try:
            return info.user_function(**kwargs)
        except Exception as exc:  # the engine parses "$OutOfProcData$" out of the message
            return exc

    async def call_activity(self, info: FunctionInfo, input_text: str | None, *, instance_id: str) -> ActivityOutcome:
        """Run an activity; failures come back as an outcome, never raised. (The runtime logs the invocation.)"""
        try:
            # The extension hands the activity its input as JSON text; a missing input arrives as JSON null.
            value = ActivityTriggerConverter.decode(
                meta.Datum("null" if input_text is None else input_text, "json"), trigger_metadata=None
            )
            result = await self._call(info, {info.trigger_name: value})
            encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
            # .NET re-serializes the worker's JSON with Formatting.None before storing it (spec §2.10).
            compact = compact_json(json.loads(encoded))
            return ActivityOutcome(succeeded=True, result_json=None if compact == "null" else compact)
        except Exception as exc:
            return ActivityOutcome(
                succeeded=False, error=exception_text(exc), details="".join(traceback.format_exception(exc))
            )

    async def call_http(
        self, info: FunctionInfo, request: func.HttpRequest
    ) -> func.HttpResponse:
        """Run an HTTP-triggered function; unhandled exceptions propagate (the server answers 500)."""
        started = time.perf_counter()
        outcome, error = "succeeded", None
        try:
            result = await self._call(info, {info.trigger_name: request})
            return http_response_from(result)
        except Exception as exc:
            outcome, error = "failed", exception_text(exc)
            raise
        finally:
            logs.log_invocation(
                function=info.name, kind=info.kind.value, instance_id=None,
                duration_ms=(time.perf_counter() - started) * 1000, outcome=outcome, error=error,
                detail=f"{request.method} {request.url}",
            )

    async def call_timer(self, info: FunctionInfo, *, past_due: bool, last: datetime | None,
                         next_: datetime | None) -> None:
        payload = {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": {
                "Last": (last or datetime.min).isoformat(),
                "Next": next_.isoformat() if next_ else None,
                "LastUpdated": (last or datetime.min).isoformat(),
            },
            "IsPastDue": past_due,
        }
        value = TimerRequestConverter.decode(meta.Datum(json.dumps(payload), "json"), trigger_metadata=None)
        await self._logged(info, {info.trigger_name: value}, detail=None)

    async def call_queue(self, info: FunctionInfo, delivery: QueueDelivery) -> None:
        def iso(value: datetime | None) -> meta.Datum | None:
            return meta.Datum(value.isoformat(), "string") if value else None

        metadata = {
            "Id": meta.Datum(delivery.id, "string"),
            "DequeueCount": meta.Datum(delivery.dequeue_count, "int"),
            "PopReceipt": meta.Datum(delivery.pop_receipt, "string"),
            "InsertionTime": iso(delivery.insertion_time),
            "ExpirationTime": iso(delivery.expiration_time),
            "NextVisibleTime": iso(delivery.next_visible_time),
        }
        body_type = "bytes" if isinstance(delivery.body, bytes) else "string"
        value = QueueMessageInConverter.decode(
            meta.Datum(delivery.body, body_type),
            trigger_metadata={k: v for k, v in metadata.items() if v is not None},
        )
        await self._logged(info, {info.trigger_name: value}, detail=f"message {delivery.id}")

    # -- shared --------------------------------------------------------------------------------------------
    async def _logged(self, info: FunctionInfo, trigger_kwargs: dict[str, Any], *, detail: str | None) -> None:
        started = time.perf_counter()
        outcome, error = "succeeded", None
        try:
            await self._call(info, trigger_kwargs)
        except Exception as exc:
            outcome, error = "failed", exception_text(exc)
            raise
        finally:
            logs.log_invocation(
                function=info.name, kind=info.kind.value, instance_id=None,
                duration_ms=(time.perf_counter() - started) * 1000, outcome=outcome, error=error, detail=detail,
            )

    def _kwargs(self, info: FunctionInfo, trigger_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        kwargs = dict(trigger_kwargs)
        context = InvocationContext(info.name, self._function_directory)
        for binding in info.bindings:
            name = binding["name"]
            if name == "$return" or name in kwargs:
                continue
            if binding["type"] == DURABLE_CLIENT:
                if self.client_endpoint is None:
                    raise InvocationError(f"function '{info.name}' needs a durable client but no server is running")
                kwargs[name] = self.client_endpoint.binding_json(
                    task_hub=binding.get("taskHub"), connection_name=binding.get("connectionName")
                )
            elif str(binding.get("direction", "IN")).upper() == "OUT":
                # Output bindings other than $return (func.Out[...]) get a sink devhost does not deliver anywhere.
                kwargs[name] = _DiscardingOut()
            else:
                raise InvocationError(
                    f"function '{info.name}': devhost does not support input bindings of type '{binding['type']}'"
                )
        if info.requires_context:
            kwargs["context"] = context
        return kwargs

    async def _call(self, info: FunctionInfo, trigger_kwargs: Mapping[str, Any]) -> Any:
        kwargs = self._kwargs(info, trigger_kwargs)
        if info.is_async:
            return await info.user_function(**kwargs)
        loop = asyncio.get_running_loop()
        call: Callable[[], Any] = functools.partial(info.user_function, **kwargs)
        return await loop.run_in_executor(self.executor, call)

    def http_functions(self) -> list[FunctionInfo]:
        return self.index.of_kind(FunctionKind.HTTP)


class _DiscardingOut(func.Out[Any]):
    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def http_response_from(result: Any) -> func.HttpResponse:
    """What the host makes of an HTTP function's return value (``$return`` binding of type ``http``)."""
    if isinstance(result, func.HttpResponse):
        return result
    if result is None:
        return func.HttpResponse(status_code=204)
    if isinstance(result, str):
        return func.HttpResponse(result, status_code=200)
    if isinstance(result, bytes | bytearray):
        return func.HttpResponse(bytes(result), status_code=200, mimetype="application/octet-stream")
    if isinstance(result, dict | list | int | float | bool):
        return func.HttpResponse(json.dumps(result), status_code=200, mimetype="application/json")
    raise TypeError(f"HTTP function returned {type(result).__name__}; return a func.HttpResponse, str or bytes")
