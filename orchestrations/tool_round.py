"""One round of tool calls: every call in parallel, except that calls of tools under the approval policy wait
for a person first (an approval event per call, raced against one durable timer), while the others run.

A denied or expired call never runs: settle_approvals stores a clear "not run" output for the model. A call
whose outcome could not be stored runs again after a durable timer. A cancel request ends the round at once.
"""

from __future__ import annotations

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


class ToolRound:
    def __init__(self, turn: TurnState, run_id: str, calls: tuple[ToolCallRef, ...]) -> None:
        self.turn, self.run_id, self.calls = turn, run_id, calls
        self.names = {c.number: c.name for c in calls}
        self.approvals: dict[int, ApprovalView] = {}
        self._running: list[int] = []

    def run(self) -> Step:
        """Run the round; returns None when every call has an output, else how the turn ends."""
        turn, policy = self.turn, self.turn.inp.approval
        free = [c.number for c in self.calls if not policy.requires(c.name)]
        gated = [c.number for c in self.calls if policy.requires(c.name)]
        tasks = {n: self._tool(n) for n in free}
        self._running = list(free)
        if gated:
            approved = yield from self._await_approvals(gated, list(tasks.values()))
            if not isinstance(approved, list):
                return approved
            tasks.update({n: self._tool(n) for n in approved})
            self._running = sorted(tasks)
        fresh = set(tasks) - set(free) if gated else set(tasks)
        for attempt in range(TOOL_ATTEMPTS):
            self._status()
            running = [t for t in tasks.values() if not t.is_completed]
            if fresh:
                # The new calls are listed in this wait's action, so the host's shim completes it no later than
                # the SDK does (the SDK also waits for calls the approval wait started).
                yield from turn.race(self.turn.context.task_all(running))
                if turn.cancel_request() is not None:
                    return turn.cancelled()
            elif running:
                # Only calls an earlier wait started are still running: a race would list nothing but the cancel
                # wait, and the shim would wait for a cancel that may never come. Wait for them plainly.
                yield self.turn.context.task_all(running)
            retry = sorted(n for n, t in tasks.items() if _needs_retry(t))
            if not retry or attempt + 1 == TOOL_ATTEMPTS:
                return None  # a call still unstored gets an error output at submit time
            turn.status.set("retrying_tools", runId=self.run_id, numbers=retry, attempt=attempt + 1)
            yield from turn.sleep(2.0**attempt)
            if turn.cancel_request() is not None:
                return turn.cancelled()
            tasks = {n: self._tool(n) for n in retry}
            fresh = set(retry)
            self._running = retry
        return None

    def _tool(self, number: int) -> Any:
        inp = self.turn.inp
        return self.turn.context.call_activity(ActivityNames.RUN_TOOL,
                                               RunToolInput(inp.conversation_id, inp.turn, number).to_json())

    def _status(self, waiting: list[int] | None = None) -> None:
        running = [self.names[n] for n in self._running]
        if not waiting:
            self.turn.status.set("running_tools", runId=self.run_id, tools=running)
            return
        pending = [{"approvalId": f"{self.turn.inp.turn}.{n}", "tool": self.names[n],
                    "arguments": self.approvals[n].arguments_preview, "expiresAt": self.approvals[n].expires_at}
                   for n in waiting]
        approvers = list(self.turn.inp.approval.approvers) or "any caller with the function key"
        self.turn.status.set("awaiting_approval", runId=self.run_id, pendingApprovals=pending, approvers=approvers,
                             tools=running)

    def _await_approvals(self, gated: list[int], free_tasks: list[Any]) -> Step:
        """Request approval of ``gated`` and wait until each is decided or the request expires. The calls that
        need no approval are scheduled with the first wait, so they run meanwhile. Returns the approved call
        numbers, or how the turn ends (cancelled, failed)."""
        turn = self.turn
        inp = turn.inp
        waited_from = turn.now
        expires = turn.now + timedelta(seconds=inp.approval.timeout_seconds)
        requested = yield from self._approval_step(ActivityNames.REQUEST_APPROVALS, RequestApprovalsInput(
            inp.conversation_id, inp.turn, turn.context.instance_id, gated, expires.isoformat(),
            list(inp.approval.approvers)))
        if requested.error is not None:
            return "failed", requested.error
        waits: dict[int, list[Any]] = {}
        """Every wait made for each undecided call: an event that came between two waits went to the older
        one (the newest open wait takes an event), so any of them counts."""
        woken: list[int] = []
        for view in requested.approvals:
            self.approvals[view.number] = view
            if view.status == "pending":
                waits[view.number] = []
            else:
                woken.append(view.number)  # decided before a retried request saw it
        approved: list[int] = []
        schedule_free = bool(free_tasks)
        while waits or woken:
            woken += [n for n, made in waits.items() if any(t.is_completed for t in made) and n not in woken]
            if not woken:
                self._status(sorted(waits))
                fresh = {n: turn.context.wait_for_external_event(approval_event(n)) for n in sorted(waits)}
                for n, task in fresh.items():
                    waits[n].append(task)
                timer = turn.context.create_timer(expires)
                others = [turn.context.task_all(free_tasks)] if schedule_free else []
                schedule_free = False
                winner = yield from turn.race(*fresh.values(), timer, *others)
                if turn.cancel_request() is not None:
                    if winner is not timer:
                        timer.cancel()
                    return turn.cancelled()
                if winner is not timer:
                    timer.cancel()
                    woken = [n for n, task in fresh.items() if task.is_completed]
                    if not woken:
                        continue  # the calls that need no approval finished: keep waiting
                    expire = False
                else:
                    woken, expire = sorted(waits), True
            else:
                expire = False
            settled = yield from self._approval_step(ActivityNames.SETTLE_APPROVALS, SettleApprovalsInput(
                inp.conversation_id, inp.turn, sorted(woken), expire))
            if settled.error is not None:
                return "failed", settled.error
            woken = []
            for view in settled.approvals:
                self.approvals[view.number] = view
                if view.status == "pending":
                    waits[view.number] = []  # woken, yet still open: wait for its next event
                    continue
                waits.pop(view.number, None)
                if view.status == "approved":
                    approved.append(view.number)
        turn.paused_seconds += (turn.now - waited_from).total_seconds()
        return approved

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


def _needs_retry(task: Any) -> bool:
    """The call's outcome could not be stored (or the host failed its activity): run it again."""
    if isinstance(task.result, Exception) or not task.is_completed:
        return True
    return ToolRunResult.from_json(task.result).retry
