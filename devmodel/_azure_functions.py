"""``azure_function`` tools: devmodel calls them over Storage queues, the way Foundry Agent Service does.

When the model calls such a tool, the service (here: devmodel) puts ``{...arguments, "CorrelationId": id}`` on the
tool's input queue and waits for ``{"Value": ..., "CorrelationId": id}`` on its output queue; the run goes on with
``Value`` as the tool output, and fails when no answer comes in time. The client never sees these calls as
``requires_action``.

Access to the queues: the service uses its managed identity; devmodel uses the account key of a connection string
(``--queue-storage``, default Azurite's well-known development account) against the endpoint the tool names.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue.aio import QueueClient

from ._types import ToolSpec

log = logging.getLogger("devmodel.azure_function")

JsonObject = dict[str, Any]

# Azurite's well-known development account (public and documented; not a secret).
DEV_ACCOUNT = ("devstoreaccount1",
               "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
DEFAULT_TIMEOUT_SECONDS = 60.0
# An answer nobody here waits for is released for other readers; after this many readings it is dropped as stale.
STALE_DEQUEUE_COUNT = 10
POLL_INTERVAL_SECONDS = 0.05

_BINDING = {"type": "object", "required": ["type", "storage_queue"], "properties": {
    "type": {"const": "storage_queue"},
    "storage_queue": {"type": "object", "required": ["queue_service_endpoint", "queue_name"], "properties": {
        "queue_service_endpoint": {"type": "string", "pattern": "^https?://"},
        "queue_name": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$"}}}}}
AZURE_FUNCTION_SCHEMA: JsonObject = {
    "type": "object", "required": ["function", "input_binding", "output_binding"],
    "properties": {"function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                   "input_binding": _BINDING, "output_binding": _BINDING},
}


@dataclass(frozen=True)
class QueueRef:
    endpoint: str
    queue: str


@dataclass(frozen=True)
class AzureFunctionTool:
    spec: ToolSpec
    input: QueueRef
    output: QueueRef


def azure_function_from_json(tool: JsonObject) -> AzureFunctionTool:
    """From ``{"type": "azure_function", "azure_function": {...}}`` (already schema-checked)."""
    definition = tool["azure_function"]
    function = definition["function"]
    spec = ToolSpec(function["name"], function.get("description") or "",
                    function.get("parameters") or {"type": "object", "properties": {}})

    def ref(binding: JsonObject) -> QueueRef:
        queue = binding["storage_queue"]
        return QueueRef(queue["queue_service_endpoint"].rstrip("/"), queue["queue_name"])

    return AzureFunctionTool(spec, ref(definition["input_binding"]), ref(definition["output_binding"]))


def parse_account(connection: str | None) -> tuple[str, str]:
    """(account name, key) from a connection string; None or UseDevelopmentStorage=true means Azurite's."""
    if not connection or connection.strip().rstrip(";").lower() == "usedevelopmentstorage=true":
        return DEV_ACCOUNT
    parts = dict(p.split("=", 1) for p in connection.split(";") if "=" in p)
    name, key = parts.get("AccountName"), parts.get("AccountKey")
    if not name or not key:
        raise ValueError("--queue-storage must be a connection string with AccountName and AccountKey "
                         "(or UseDevelopmentStorage=true)")
    return name, key


class AzureFunctionError(RuntimeError):
    """A call could not be completed (no answer in time, queue unreachable); the run fails with this message."""


def _body_text(content: Any) -> str:
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else str(content)
    stripped = text.strip()
    if stripped.startswith("{"):
        return stripped
    try:
        return base64.b64decode(stripped, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return stripped


@dataclass
class _OutputQueue:
    """Reads one output queue while anybody waits on it and hands answers out by CorrelationId."""

    client: QueueClient
    waiters: dict[str, asyncio.Future[str]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


class QueueBridge:
    """Puts azure_function calls on input queues and waits for their answers on output queues."""

    def __init__(self, connection: str | None = None, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                 message_encoding: str = "base64") -> None:
        self._account = parse_account(connection)
        self.timeout_seconds = timeout_seconds
        self._encoding = message_encoding
        self._outputs: dict[QueueRef, _OutputQueue] = {}
        self._lock = asyncio.Lock()

    def _client(self, ref: QueueRef) -> QueueClient:
        name, key = self._account
        return QueueClient(ref.endpoint, ref.queue, credential={"account_name": name, "account_key": key})

    async def call(self, tool: AzureFunctionTool, arguments: str, *, within: float | None = None) -> str:
        """Run one call (waiting at most the bridge's timeout, or ``within`` seconds if sooner: the run's expiry);
        returns the answer's Value as text. Raises AzureFunctionError."""
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            # Nothing sensible can go on the queue; the model is told, as with any failed tool call.
            return json.dumps({"error": f"arguments for {tool.spec.name} are not a JSON object"})
        correlation_id = uuid.uuid4().hex
        waiter = await self._wait_for(tool.output, correlation_id)
        body = json.dumps({**parsed, "CorrelationId": correlation_id}).encode("utf-8")
        try:
            async with self._client(tool.input) as queue:
                with contextlib.suppress(ResourceExistsError):
                    await queue.create_queue()
                text = base64.b64encode(body).decode("ascii") if self._encoding == "base64" else body.decode()
                await queue.send_message(text)
            limit = self.timeout_seconds if within is None else min(within, self.timeout_seconds)
            return await asyncio.wait_for(asyncio.shield(waiter), timeout=max(0.0, limit))
        except TimeoutError:
            raise AzureFunctionError(
                f"azure_function tool '{tool.spec.name}' got no answer on queue '{tool.output.queue}' within "
                f"{self.timeout_seconds:g}s (CorrelationId {correlation_id})") from None
        except AzureFunctionError:
            raise
        except Exception as exc:
            raise AzureFunctionError(f"azure_function tool '{tool.spec.name}': queue '{tool.input.queue}' at "
                                     f"{tool.input.endpoint} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            await self._forget(tool.output, correlation_id)

    async def _wait_for(self, ref: QueueRef, correlation_id: str) -> asyncio.Future[str]:
        async with self._lock:
            reader = self._outputs.get(ref)
            if reader is None:
                reader = self._outputs[ref] = _OutputQueue(self._client(ref))
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            reader.waiters[correlation_id] = future
            if reader.task is None or reader.task.done():
                reader.task = asyncio.create_task(self._read(ref, reader), name=f"azure-function-output-{ref.queue}")
            return future

    async def _forget(self, ref: QueueRef, correlation_id: str) -> None:
        reader = self._outputs.get(ref)
        if reader is not None:
            reader.waiters.pop(correlation_id, None)

    async def _read(self, ref: QueueRef, reader: _OutputQueue) -> None:
        with contextlib.suppress(ResourceExistsError):
            await reader.client.create_queue()
        while reader.waiters:
            try:
                got = 0
                async for message in reader.client.receive_messages(max_messages=32, visibility_timeout=30):
                    got += 1
                    await self._dispatch(ref, reader, message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading output queue %s failed; retrying", ref.queue)
                got = 0
            if not got:
                await asyncio.sleep(POLL_INTERVAL_SECONDS)

    async def _dispatch(self, ref: QueueRef, reader: _OutputQueue, message: Any) -> None:
        text = _body_text(message.content)
        try:
            answer = json.loads(text)
        except json.JSONDecodeError:
            answer = None
        correlation_id = answer.get("CorrelationId") if isinstance(answer, dict) else None
        waiter = reader.waiters.get(correlation_id) if isinstance(correlation_id, str) else None
        if waiter is not None and isinstance(answer, dict):
            if not waiter.done():
                value = answer.get("Value")
                waiter.set_result(value if isinstance(value, str) else json.dumps(value))
            await reader.client.delete_message(message)
            return
        if int(message.dequeue_count or 1) >= STALE_DEQUEUE_COUNT:
            log.warning("dropping answer nobody waits for from %s after %s readings: %.200s", ref.queue,
                        message.dequeue_count, text)
            await reader.client.delete_message(message)
            return
        # Another run (or another reader of this queue) may be waiting for it.
        await reader.client.update_message(message, visibility_timeout=1)

    async def aclose(self) -> None:
        for reader in self._outputs.values():
            if reader.task is not None:
                reader.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader.task
            await reader.client.close()
        self._outputs.clear()
