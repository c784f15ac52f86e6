"""An orchestration's history (the ``historyEvents`` of the Durable status API) as a timeline of spans and points.

Generic on purpose: any activity, sub-orchestration, timer or event is drawn under its own name, so the monitor
keeps working when the turn engine renames its activities or adds new waits. The status API folds each
``TaskScheduled`` into its completion (``ScheduledTime`` + ``FunctionName``) and drops the orchestrator's own
bookkeeping events; a ``TaskScheduled`` still present has not finished yet.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

SpanKind = Literal["activity", "suborchestration", "timer"]
SpanState = Literal["completed", "failed", "running", "waiting", "cancelled"]

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 timestamps as the status API writes them (up to 7 fractional digits, ``Z``)."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value.strip().replace("Z", "+00:00"), 1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_json(value: Any) -> Any:
    """Inputs and results come as JSON text or already parsed, depending on the host: always give the value."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class Span:
    kind: SpanKind
    name: str
    start: datetime
    end: datetime | None
    """None while it is still going on."""
    state: SpanState
    attempt: int = 1
    """2, 3, ... for a retry of a failed call."""
    input: Any = None
    result: Any = None
    failure: str | None = None
    fire_at: datetime | None = None
    """Timers: when the timer is due."""

    @property
    def call_number(self) -> int | None:
        """The tool call this activity ran, when its input or result names one (``{"number": n, ...}``). The
        result is the usual source: hosts keep activity inputs out of history unless
        ``storeInputsInOrchestrationHistory`` is set."""
        for payload in (self.input, self.result):
            number = _json_object(payload).get("number")
            if isinstance(number, int) and not isinstance(number, bool):
                return number
        return None


def _json_object(value: Any) -> dict[str, Any]:
    """A payload as a dict, through the layers hosts add (JSON text inside JSON text, DTFx's one-item array)."""
    for _ in range(3):
        if isinstance(value, str):
            value = parse_json(value)
        elif isinstance(value, list) and len(value) == 1:
            value = value[0]
        else:
            break
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Point:
    name: str
    event_type: str
    at: datetime
    detail: Any = None


@dataclass
class Timeline:
    start: datetime
    end: datetime
    finished: bool
    spans: list[Span] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    outcome: str | None = None
    """OrchestrationStatus of ExecutionCompleted (Completed, Failed, ...), if it ended."""

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


def _failure_text(event: dict[str, Any]) -> str | None:
    details = event.get("FailureDetails")
    if isinstance(details, dict):
        return str(details.get("ErrorMessage") or details.get("ErrorType") or details)
    reason, more = event.get("Reason"), event.get("Details")
    text = " ".join(str(x) for x in (reason, more) if x)
    return text or None


def build_timeline(events: list[dict[str, Any]], now: datetime) -> Timeline:
    """Spans and points of one execution's history. ``now`` closes what is still open in a running instance."""
    spans: list[Span] = []
    points: list[Point] = []
    open_timers: list[tuple[datetime | None, datetime, int]] = []  # (fire_at, created, index into spans)
    start: datetime | None = None
    end: datetime | None = None
    outcome: str | None = None
    for event in events:
        kind = str(event.get("EventType", ""))
        at = parse_time(event.get("Timestamp"))
        if at is None:
            continue
        name = str(event.get("FunctionName") or event.get("Name") or "")
        if kind == "ExecutionStarted":
            start = at if start is None else min(start, at)
        elif kind in ("TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCompleted",
                      "SubOrchestrationInstanceFailed"):
            failed = kind.endswith("Failed")
            spans.append(Span(
                kind="activity" if kind.startswith("Task") else "suborchestration", name=name,
                start=parse_time(event.get("ScheduledTime")) or at, end=at,
                state="failed" if failed else "completed", input=parse_json(event.get("Input")),
                result=None if failed else parse_json(event.get("Result")),
                failure=_failure_text(event) if failed else None))
        elif kind in ("TaskScheduled", "SubOrchestrationInstanceCreated"):
            spans.append(Span(kind="activity" if kind == "TaskScheduled" else "suborchestration", name=name,
                              start=at, end=None, state="running", input=parse_json(event.get("Input"))))
        elif kind == "TimerCreated":
            fire_at = parse_time(event.get("FireAt"))
            open_timers.append((fire_at, at, len(spans)))
            spans.append(Span(kind="timer", name="timer", start=at, end=None, state="waiting", fire_at=fire_at))
        elif kind == "TimerFired":
            fire_at = parse_time(event.get("FireAt"))
            match = next((t for t in open_timers if t[0] == fire_at), open_timers[0] if open_timers else None)
            if match is not None:
                open_timers.remove(match)
                # DTFx stamps TimerFired when it creates it, i.e. when the timer is set (the message is then
                # delayed until FireAt): the timer's real end is its FireAt.
                spans[match[2]] = Span(kind="timer", name="timer", start=match[1], end=match[0] or at,
                                       state="completed", fire_at=match[0])
        elif kind == "ExecutionCompleted":
            end, outcome = at, str(event.get("OrchestrationStatus") or "Completed")
            points.append(Point(outcome, kind, at, parse_json(event.get("Result")) or _failure_text(event)))
        elif kind == "ExecutionTerminated":
            end, outcome = at, "Terminated"
            points.append(Point("terminated", kind, at, parse_json(event.get("Input"))))
        else:  # EventRaised, EventSent, ExecutionSuspended/Resumed, ContinueAsNew, GenericEvent, ...
            points.append(Point(name or kind, kind, at, parse_json(event.get("Input"))))
    finished = end is not None
    if finished:
        # A timer that lost a race (task_any with an event) never fires: it was dropped when the instance ended.
        spans = [replace(s, state="cancelled") if s.kind == "timer" and s.end is None else s for s in spans]
    times = [s.start for s in spans] + [p.at for p in points]
    first = start or (min(times) if times else now)
    last = end or max([now, *times, *(s.end for s in spans if s.end is not None)])
    return Timeline(start=first, end=last, finished=finished, spans=_number_attempts(spans), points=points,
                    outcome=outcome)


def _number_attempts(spans: list[Span]) -> list[Span]:
    """Spans in start order, each retry numbered (attempt 2, 3, ...) after the failed call it repeats."""
    numbered: list[Span] = []
    # Calls scheduled together (a fan-out) keep their call order; otherwise history order (the sort is stable).
    def order(span: Span) -> tuple[datetime, int]:
        number = span.call_number
        return span.start, number if number is not None else 1 << 30

    for span in sorted(spans, key=order):
        if span.kind != "timer":
            retried = _retried_call(span, numbered)
            if retried is not None:
                span = replace(span, attempt=retried.attempt + 1)
        numbered.append(span)
    return numbered


def _retried_call(span: Span, earlier: list[Span]) -> Span | None:
    """The failed call ``span`` retries: the same function with the same input (histories usually hold no
    inputs, so often just the same function) that failed before ``span`` started, with only the retry's durable
    timer started in between. A repeated call after a success (another polling window) is not a retry."""
    for candidate in reversed(earlier):
        if (candidate.kind != span.kind or candidate.name != span.name or candidate.state != "failed"
                or candidate.end is None or candidate.end > span.start or candidate.input != span.input):
            continue
        between = [s for s in earlier if candidate.end <= s.start <= span.start and s is not candidate]
        if between and all(s.kind == "timer" for s in between):
            return candidate
    return None
