"""One orchestration per user message: wait for the conversation's earlier turns, create the model run,
watch it, fan tool calls out as parallel activities, submit their outputs together, repeat until the run
ends, checkpoint, return the answer.

Deterministic by construction: time comes from ``context.current_utc_datetime``, every I/O is an activity,
and history holds ids and small status objects only (message text and tool payloads live in Storage).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from durable_assistant.turn import (
    TURN_ORCHESTRATION,
    TURN_READY_EVENT,
    ActivityNames,
    CancelRunInput,
    CheckpointInput,
    CheckpointResult,
    CreateRunInput,
    RunToolInput,
    StepResult,
    SubmitOutputsInput,
    TurnInput,
    WatchRunInput,
)

bp = df.Blueprint()

ACTIVE = ("queued", "in_progress")
TURN_CHECK_FIRST_DELAY = 0.5
TURN_CHECK_MAX_DELAY = 15.0
MAX_WAIT_CHECKS_PER_EXECUTION = 20
FIRST_WATCH_SECONDS = 1.0
# Watch windows grow 3, 9, 20 (cap) seconds: the provider is read every poll_interval inside the activity, so a
# longer window costs no reaction time, only a longer-held activity; fewer windows keep history small.
WATCH_WINDOW_GROWTH = 3.0
MAX_TRANSIENT_RETRIES = 8
MAX_TRANSIENT_DELAY = 30.0
# Activity retries cover infrastructure hiccups (storage throttling, worker restarts); provider throttling is
# reported by the steps themselves and waited out with retry-after (see _call_step).
TOOL_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
STEP_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
# The checkpoint releases the conversation's next turn: try harder before giving up on it.
CHECKPOINT_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=6)

Step = Generator[Any, Any, Any]


class TurnFailed(Exception):
    """Ends the orchestration as Failed with a readable reason (after the turn was checkpointed)."""


class _Status:
    """customStatus writer: always a dict with ``phase`` so status polls show progress."""

    def __init__(self, context: df.DurableOrchestrationContext, inp: TurnInput) -> None:
        self._context = context
        self._base = {"conversationId": inp.conversation_id, "turn": inp.turn}
        self.polls = 0

    def set(self, phase: str, **extra: Any) -> None:
        self._context.set_custom_status({"phase": phase, **self._base, "pollCount": self.polls, **extra})


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _iso(value: datetime) -> str:
    return value.isoformat()


def _call_step(context: df.DurableOrchestrationContext, name: str, payload: Callable[[], dict[str, Any]],
               status: _Status, deadline: datetime | None) -> Step:
    """Call a provider step; on 429/5xx wait ``retry_after`` (or capped exponential backoff) on a durable
    timer and try again. Returns the StepResult (status "error" when retries ran out or the error is 4xx)."""
    attempt = 0
    while True:
        try:
            raw = yield context.call_activity_with_retry(name, STEP_RETRY, payload())
        except Exception as exc:  # the activity itself kept failing (storage, bugs): end the turn cleanly
            return StepResult(status="error", error=f"{name} failed: {_first_line(exc)}")
        result = StepResult.from_json(raw)
        status.polls += result.polls
        if result.status != "error" or not result.transient or attempt >= MAX_TRANSIENT_RETRIES:
            return result
        attempt += 1
        backoff = min(2.0 ** (attempt - 1), MAX_TRANSIENT_DELAY)
        delay = result.retry_after if result.retry_after is not None else backoff
        fire_at = context.current_utc_datetime + timedelta(seconds=delay)
        if deadline is not None and fire_at >= deadline:
            return result
        status.set("retrying", step=name, attempt=attempt, retryAfter=delay, error=result.error)
        yield context.create_timer(fire_at)


def _watch_payload(inp: TurnInput, run_id: str, thread_id: str | None, window: float,
                   remaining: Callable[[], float]) -> Callable[[], dict[str, Any]]:
    return lambda: WatchRunInput(inp.conversation_id, inp.turn, run_id, thread_id,
                                 min(window, remaining())).to_json()


def _submit_payload(inp: TurnInput, run_id: str, thread_id: str | None, numbers: list[int],
                    remaining: Callable[[], float]) -> Callable[[], dict[str, Any]]:
    return lambda: SubmitOutputsInput(inp.conversation_id, inp.turn, run_id, thread_id, numbers,
                                      min(FIRST_WATCH_SECONDS, remaining())).to_json()


def _with_run(result: StepResult, run_id: str, thread_id: str | None) -> StepResult:
    return StepResult.from_json({**result.to_json(), "run_id": run_id, "thread_id": thread_id})


def turn_orchestration(context: df.DurableOrchestrationContext) -> Step:
    inp = TurnInput.from_json(context.get_input())
    status = _Status(context, inp)
    started_at = context.current_utc_datetime

    # 1+2. Create the run once every earlier turn has finished (create_run checks; "not_ready" creates
    # nothing): strict per-conversation order. The turn deadline starts when the run is created.
    def create_payload() -> dict[str, Any]:
        return CreateRunInput(inp.conversation_id, inp.turn, min(FIRST_WATCH_SECONDS, inp.deadline_seconds)).to_json()

    delay, checks = TURN_CHECK_FIRST_DELAY, 0
    status.set("creating_run" if inp.turn == 1 else "waiting_for_turn", checks=checks)
    while True:
        run_created_at = context.current_utc_datetime
        result: StepResult = yield from _call_step(context, ActivityNames.CREATE_RUN, create_payload, status,
                                                   run_created_at + timedelta(seconds=inp.deadline_seconds))
        if result.status != "not_ready":
            break
        checks += 1
        if checks > MAX_WAIT_CHECKS_PER_EXECUTION:
            # A long queue: start afresh with the same input so the waiting loop's history stays bounded.
            context.continue_as_new(inp.to_json())
            return None
        status.set("waiting_for_turn", checks=checks)
        # The previous turn's checkpoint raises TURN_READY_EVENT; the timer is the fallback if that is lost.
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
        woken = context.wait_for_external_event(TURN_READY_EVENT)
        winner = yield context.task_any([woken, timer])
        if winner is woken:
            timer.cancel()
        delay = min(delay * 2, TURN_CHECK_MAX_DELAY)
    deadline = run_created_at + timedelta(seconds=inp.deadline_seconds)

    def remaining() -> float:
        left: float = (deadline - context.current_utc_datetime).total_seconds()
        return max(0.0, left)

    # 3. Watch / run tools / submit until the run ends.
    window = FIRST_WATCH_SECONDS
    failure: str | None = None
    outcome = "failed"
    replayed = result.status == "already_done"  # the turn ran before: skip straight to its record
    if replayed:
        outcome = "already_done"
    while not replayed:
        run_id, thread_id = result.run_id, result.thread_id
        if result.status == "error" or run_id is None:
            failure = result.error or "provider returned no run"
            break
        waiting = result.status in ACTIVE or result.status == "requires_action"
        if waiting and remaining() <= 0:
            outcome, failure = "deadline_exceeded", f"turn deadline of {inp.deadline_seconds:g}s exceeded"
            status.set("cancelling", runId=run_id, error=failure)
            # Best effort: the turn ends either way (a run left running expires at the provider).
            try:
                cancelled = StepResult.from_json((yield context.call_activity_with_retry(
                    ActivityNames.CANCEL_RUN, STEP_RETRY,
                    CancelRunInput(inp.conversation_id, inp.turn, run_id, thread_id).to_json())))
            except Exception as exc:
                cancelled = StepResult(status="error", error=_first_line(exc))
            if cancelled.status == "cancelled":
                failure += f"; run {run_id} cancelled at the provider"
            else:
                failure += f"; cancelling run {run_id} at the provider did not confirm: {cancelled.error}"
            break
        if result.status in ACTIVE:
            status.set("polling", runId=run_id, runStatus=result.status)
            if result.retry_after:
                pause = min(result.retry_after, remaining())
                yield context.create_timer(context.current_utc_datetime + timedelta(seconds=pause))
            window = min(window * WATCH_WINDOW_GROWTH, inp.poll_window_max_seconds)
            watched: StepResult = yield from _call_step(
                context, ActivityNames.WATCH_RUN,
                _watch_payload(inp, run_id, thread_id, window, remaining), status, deadline)
            # A failed read keeps the run we know about, so the loop can retry or cancel it.
            result = watched if watched.run_id else _with_run(watched, run_id, thread_id)
            continue
        if result.status == "requires_action" and result.tool_calls:
            numbers = [int(c["number"]) for c in result.tool_calls]
            status.set("running_tools", runId=run_id, tools=[c["name"] for c in result.tool_calls])
            tasks = [context.call_activity_with_retry(ActivityNames.RUN_TOOL, TOOL_RETRY,
                                                      RunToolInput(inp.conversation_id, inp.turn, n).to_json())
                     for n in numbers]
            # A tool whose activity failed even after retries gets an error output at submit time.
            with contextlib.suppress(Exception):
                yield context.task_all(tasks)
            status.set("submitting", runId=run_id, toolCount=len(numbers))
            submitted: StepResult = yield from _call_step(
                context, ActivityNames.SUBMIT_OUTPUTS,
                _submit_payload(inp, run_id, thread_id, numbers, remaining), status, deadline)
            result = submitted if submitted.run_id else _with_run(submitted, run_id, thread_id)
            window = FIRST_WATCH_SECONDS
            continue
        if result.status == "completed":
            outcome = "completed"
        else:
            failure = result.error or f"run ended with status {result.status}"
        break

    # 4. Checkpoint (also for failures: it releases the conversation to its next turn).
    checkpoint = CheckpointResult.from_json((yield context.call_activity_with_retry(
        ActivityNames.CHECKPOINT, CHECKPOINT_RETRY, CheckpointInput(
        conversation_id=inp.conversation_id, turn=inp.turn, message_id=inp.message_id,
        instance_id=context.instance_id, status=outcome, error=failure, started_at=_iso(started_at),
        run_created_at=_iso(run_created_at), finished_at=_iso(context.current_utc_datetime),
        polls=status.polls).to_json())))
    if outcome == "already_done":
        # Report what the turn's earlier run recorded; nothing ran again.
        status.set("completed", replayed=True)
        return {"conversationId": inp.conversation_id, "turn": inp.turn, "status": checkpoint.status,
                "answer": checkpoint.answer}
    if outcome != "completed":
        status.set("failed", reason=outcome, error=failure)
        raise TurnFailed(f"turn {inp.turn} of conversation {inp.conversation_id} {outcome}: {failure}")
    status.set("completed")
    return {"conversationId": inp.conversation_id, "turn": inp.turn, "status": "completed",
            "answer": checkpoint.answer}


bp.orchestration_trigger(context_name="context", orchestration=TURN_ORCHESTRATION)(turn_orchestration)
