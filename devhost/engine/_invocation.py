"""Calling the orchestrator: the context JSON that goes in (spec 2.1) and the result that comes out (spec 1.5)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devhost.model import EventType, HistoryEvent

# Values the Azure Storage provider sends (spec 2.1); with them the SDK splits long timers exactly as in Azure.
UPPER_SCHEMA_VERSION = 1
UPPER_SCHEMA_VERSION_NEW = 2
LONG_RUNNING_TIMER_INTERVAL = "3.00:00:00"
MAXIMUM_SHORT_TIMER_DURATION = "6.00:00:00"
DEFAULT_HTTP_ASYNC_SLEEP_MS = 30000

OUT_OF_PROC_DATA_MARKER = "\n\n$OutOfProcData$:"
_HISTORY_SLOT = "\u0000devhost-history\u0000"  # stands for the history array while the body is encoded


@dataclass
class InvocationResult:
    """What calling the orchestrator function produced."""

    state: dict[str, Any] | None
    """The parsed OrchestratorState JSON (from the return value or the ``$OutOfProcData$`` tail)."""
    error: str | None
    """The exception text (without the ``$OutOfProcData$`` tail), or why the reply could not be understood."""


Invoker = Callable[[str, str], InvocationResult]
"""``invoke(orchestrator_name, context_json)``: calls the wrapper with ``OrchestrationContext(context_json)``."""


def _input_token(input_text: str | None) -> Any:
    # .NET sends the stored input parsed as a JSON token (GetInputAsJson): an object stays an object and a
    # JSON string stays a string.
    if input_text is None:
        return None
    try:
        return json.loads(input_text)
    except ValueError:
        return input_text


def build_context_json(
    *, instance_id: str, history: list[HistoryEvent], input_text: str | None, parent_instance_id: str | None
) -> str:
    """The orchestration trigger payload the Durable extension builds for one episode (spec 2.1)."""
    started = next((e for e in history if e.event_type is EventType.ExecutionStarted), None)
    body = {
        "history": _HISTORY_SLOT,
        "input": _input_token(input_text),
        "instanceId": instance_id,
        "isReplaying": bool(started.is_played) if started is not None else False,
        "parentInstanceId": parent_instance_id,
        "upperSchemaVersion": UPPER_SCHEMA_VERSION,
        "upperSchemaVersionNew": UPPER_SCHEMA_VERSION_NEW,
        "longRunningTimerIntervalDuration": LONG_RUNNING_TIMER_INTERVAL,
        "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER_DURATION,
        "defaultHttpAsyncRequestSleepTimeMillseconds": DEFAULT_HTTP_ASYNC_SLEEP_MS,
    }
    # The same text json.dumps would write for the whole body, with each event's part encoded once per event.
    history_text = "[" + ", ".join(event.context_json_text() for event in history) + "]"
    head, slot, tail = json.dumps(body, ensure_ascii=False).partition(json.dumps(_HISTORY_SLOT))
    assert slot, "the history placeholder must appear in the encoded body"
    return head + history_text + tail


def _parse_state_text(text: str, *, what: str) -> InvocationResult:
    try:
        state = json.loads(text)
    except ValueError as exc:
        return InvocationResult(
            None, f"the orchestrator {what} is not OrchestratorState JSON ({exc}): {text[:200]!r}"
        )
    if not isinstance(state, dict):
        return InvocationResult(None, f"the orchestrator {what} is not a JSON object: {text[:200]!r}")
    return InvocationResult(state, None)


def parse_invocation(return_value_or_exception: object) -> InvocationResult:
    """Interpret what the orchestrator wrapper returned or raised (spec 1.5 step 5).

    * a string: the OrchestratorState JSON;
    * an exception whose text carries ``"\\n\\n$OutOfProcData$:<state>"``: the state plus the error message;
    * any other exception: only an error (the extension then fails the orchestration with it);
    * anything else: an error explaining that the reply is not OrchestratorState JSON.
    """
    value = return_value_or_exception
    if isinstance(value, BaseException):
        text = str(value)
        message, marker, tail = text.partition(OUT_OF_PROC_DATA_MARKER)
        if not marker:
            return InvocationResult(None, text or type(value).__name__)
        parsed = _parse_state_text(tail, what="error payload")
        if parsed.state is None:
            return InvocationResult(None, message)
        return InvocationResult(parsed.state, message)
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return _parse_state_text(value, what="return value")
    return InvocationResult(
        None, f"the orchestrator returned {type(value).__name__}, not OrchestratorState JSON"
    )
