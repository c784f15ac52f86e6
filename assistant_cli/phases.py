"""customStatus in words. Known phases read naturally; any other phase (the turn engine may add some) is shown
by its name with its extra fields, so the CLI never needs to know every phase in advance."""

from __future__ import annotations

import json
from typing import Any

# Fields every phase repeats: not worth repeating on screen.
_CONTEXT = frozenset({"phase", "conversationId", "turn", "pendingApprovals"})

_PHASE_TEXT = {
    "waiting_for_turn": "waiting for the conversation's earlier turns",
    "creating_run": "creating the run",
    "waiting_for_run": "the model is working",
    "running_tools": "running tools",
    "retrying_tools": "running tools again",
    "submitting": "submitting tool outputs",
    "retrying": "retrying",
    "cancelling": "cancelling the run",
    "checkpointing": "saving the turn",
    "awaiting_approval": "waiting for approval",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


def _value(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def phase_of(custom: Any) -> str | None:
    return str(custom["phase"]) if isinstance(custom, dict) and "phase" in custom else None


def describe(custom: Any) -> str:
    """One line for a customStatus value: the phase in words, then its details."""
    if not isinstance(custom, dict):
        return "" if custom is None else _value(custom)
    phase = phase_of(custom)
    head = _PHASE_TEXT.get(phase, phase.replace("_", " ")) if phase else "running"
    extras = {k: v for k, v in custom.items() if k not in _CONTEXT and v not in (None, "", [])}
    if phase == "running_tools" and "tools" in extras:
        return f"{head}: {_value(extras.pop('tools'))}" + _rest(extras, skip={"reads", "runId"})
    if phase == "retrying" and "step" in extras:
        return (f"{head} {extras.pop('step')}" + (f" in {extras.pop('retryAfter')} s" if "retryAfter" in extras else "")
                + _rest(extras, skip={"reads"}))
    if phase == "waiting_for_run":
        status = extras.pop("runStatus", None)
        reads = extras.pop("reads", None)
        next_read = extras.pop("nextReadSeconds", None)
        woken = " or a webhook" if extras.pop("webhooks", False) else ""
        detail = ", ".join(x for x in (f"run {status}" if status else "", f"{reads} status reads" if reads else "",
                                       f"next read in {next_read:g} s{woken}" if next_read is not None else "") if x)
        return head + (f" ({detail})" if detail else "") + _rest(extras, skip={"runId"})
    if phase == "awaiting_approval":
        names = [str(a.get("tool")) for a in pending_approvals(custom) if a.get("tool")]
        approvers = extras.pop("approvers", None)
        running = extras.pop("tools", None)
        return (head + (f" of {', '.join(names)}" if names else "")
                + (f" (approvers: {_value(approvers)})" if approvers else "")
                + (f"; running meanwhile: {_value(running)}" if running else "") + _rest(extras, skip={"runId"}))
    return head + _rest(extras, skip={"reads", "runId"})


def _rest(extras: dict[str, Any], skip: frozenset[str] | set[str] = frozenset()) -> str:
    parts = [f"{k}={_value(v)}" for k, v in extras.items() if k not in skip]
    return ("  · " + " · ".join(parts)) if parts else ""


def pending_approvals(custom: Any) -> list[dict[str, Any]]:
    """Tool calls waiting for a person's decision, if the app reports any in customStatus.pendingApprovals."""
    items = custom.get("pendingApprovals") if isinstance(custom, dict) else None
    if not isinstance(items, list):
        return []
    return [item if isinstance(item, dict) else {"call": item} for item in items]
