"""The app's tools served over Storage queues, in the contract of Foundry Agent Service ``azure_function`` tools.

The agent service puts ``{...the tool's arguments, "CorrelationId": id}`` on a tool's input queue; the answer goes
to its output queue as ``{"Value": <the tool output>, "CorrelationId": id}``. This module is that contract without
any Functions types: queue names, message parsing (plain JSON or Base64), the agent tool definition, and a ledger
that makes a CorrelationId answer once, whatever the number of deliveries.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from durable_assistant import json_limits
from durable_assistant.storage_clients import StorageClients
from durable_assistant.tools._registry import ToolContext, ToolRegistry, ToolSpec

log = logging.getLogger("durable_assistant.tool_queues")

LEDGER_TABLE = "toolqueuecalls"
CORRELATION_KEY = "CorrelationId"
VALUE_KEY = "Value"
_CORRELATION_IN_TEXT = re.compile(r'"CorrelationId"\s*:\s*"((?:[^"\\]|\\.){1,512})"')


@dataclass(frozen=True)
class ToolQueues:
    """The two queues of one tool."""

    tool: str
    input: str
    output: str


def default_queue_name(prefix: str, tool: str, direction: str) -> str:
    """``{prefix}-{tool name, lowercase, '_' as '-'}-{input|output}``: queue names allow no underscores."""
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]", "-", tool.lower())).strip("-")
    return f"{prefix}-{slug}-{direction}"


def tool_queue_layout(tool_names: list[str], prefix: str,
                      overrides: tuple[tuple[str, str, str], ...] = ()) -> dict[str, ToolQueues]:
    """Queues of every tool: the overrides (ASSISTANT_TOOL_QUEUES) where given, else the prefixed defaults.
    Raises ValueError for an override naming an unknown tool or two tools sharing a queue."""
    named = {tool: ToolQueues(tool, inp, out) for tool, inp, out in overrides}
    unknown = sorted(set(named) - set(tool_names))
    if unknown:
        raise ValueError(f"ASSISTANT_TOOL_QUEUES names tools that do not exist: {unknown}; tools: {sorted(tool_names)}")
    layout = {tool: named.get(tool) or ToolQueues(tool, default_queue_name(prefix, tool, "input"),
                                                  default_queue_name(prefix, tool, "output"))
              for tool in sorted(tool_names)}
    seen: dict[str, str] = {}
    for queues in layout.values():
        for queue in (queues.input, queues.output):
            if queue in seen:
                raise ValueError(f"queue {queue!r} is used by both {seen[queue]!r} and {queues.tool!r}")
            seen[queue] = queues.tool
    return layout


def _binding(queue_service_uri: str, queue_name: str) -> dict[str, Any]:
    return {"type": "storage_queue", "storage_queue": {"queue_service_endpoint": queue_service_uri,
                                                        "queue_name": queue_name}}


def azure_function_tool(spec: ToolSpec, queues: ToolQueues, queue_service_uri: str) -> dict[str, Any]:
    """The ``azure_function`` tool definition an agent needs (the same JSON for classic agents and for prompt
    agent versions of the new agents API)."""
    return {
        "type": "azure_function",
        "azure_function": {
            "function": {"name": spec.name, "description": spec.description, "parameters": spec.parameters},
            "input_binding": _binding(queue_service_uri, queues.input),
            "output_binding": _binding(queue_service_uri, queues.output),
        },
    }


def function_tool(spec: ToolSpec) -> dict[str, Any]:
    """A plain function tool (threads/runs shape): the caller runs the tool and submits its output."""
    return {"type": "function", "function": {"name": spec.name, "description": spec.description,
                                             "parameters": spec.parameters}}


class UnanswerableMessage(ValueError):
    """A message without a usable CorrelationId: nobody could match an answer, so it must fail (and after the
    host's maxDequeueCount land on the poison queue) instead of being answered."""


@dataclass(frozen=True)
class QueueCall:
    """One parsed input message: ``problem`` set means it is answered with an error Value."""

    correlation_id: str
    arguments: dict[str, Any]
    problem: str | None = None


def message_text(body: bytes | str) -> str:
    """The message as text, whether it was put as plain JSON or Base64 (Functions' default encoding).

    A JSON object starts with ``{``, which is not a Base64 character, so the two cannot be confused."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    stripped = text.strip()
    if stripped.startswith("{") or not stripped:
        return stripped
    try:
        return base64.b64decode(stripped, validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return stripped


def parse_call(body: bytes | str) -> QueueCall:
    """Parse an input message. Raises UnanswerableMessage when no CorrelationId can be found."""
    text = message_text(body)
    try:
        value: Any = json_limits.loads(text)
    except ValueError as exc:  # not JSON, or past the size/nesting limits
        problem = f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        found = _CORRELATION_IN_TEXT.search(text)
        if found is None:
            raise UnanswerableMessage(f"message is not acceptable JSON ({problem}) and has no "
                                      f"{CORRELATION_KEY}") from None
        try:
            correlation_id = json.loads(f'"{found.group(1)}"')
        except json.JSONDecodeError:
            raise UnanswerableMessage(f"message is not acceptable JSON ({problem}) and its {CORRELATION_KEY} is "
                                      "not a valid JSON string") from None
        return QueueCall(correlation_id, {}, f"message is not valid JSON: {problem}")
    if not isinstance(value, dict):
        raise UnanswerableMessage(f"message is JSON but not an object (got {type(value).__name__}), so it has no "
                                  f"{CORRELATION_KEY}")
    correlation_id = value.pop(CORRELATION_KEY, None)
    if not isinstance(correlation_id, str) or not correlation_id.strip():
        raise UnanswerableMessage(f"message has no {CORRELATION_KEY} (a non-empty string); keys: {sorted(value)}")
    return QueueCall(correlation_id, value)


def answer_body(value: str, correlation_id: str) -> bytes:
    """The output message (UTF-8 JSON; the queue client Base64-encodes it)."""
    return json.dumps({VALUE_KEY: value, CORRELATION_KEY: correlation_id}, ensure_ascii=False).encode("utf-8")


def error_value(message: str) -> str:
    """An error in the shape the registry gives the model for its own mistakes."""
    return json.dumps({"success": False, "error": message}, ensure_ascii=False)


@dataclass
class CallLedger:
    """The answer given for each (tool, CorrelationId), kept in a table so redeliveries answer the same."""

    storage: StorageClients

    def ensure(self) -> None:
        self.storage.ensure_table(LEDGER_TABLE)

    @staticmethod
    def _row_key(correlation_id: str) -> str:
        # RowKeys forbid / \ # ? and control characters and CorrelationIds are the caller's: hash them.
        return hashlib.sha256(correlation_id.encode("utf-8")).hexdigest()

    def get(self, tool: str, correlation_id: str) -> tuple[str, bool] | None:
        """The recorded (value, ok), or None when this CorrelationId was never answered."""
        try:
            row = self.storage.table(LEDGER_TABLE).get_entity(tool, self._row_key(correlation_id))
        except ResourceNotFoundError:
            return None
        return str(row["value"]), bool(row["ok"])

    def record(self, tool: str, correlation_id: str, value: str, ok: bool) -> tuple[str, bool]:
        """Keep ``value`` unless an answer was recorded first (a concurrent delivery); return the kept one."""
        entity = {"PartitionKey": tool, "RowKey": self._row_key(correlation_id), "correlationId": correlation_id,
                  "value": value, "ok": ok, "answeredAt": datetime.now(UTC).isoformat()}
        try:
            self.storage.table(LEDGER_TABLE).create_entity(entity)
        except ResourceExistsError:
            return self.get(tool, correlation_id) or (value, ok)
        return value, ok


def send_answer(storage: StorageClients, queue_name: str, body: bytes) -> None:
    """Put the answer on the output queue, creating the queue the first time (infra normally has)."""
    client = storage.queue(queue_name)
    try:
        client.send_message(body)
    except ResourceNotFoundError:
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.send_message(body)


@dataclass(frozen=True)
class QueueAnswer:
    correlation_id: str
    value: str
    ok: bool
    replayed: bool
    """True when this delivery found an earlier answer and repeated it (the tool did not run again)."""


def serve_call(registry: ToolRegistry, storage: StorageClients, queues: ToolQueues, body: bytes | str,
               *, dequeue_count: int = 1) -> QueueAnswer:
    """Answer one input message of ``queues.tool``: parse, run the tool once per CorrelationId, put the answer
    on the output queue. Raises UnanswerableMessage (no CorrelationId) and storage errors, which the host retries
    and finally moves to the poison queue."""
    ledger = CallLedger(storage)
    call = parse_call(body)
    kept = ledger.get(queues.tool, call.correlation_id)
    replayed = kept is not None
    if kept is not None:
        value, ok = kept
    else:
        if call.problem is not None:
            value, ok = error_value(call.problem), False
        else:
            # Side-effect tools dedupe on the call key too, so even a crash between running the tool and
            # recording the answer does not make a lamp change twice.
            result = registry.run(queues.tool, call.arguments, ToolContext(
                storage=storage, call_key=f"queue:{queues.tool}:{call.correlation_id}"))
            value, ok = result.output, result.ok
        value, ok = ledger.record(queues.tool, call.correlation_id, value, ok)
    send_answer(storage, queues.output, answer_body(value, call.correlation_id))
    log.info("tool %s answered CorrelationId %s on %s (ok=%s, replayed=%s, dequeue_count=%d)", queues.tool,
             call.correlation_id, queues.output, ok, replayed, dequeue_count)
    return QueueAnswer(call.correlation_id, value, ok, replayed)
