"""What every part of the turn orchestration shares while the orchestrator function runs (rebuilt on every
replay): the turn's input and clock, customStatus, the cancel request, durable sleeps and provider steps with
their retries on durable timers."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from durable_assistant.contracts import CANCEL_EVENT, CancelRequest, StepResult, TurnInput, TurnOutcome

MAX_STEP_ATTEMPTS = 8
MAX_STEP_DELAY = 30.0
STATUS_TEXT_CHARS = 300
STATUS_LIST_ITEMS = 20
STATUS_MAX_CHARS = 4000
"""customStatus stays far below the host's 16 KB limit whatever a provider or a model returns."""

Step = Generator[Any, Any, Any]
Ended = tuple[TurnOutcome, str | None]
"""How the turn ends early (cancelled, failed) and why."""


class TurnFailed(Exception):
    """Ends the orchestration as Failed with a readable reason (after the turn was checkpointed)."""


def bounded(value: Any) -> Any:
    """``value`` with long texts cut and long lists shortened, for customStatus."""
    if isinstance(value, str):
        return value if len(value) <= STATUS_TEXT_CHARS else value[:STATUS_TEXT_CHARS] + "..."
    if isinstance(value, list | tuple):
        items = [bounded(v) for v in value[:STATUS_LIST_ITEMS]]
        return items + [f"... {len(value) - STATUS_LIST_ITEMS} more"] if len(value) > STATUS_LIST_ITEMS else items
    if isinstance(value, dict):
        return {str(k)[:64]: bounded(v) for k, v in list(value.items())[:STATUS_LIST_ITEMS]}
    return value


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class Status:
    """customStatus writer: always a dict with ``phase`` (and the turn's reads so far) so polls show progress."""

    def __init__(self, context: df.DurableOrchestrationContext, inp: TurnInput) -> None:
        self._context = context
        self._base = {"conversationId": inp.conversation_id, "turn": inp.turn}
        self.reads = inp.resume.reads if inp.resume else 0

    def set(self, phase: str, **extra: Any) -> None:
        status = {"phase": phase, **self._base, "reads": self.reads, **bounded(extra)}
        if len(json.dumps(status)) > STATUS_MAX_CHARS:
            status = {"phase": phase, **self._base, "reads": self.reads, "detailsTruncated": True}
        self._context.set_custom_status(status)


class TurnState:
    """The turn's input, clock, status and cancel request, with the primitives every phase waits with."""

    def __init__(self, context: df.DurableOrchestrationContext, inp: TurnInput) -> None:
        self.context, self.inp = context, inp
        self.status = Status(context, inp)
        self.reads_here = 0
        resume = inp.resume
        self.started_at = datetime.fromisoformat(resume.started_at) if resume else self.now
        self.run_created_at = datetime.fromisoformat(resume.run_created_at) if resume else self.now
        self.paused_seconds = resume.paused_seconds if resume else 0.0
        """Time spent waiting for a person (approvals): it does not count against the deadline."""
        self._cancel_waits: list[Any] = []

    @property
    def now(self) -> datetime:
        now: datetime = self.context.current_utc_datetime
        return now

    @property
    def deadline(self) -> datetime:
        return self.run_created_at + timedelta(seconds=self.inp.deadline_seconds + self.paused_seconds)

    def remaining(self) -> float:
        return max(0.0, (self.deadline - self.now).total_seconds())

    def cancel_request(self) -> CancelRequest | None:
        """The cancel request, once CANCEL_EVENT has reached one of the turn's waits (a deterministic point in
        history: the event went to the newest open wait, as both the SDK and the host's shim deliver it)."""
        done = next((t for t in self._cancel_waits if t.is_completed), None)
        if done is None:
            return None
        payload = done.result
        if isinstance(payload, str):  # the SDK's client sends event data JSON-encoded twice
            with contextlib.suppress(ValueError):
                payload = json.loads(payload)
        return CancelRequest.from_json(payload) if isinstance(payload, dict) else CancelRequest()

    def cancelled(self) -> Ended:
        request = self.cancel_request() or CancelRequest()
        reason = f": {request.reason}" if request.reason else ""
        return "cancelled", f"cancelled by {request.by or 'a caller'}{reason}"

    def race(self, *tasks: Any) -> Step:
        """Wait for the first of ``tasks`` or a cancel request; returns the winner.

        Every task passed must be new (never yielded before). The host's out-of-process shim replays the SDK's
        actions one after another and completes a WhenAny only through the children listed in its action; a
        task scheduled by an earlier action is left out of later ones, so it could complete the SDK's WhenAny
        while the shim still waits, and every later action would stall behind it."""
        cancel = self.context.wait_for_external_event(CANCEL_EVENT)
        self._cancel_waits.append(cancel)
        winner = yield self.context.task_any([*tasks, cancel])
        return winner

    def sleep(self, seconds: float) -> Step:
        """A durable timer that a cancel request ends early."""
        if self.cancel_request() is not None:
            return
        timer = self.context.create_timer(self.now + timedelta(seconds=seconds))
        winner = yield from self.race(timer)
        if winner is not timer:
            timer.cancel()

    def step(self, name: str, payload: Any, *, use_deadline: bool = True, cancellable: bool = True) -> Step:
        """Call a provider step; on a transient error wait ``retry_after`` (or 1, 2, 4 ... 30 s) on a durable
        timer and call it again. Returns the StepResult ("error" when retries ran out or the error is final).
        A cancellable step stops retrying once the turn is cancelled (the step itself always finishes: it may
        have created a run that must then be cancelled)."""
        attempt = 0
        while True:
            task = self.context.call_activity(name, payload.to_json())
            if cancellable and self.cancel_request() is None:
                yield from self.race(task)  # a cancel request does not stop the step: it may be creating a run
            try:
                result = StepResult.from_json((yield task))
            except Exception as exc:  # the host failed the activity (steps report their own errors as values)
                result = StepResult(status="error", error=f"{name} failed: {first_line(exc)}", transient=True)
            self.status.reads += result.reads
            self.reads_here += result.reads
            if result.status != "error" or not result.transient or attempt >= MAX_STEP_ATTEMPTS:
                return result
            if cancellable and self.cancel_request() is not None:
                return result
            attempt += 1
            delay = result.retry_after if result.retry_after is not None else min(2.0 ** (attempt - 1),
                                                                                  MAX_STEP_DELAY)
            if use_deadline and delay >= self.remaining():
                return result
            self.status.set("retrying", step=name, attempt=attempt, retryAfter=delay, error=result.error)
            yield from self.sleep(delay) if cancellable else self.plain_sleep(delay)

    def plain_sleep(self, seconds: float) -> Step:
        yield self.context.create_timer(self.now + timedelta(seconds=seconds))
