"""One orchestration per user message: wait for the conversation's earlier turns, create the model run,
wait on durable timers between short status reads (a provider webhook, raised as an event, ends a wait at
once), fan tool calls out as parallel activities (those that need a person's approval wait for it, see tool_round),
submit their outputs together, repeat until the run ends, checkpoint, return the answer. A cancel request
(CANCEL_EVENT) ends any wait: the run is cancelled at the provider and the turn recorded as ``cancelled``.

Deterministic by construction: time comes from ``context.current_utc_datetime``, every I/O is an activity,
and history holds ids and small status objects only (message text and tool payloads live in Storage).
Activities report failures as values and every retry is an explicit durable timer here: no activity is
called with retry options, so the Python SDK's fail-fast ``task_all`` never meets a retrying child.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import azure.durable_functions as df

from durable_assistant.contracts import (
    RUN_ENDED_EVENT,
    TURN_ORCHESTRATION,
    TURN_READY_EVENT,
    ActivityNames,
    CancelRunInput,
    CheckpointInput,
    CheckpointResult,
    CreateRunInput,
    PollRunInput,
    Resume,
    StepResult,
    SubmitOutputsInput,
    TurnInput,
    TurnOutcome,
)
from orchestrations.tool_round import ToolRound
from orchestrations.turn_state import MAX_STEP_DELAY, Step, TurnFailed, TurnState, bounded, first_line

bp = df.Blueprint()

TURN_CHECK_FIRST_DELAY = 0.5
TURN_CHECK_MAX_DELAY = 15.0
MAX_WAIT_CHECKS_PER_EXECUTION = 20
MAX_READS_PER_EXECUTION = 30
"""A run still going after this many reads continues as new with the same run: history stays bounded."""
CHECKPOINT_ATTEMPTS = 4
MINIMAL_CHECKPOINT_ATTEMPTS = 8


class _Turn(TurnState):
    """The turn's phases: wait for its place, create the run, drive it to its end, checkpoint."""

    def __init__(self, context: df.DurableOrchestrationContext, inp: TurnInput) -> None:
        super().__init__(context, inp)
        self.approvals_requested = False

    def create(self) -> Step:
        """Create the run once every earlier turn has finished (create_run checks; "not_ready" creates
        nothing): strict per-conversation order. None when the orchestration continued as new."""
        inp = self.inp
        payload = CreateRunInput(inp.conversation_id, inp.turn, self.context.instance_id, inp.first_look_seconds)
        delay, checks = TURN_CHECK_FIRST_DELAY, 0
        self.status.set("creating_run" if inp.turn == 1 else "waiting_for_turn", checks=checks)
        while True:
            self.run_created_at = self.now  # the deadline starts when the run is created
            result: StepResult = yield from self.step(ActivityNames.CREATE_RUN, payload)
            if result.status != "not_ready" or self.cancel_request() is not None:
                if result.created_at:  # the step's own clock, from history: still deterministic on replay
                    self.run_created_at = datetime.fromisoformat(result.created_at)
                return result
            checks += 1
            if checks > MAX_WAIT_CHECKS_PER_EXECUTION:
                # A long queue: start afresh with the same input so the waiting loop's history stays bounded.
                self.context.continue_as_new(inp.to_json())
                return None
            self.status.set("waiting_for_turn", checks=checks)
            # The previous turn's checkpoint raises TURN_READY_EVENT; the timer is the fallback if that is lost.
            timer = self.context.create_timer(self.now + timedelta(seconds=delay))
            woken = self.context.wait_for_external_event(TURN_READY_EVENT)
            winner = yield from self.race(woken, timer)
            if winner is not timer:
                timer.cancel()
            if self.cancel_request() is not None:
                return result  # cancelled while queued: no run was created
            delay = min(delay * 2, TURN_CHECK_MAX_DELAY)

    def wait_for_run(self, run_id: str, seconds: float) -> Step:
        """Sleep on a durable timer; with webhooks, the run's end (RUN_ENDED_EVENT) ends the wait early."""
        timer = self.context.create_timer(self.now + timedelta(seconds=seconds))
        ended = [self.context.wait_for_external_event(RUN_ENDED_EVENT)] if self.inp.webhooks else []
        winner = yield from self.race(*ended, timer)
        if winner is not timer:
            timer.cancel()

    def drive(self, result: StepResult, wait_reads: int) -> Step:
        """Wait / run tools / submit until the run ends. Returns (outcome, error), or None after continue-as-new."""
        inp = self.inp
        while True:
            run_id, thread_id = result.run_id, result.thread_id
            if run_id is None:
                return "failed", result.error or "the provider returned no run"
            if result.status in ("error", "queued", "in_progress", "requires_action") \
                    and self.cancel_request() is not None:
                outcome, why = self.cancelled()
                return outcome, f"{why}{(yield from self.cancel(run_id, thread_id))}"
            if result.status == "error":
                yield from self.cancel(run_id, thread_id)  # best effort: don't leave the run going
                return "failed", result.error
            if (result.active or result.status == "requires_action") and self.remaining() <= 0:
                failure = f"turn deadline of {inp.deadline_seconds:g}s exceeded"
                return "deadline_exceeded", failure + (yield from self.cancel(run_id, thread_id))
            if result.active:
                if self.reads_here >= MAX_READS_PER_EXECUTION:
                    resume = Resume(run_id, thread_id, self.started_at.isoformat(), self.run_created_at.isoformat(),
                                    self.status.reads, wait_reads, self.paused_seconds)
                    self.context.continue_as_new(dataclasses.replace(inp, resume=resume).to_json())
                    return None
                delay = min(max(inp.poll_schedule.delay(wait_reads), result.retry_after or 0.0), self.remaining())
                self.status.set("waiting_for_run", runId=run_id, runStatus=result.status,
                                nextReadSeconds=round(delay, 3), webhooks=inp.webhooks)
                yield from self.wait_for_run(run_id, delay)
                wait_reads += 1
                polled = yield from self.step(ActivityNames.POLL_RUN,
                                              PollRunInput(inp.conversation_id, inp.turn, run_id, thread_id))
                result = polled if polled.run_id else dataclasses.replace(polled, run_id=run_id, thread_id=thread_id)
                continue
            if result.status == "requires_action":
                if not result.tool_calls:
                    yield from self.cancel(run_id, thread_id)
                    return "failed", "the run requires an action other than function calls"
                tool_round = ToolRound(self, run_id, result.tool_calls)
                ended = yield from tool_round.run()
                self.approvals_requested = self.approvals_requested or bool(tool_round.approvals)
                if ended is not None:
                    outcome, why = ended
                    return outcome, f"{why}{(yield from self.cancel(run_id, thread_id))}"
                numbers = [c.number for c in result.tool_calls]
                self.status.set("submitting", runId=run_id, toolCount=len(numbers))
                submitted = yield from self.step(ActivityNames.SUBMIT_OUTPUTS, SubmitOutputsInput(
                    inp.conversation_id, inp.turn, run_id, thread_id, numbers, self.context.instance_id,
                    min(inp.first_look_seconds, self.remaining())))
                result = submitted if submitted.run_id else dataclasses.replace(submitted, run_id=run_id,
                                                                                thread_id=thread_id)
                wait_reads = 0
                continue
            if result.status == "completed":
                return "completed", None
            return "failed", result.error or f"the run ended with status {result.status}"

    def cancel(self, run_id: str, thread_id: str | None) -> Step:
        """Cancel the run at the provider (best effort: the turn ends either way). Returns a note for the error."""
        self.status.set("cancelling", runId=run_id)
        cancelled: StepResult = yield from self.step(
            ActivityNames.CANCEL_RUN, CancelRunInput(self.inp.conversation_id, self.inp.turn, run_id, thread_id),
            use_deadline=False, cancellable=False)
        if cancelled.status == "cancelled":
            return f"; run {run_id} cancelled at the provider"
        if cancelled.status == "requires_action":
            return f"; run {run_id} was waiting for tool outputs (nothing was running at the provider)"
        if cancelled.status == "error":
            return f"; cancelling run {run_id} at the provider did not confirm: {cancelled.error}"
        return f"; run {run_id} had already ended ({cancelled.status})"

    def finish(self, checkpoint: CheckpointResult, outcome: TurnOutcome, failure: str | None) -> dict[str, object]:
        """The orchestration's output; a turn that failed (or was recorded as failed) fails the orchestration."""
        inp = self.inp
        if checkpoint.status == "cancelled":
            self.status.set("cancelled", reason=failure)
            return {"conversationId": inp.conversation_id, "turn": inp.turn, "status": "cancelled", "answer": None,
                    "error": failure}
        if checkpoint.status != "completed":
            reason = outcome if checkpoint.status == outcome else f"{outcome}, recorded as {checkpoint.status}"
            self.status.set("failed", reason=reason, error=failure)
            raise TurnFailed(bounded(f"turn {inp.turn} of conversation {inp.conversation_id} {reason}: {failure}"))
        self.status.set("completed")
        return {"conversationId": inp.conversation_id, "turn": inp.turn, "status": "completed",
                "answer": checkpoint.answer}

    def checkpoint(self, outcome: TurnOutcome, error: str | None, *, skipped: bool = False) -> Step:
        """Write the turn record and release the conversation. If that keeps failing, a minimal failure record
        releases it instead; if even that fails, the orchestration fails (the next turn then releases it)."""
        inp = self.inp
        full = CheckpointInput(
            conversation_id=inp.conversation_id, turn=inp.turn, message_id=inp.message_id,
            instance_id=self.context.instance_id, status=outcome, error=error,
            started_at=self.started_at.isoformat(), run_created_at=self.run_created_at.isoformat(),
            finished_at=self.now.isoformat(), reads=self.status.reads,
            cancel=self.cancel_request() if outcome == "cancelled" else None, skipped=skipped,
            approvals=self.approvals_requested)
        result: CheckpointResult | None = None
        for attempts, payload in ((CHECKPOINT_ATTEMPTS, full), (MINIMAL_CHECKPOINT_ATTEMPTS, None)):
            if payload is None:
                self.status.set("checkpointing", fallback=True, error=result.error if result else None)
                reason = f"{error}; " if error else ""
                payload = dataclasses.replace(full, status="failed", minimal=True,
                                              error=f"{reason}{result.error if result else ''}")
            for attempt in range(attempts):
                try:
                    result = CheckpointResult.from_json(
                        (yield self.context.call_activity(ActivityNames.CHECKPOINT, payload.to_json())))
                except Exception as exc:
                    result = CheckpointResult(answer=None, record_written=False, error=first_line(exc))
                if result.error is None:
                    return result
                if attempt + 1 < attempts:
                    yield from self.plain_sleep(min(2.0**attempt, MAX_STEP_DELAY))
        raise TurnFailed(f"turn {inp.turn} of conversation {inp.conversation_id} could not be checkpointed: "
                         f"{result.error if result else 'unknown error'}")


def turn_orchestration(context: df.DurableOrchestrationContext) -> Step:
    inp = TurnInput.from_json(context.get_input())
    turn = _Turn(context, inp)
    if inp.resume is not None:
        result = StepResult(status="in_progress", run_id=inp.resume.run_id, thread_id=inp.resume.thread_id)
        wait_reads = inp.resume.wait_reads
    else:
        result = yield from turn.create()
        if result is None:
            return None
        wait_reads = 0

    if result.status == "already_done":
        # The turn ran before (its instance was purged and the message re-sent): report its record.
        checkpoint: CheckpointResult = yield from turn.checkpoint("already_done", None)
        turn.status.set("completed", replayed=True)
        return {"conversationId": inp.conversation_id, "turn": inp.turn, "status": checkpoint.status,
                "answer": checkpoint.answer}

    if result.run_id is None and turn.cancel_request() is not None:
        # Cancelled before its run was created (queued behind an earlier turn, or while creating).
        outcome, failure = turn.cancelled()
        checkpoint = yield from turn.checkpoint(outcome, failure, skipped=True)
        return turn.finish(checkpoint, outcome, failure)
    ended = yield from turn.drive(result, wait_reads)
    if ended is None:
        return None  # continued as new
    outcome, failure = ended
    checkpoint = yield from turn.checkpoint(outcome, failure)
    return turn.finish(checkpoint, outcome, failure)


bp.orchestration_trigger(context_name="context", orchestration=TURN_ORCHESTRATION)(turn_orchestration)
