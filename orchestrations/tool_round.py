"""One round of tool calls: every call in parallel, except that calls of tools under the approval policy wait
for a person first (an approval event per call, raced against one durable timer), while the others run.

A denied or expired call never runs: settle_approvals stores a clear "not run" output for the model. A call
whose outcome could not be stored runs again after a durable timer. A cancel request ends the round at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from durable_assistant.contracts import (
    ActivityNames,
    ApprovalsResult,
    ApprovalView,
    RequestApprovalsInput,
    RunToolInput,
    SettleApprovalsInput,
    ToolCallRef,
    ToolRunResult,
    approval_event,
)
from orchestrations.turn_state import MAX_STEP_ATTEMPTS, MAX_STEP_DELAY, Step, TurnState, first_line

TOOL_ATTEMPTS = 4


@dataclass
class _Group:
    """Tool calls started together (one fan-out)."""

    numbers: list[int]
    task: Any

    def retry_numbers(self) -> list[int]:
        """Calls to run again: those whose outcome could not be stored (all of them if the host failed one)."""
        if isinstance(self.task.result, Exception):
            return self.numbers
        return [r.number for r in map(ToolRunResult.from_json, self.task.result) if r.retry]


class ToolRound:
    def __init__(self, turn: TurnState, run_id: str, calls: tuple[ToolCallRef, ...]) -> None:
        self.turn, self.run_id, self.calls = turn, run_id, calls
        self.names = {c.number: c.name for c in calls}
        self.approvals: dict[int, ApprovalView] = {}

    def run(self) -> Step:
        """Run the round; returns None when every call has an output, else how the turn ends."""
        turn, policy = self.turn, self.turn.inp.approval
        free = [c.number for c in self.calls if not policy.requires(c.name)]
        gated = [c.number for c in self.calls if policy.requires(c.name)]
        groups = [self._start(free)] if free else []
        self._status(groups)
        if gated:
            ended = yield from self._await_approvals(gated, groups)
            if ended is not None:
                return ended
        for attempt in range(TOOL_ATTEMPTS):
            ended = yield from self._until_done(groups)
            if ended is not None:
                return ended
            retry = [n for g in groups for n in g.retry_numbers()]
            if not retry or attempt + 1 == TOOL_ATTEMPTS:
                return None  # a call still unstored gets an error output at submit time
            turn.status.set("retrying_tools", runId=self.run_id, numbers=retry, attempt=attempt + 1)
            yield from turn.sleep(2.0**attempt)
            if turn.cancel_request() is not None:
                return turn.cancelled()
            groups = [self._start(retry)]
        return None

    def _start(self, numbers: list[int]) -> _Group:
        inp = self.turn.inp
        tasks = [self.turn.context.call_activity(ActivityNames.RUN_TOOL,
                                                 RunToolInput(inp.conversation_id, inp.turn, n).to_json())
                 for n in numbers]
        return _Group(numbers, self.turn.context.task_all(tasks))

    def _until_done(self, groups: list[_Group]) -> Step:
        while True:
            running = [g.task for g in groups if not g.task.is_completed]
            if not running:
                return None
            yield from self.turn.race(*running)
            if self.turn.cancel_request() is not None:
                return self.turn.cancelled()

    def _status(self, groups: list[_Group], waiting: list[int] | None = None) -> None:
        running = [self.names[n] for g in groups if not g.task.is_completed for n in g.numbers]
        if not waiting:
            self.turn.status.set("running_tools", runId=self.run_id, tools=running)
            return
        pending = [{"approvalId": f"{self.turn.inp.turn}.{n}", "tool": self.names[n],
                    "arguments": self.approvals[n].arguments_preview, "expiresAt": self.approvals[n].expires_at}
                   for n in waiting]
        approvers = list(self.turn.inp.approval.approvers) or "any caller with the function key"
        self.turn.status.set("awaiting_approval", runId=self.run_id, pendingApprovals=pending, approvers=approvers,
                             tools=running)

    def _await_approvals(self, gated: list[int], groups: list[_Group]) -> Step:
        """Request approval of ``gated`` and wait until each is decided or the request expires; approved calls
        start as soon as they are approved. Returns None, or how the turn ends (cancelled, failed)."""
        turn = self.turn
        inp = turn.inp
        waited_from = turn.now
        expires = turn.now + timedelta(seconds=inp.approval.timeout_seconds)
        requested = yield from self._approval_step(ActivityNames.REQUEST_APPROVALS, RequestApprovalsInput(
            inp.conversation_id, inp.turn, turn.context.instance_id, gated, expires.isoformat(),
            list(inp.approval.approvers)))
        if requested.error is not None:
            return "failed", requested.error
        waits = {}
        decided_early = []
        for view in requested.approvals:
            self.approvals[view.number] = view
            if view.status == "pending":
                waits[view.number] = turn.context.wait_for_external_event(approval_event(view.number))
            else:
                decided_early.append(view.number)  # decided before a retried request saw it
        timer = turn.context.create_timer(expires)
        while waits or decided_early:
            self._status(groups, list(waits))
            if not decided_early:
                yield from turn.race(*waits.values(), timer, *(g.task for g in groups if not g.task.is_completed))
                if turn.cancel_request() is not None:
                    if not timer.is_completed:
                        timer.cancel()
                    return turn.cancelled()
            expire = timer.is_completed
            ready = decided_early + [n for n, task in waits.items() if expire or task.is_completed]
            decided_early = []
            if not ready:
                continue  # a running tool finished: keep waiting
            settled = yield from self._approval_step(ActivityNames.SETTLE_APPROVALS, SettleApprovalsInput(
                inp.conversation_id, inp.turn, ready, expire))
            if settled.error is not None:
                return "failed", settled.error
            for view in settled.approvals:
                self.approvals[view.number] = view
                if view.status == "pending":  # woken, yet the row is still open: wait for its next event
                    waits[view.number] = turn.context.wait_for_external_event(approval_event(view.number))
                    continue
                waits.pop(view.number, None)
                if view.status == "approved":
                    groups.append(self._start([view.number]))
        if not timer.is_completed:
            timer.cancel()
        turn.paused_seconds += (turn.now - waited_from).total_seconds()
        self._status(groups)
        return None

    def _approval_step(self, name: str, payload: Any) -> Step:
        """An approvals activity; a storage failure is retried on durable timers."""
        result = ApprovalsResult(error="not attempted")
        for attempt in range(MAX_STEP_ATTEMPTS):
            try:
                result = ApprovalsResult.from_json((yield self.turn.context.call_activity(name, payload.to_json())))
            except Exception as exc:
                result = ApprovalsResult(error=f"{name} failed: {first_line(exc)}")
            if result.error is None:
                return result
            yield from self.turn.plain_sleep(min(2.0**attempt, MAX_STEP_DELAY))
        return result
