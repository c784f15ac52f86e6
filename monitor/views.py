"""What the monitor's pages show, computed from stored records and orchestration statuses (no I/O here).

A turn's tool calls come from its turn record once it is checkpointed, and from the turn's working documents
while it runs; the timeline comes from the orchestration's history. Anything the turn engine adds to
customStatus is shown as it is, so new phases need no change here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from durable_assistant.store import ApprovalRecord
from monitor.timeline import Span, Timeline

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
# customStatus fields every phase repeats: shown in the page header instead of the phase's table.
_STATUS_CONTEXT = frozenset({"phase", "conversationId", "turn", "pendingApprovals"})


def pretty(value: Any) -> str:
    """JSON text (or a JSON value) indented for reading; other text unchanged."""
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            return text
    if value is None:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False)


def short(text: str | None, limit: int = 140) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def seconds_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


@dataclass(frozen=True)
class Decision:
    """What the transcript keeps of a call's approval (the turn record's ``toolCalls[].approval``)."""

    status: str
    decided_by: str | None
    reason: str | None
    decided_at: str | None

    @staticmethod
    def of(value: Any) -> Decision | None:
        if not isinstance(value, dict):
            return None
        return Decision(str(value.get("status") or "?"), value.get("decidedBy"), value.get("reason"),
                        value.get("decidedAt"))


@dataclass(frozen=True)
class ToolCallView:
    number: int
    round: int | None
    name: str
    arguments: str
    output: str
    ok: bool | None
    """None while the call has not run yet."""
    error: str | None
    duration_ms: float | None
    approval: Decision | None = None


def tool_calls(docs: list[dict[str, Any]], approvals: list[ApprovalRecord] | None = None) -> list[ToolCallView]:
    """From a turn record's ``toolCalls`` (numbered by position) or the working documents (with ``number``).
    A call's approval comes from the record, else (while the turn runs) from its approval request."""
    requests = {a.number: a.transcript() for a in approvals or []}
    views = []
    for index, doc in enumerate(docs, start=1):
        number = doc.get("number")
        number = number if isinstance(number, int) else index
        views.append(ToolCallView(
            number=number, round=doc.get("round"),
            name=str(doc.get("name", "?")), arguments=pretty(doc.get("arguments")), output=pretty(doc.get("output")),
            ok=doc.get("ok"), error=doc.get("error"), duration_ms=doc.get("durationMs"),
            approval=Decision.of(doc.get("approval") or requests.get(number))))
    return views


@dataclass(frozen=True)
class ApprovalView:
    """One approval request as the pages show it; ``open`` ones get Approve / Deny buttons."""

    approval_id: str
    conversation_id: str
    turn: int
    tool: str
    arguments: str
    status: str
    requested_at: str
    expires_at: str
    approvers: tuple[str, ...]
    decided_by: str | None
    reason: str | None
    decided_at: str | None
    open: bool

    @property
    def decide_path(self) -> str:
        """The approval route, under the API's base (see Links.api)."""
        return f"/conversations/{self.conversation_id}/approvals/{self.approval_id}"


def approval_views(records: list[ApprovalRecord], now: datetime) -> list[ApprovalView]:
    """A request past its expiry is shown as expired even before the turn's timer has closed it."""
    views = []
    for r in records:
        expired = r.status == "pending" and r.expired_at(now)
        views.append(ApprovalView(
            approval_id=r.approval_id, conversation_id=r.conversation_id, turn=r.turn, tool=r.tool,
            arguments=pretty(r.arguments), status="expired" if expired else r.status, requested_at=r.requested_at,
            expires_at=r.expires_at, approvers=r.approvers, decided_by=r.decided_by, reason=r.reason,
            decided_at=r.decided_at, open=r.status == "pending" and not expired))
    return views


@dataclass(frozen=True)
class Row:
    """One bar of the Gantt chart, positioned in percent of the timeline."""

    kind: str
    label: str
    detail: str
    state: str
    left: float
    width: float
    start_text: str
    duration_text: str
    tool: str | None = None
    anchor: str | None = None
    retry: bool = False


@dataclass(frozen=True)
class Marker:
    label: str
    event_type: str
    left: float
    title: str


@dataclass(frozen=True)
class Gantt:
    rows: list[Row]
    markers: list[Marker]
    ticks: list[tuple[float, str]]
    total_text: str
    finished: bool
    outcome: str | None


_TICK_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


def _ticks(total: float) -> list[tuple[float, str]]:
    step = next((s for s in _TICK_STEPS if total / s <= 8), _TICK_STEPS[-1])
    count = int(total // step) if total > 0 else 0
    return [(i * step / total * 100 if total else 0.0, seconds_text(i * step) if i else "0")
            for i in range(count + 1)]


def gantt(timeline: Timeline, calls: list[ToolCallView]) -> Gantt:
    total = timeline.seconds or 1e-3
    by_number = {c.number: c for c in calls}

    def pos(at: datetime) -> float:
        return min(max((at - timeline.start).total_seconds() / total * 100, 0.0), 100.0)

    rows = [_row(span, timeline, by_number, pos) for span in timeline.spans]
    markers = [Marker(label=p.name, event_type=p.event_type, left=pos(p.at),
                      title=f"{p.event_type} {p.name} at +{seconds_text((p.at - timeline.start).total_seconds())}"
                            + (f": {short(pretty(p.detail), 300)}" if p.detail not in (None, "") else ""))
               for p in timeline.points]
    return Gantt(rows, markers, _ticks(total), seconds_text(timeline.seconds), timeline.finished, timeline.outcome)


def _row(span: Span, timeline: Timeline, calls: dict[int, ToolCallView], pos: Callable[[datetime], float]) -> Row:
    end = span.end or (min(span.fire_at, timeline.end) if span.fire_at else timeline.end)
    left = pos(span.start)
    width = max(pos(end) - left, 0.4)  # an instant still gets a visible sliver
    duration = max((end - span.start).total_seconds(), 0.0)
    call = calls.get(span.call_number) if span.call_number is not None else None
    if span.kind == "timer":
        label = "timer"
        detail = (f"due at +{seconds_text((span.fire_at - timeline.start).total_seconds())}"
                  if span.fire_at else "")
    elif call is not None:
        label, detail = call.name, f"{span.name} #{call.number} {short(call.arguments, 80)}"
    else:
        label, detail = span.name, short(pretty(span.input), 100)
    if span.attempt > 1:
        detail = f"attempt {span.attempt} · {detail}"
    if span.failure:
        detail = f"{detail} · failed: {short(span.failure, 120)}"
    return Row(kind=span.kind, label=label, detail=detail, state=span.state, left=left,
               width=min(width, 100.0 - left) if left < 100 else 0.4,
               start_text="+" + seconds_text((span.start - timeline.start).total_seconds()),
               duration_text=seconds_text(duration) + ("…" if span.end is None else ""),
               tool=call.name if call is not None else None,
               anchor=f"call-{call.number}" if call is not None else None, retry=span.attempt > 1)


@dataclass(frozen=True)
class LiveStatus:
    """An orchestration's state as the status API reports it."""

    runtime_status: str
    phase: str | None
    fields: list[tuple[str, str]]
    pending_approvals: list[dict[str, Any]]
    output: Any
    created: str | None
    last_updated: str | None

    @property
    def running(self) -> bool:
        return self.runtime_status not in TERMINAL_STATUSES and self.runtime_status != "Unknown"


def live_status(runtime_status: str | None, custom: Any, output: Any = None, created: str | None = None,
                last_updated: str | None = None) -> LiveStatus:
    custom_dict = custom if isinstance(custom, dict) else ({"value": custom} if custom is not None else {})
    approvals = custom_dict.get("pendingApprovals")
    return LiveStatus(
        runtime_status=runtime_status or "Unknown",
        phase=str(custom_dict["phase"]) if "phase" in custom_dict else None,
        fields=[(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                for k, v in custom_dict.items() if k not in _STATUS_CONTEXT],
        pending_approvals=[a if isinstance(a, dict) else {"call": a} for a in approvals]
        if isinstance(approvals, list) else [],
        output=output, created=created, last_updated=last_updated)


@dataclass(frozen=True)
class TurnSummary:
    turn: int
    message: str
    status: str
    """The record's status once checkpointed, else the orchestration's runtime status (and phase)."""
    answer: str
    tool_names: list[str]
    finished: bool


@dataclass
class TurnView:
    conversation_id: str
    turn: int
    instance_id: str
    user_message: str | None
    record: dict[str, Any] | None
    status: LiveStatus | None
    calls: list[ToolCallView] = field(default_factory=list)
    chart: Gantt | None = None
    approvals: list[ApprovalView] = field(default_factory=list)
    """The turn's approval requests (open and decided), from the approvals table."""

    @property
    def cancellable(self) -> bool:
        """The cancel route takes it: its orchestration runs and it is not recorded as ended."""
        return self.status is not None and self.status.running and self.record is None

    @property
    def live(self) -> bool:
        """Worth refreshing: the orchestration runs, or the turn has neither a record nor an instance yet."""
        if self.status is not None:
            return self.status.running
        return self.record is None
