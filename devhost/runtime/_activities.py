"""The activity dispatcher: work items -> activity invocations -> TaskCompleted/TaskFailed on the control queue.

Activities are at-least-once: a host that dies mid-activity leaves the work item in the queue, and it runs again
after its visibility timeout (the real extension behaves the same way). The orchestration side drops the duplicate
completion. Idempotency of side effects is the activity's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from devhost import engine
from devhost.logs import log_invocation
from devhost.model import QueueMessage
from devhost.storage import ReceivedMessage

from ._functions import ActivityOutcome
from ._polling import DispatchContext, poll_until_stopped

log = logging.getLogger("devhost.activities")


class ActivityDispatcher:
    def __init__(self, ctx: DispatchContext, deliver_control: Callable[[ReceivedMessage], None]) -> None:
        self._ctx = ctx
        self._storage = ctx.storage
        self._functions = ctx.functions
        self._options = ctx.options
        self._running: set[asyncio.Task[None]] = set()
        self._reserved = 0
        self._stopping = False
        # Where completions go in process: the orchestration dispatcher's accept().
        self._deliver_control = deliver_control

    def try_reserve(self, wanted: int) -> int:
        """Reserve up to ``wanted`` execution slots for work items the caller will send held and ``accept``."""
        granted = max(0, min(wanted, self._free_slots()))
        self._reserved += granted
        return granted

    def release(self, count: int) -> None:
        """Give back reserved slots that were not used (the held send failed)."""
        self._reserved = max(0, self._reserved - count)

    def accept(self, received: ReceivedMessage) -> None:
        """Run a work item this process sent held (it is already invisible to other receivers)."""
        self._reserved = max(0, self._reserved - 1)
        self._start(received)

    def _free_slots(self) -> int:
        return self._options.max_concurrent_activities - len(self._running) - self._reserved

    def _start(self, received: ReceivedMessage) -> None:
        task = asyncio.create_task(self._execute(received), name="activity")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def run(self) -> None:
        await poll_until_stopped(
            self._poll_once,
            self._ctx.work_wakeup,
            self._options.max_queue_polling_interval,
            lambda: self._stopping,
            log,
        )

    async def _poll_once(self) -> int:
        free = self._free_slots()
        if free <= 0:
            if self._running:
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(0.01)  # slots reserved for held work items about to arrive
            return 1  # a slot is (about to be) free: poll again without backing off
        batch = await self._storage.receive_work_items(
            max_messages=min(32, free), visibility_timeout=self._options.work_item_visibility_timeout
        )
        for received in batch:
            self._start(received)
        return len(batch)

    async def stop(self) -> None:
        self._stopping = True
        if self._running:
            # Unfinished work items stay in the queue and run again after the next start.
            await asyncio.wait(self._running, timeout=10)

    async def _execute(self, received: ReceivedMessage) -> None:
        message = received.message
        scheduled = message.event
        name = str(scheduled.get("Name", ""))
        renewer = asyncio.create_task(self._keep_invisible(received))
        started = time.perf_counter()
        try:
            outcome = await self._invoke(name, scheduled.get("Input"), message.instance_id)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        log_invocation(
            function=name,
            kind="activity",
            instance_id=message.instance_id,
            duration_ms=(time.perf_counter() - started) * 1000,
            outcome="succeeded" if outcome.succeeded else "failed",
            error=outcome.error,
        )
        if outcome.succeeded:
            result = engine.activity_completed(scheduled.event_id, outcome.result_json)
        else:
            result = engine.activity_failed(scheduled.event_id, name, outcome.error or "", outcome.details or "")
        try:
            completion = QueueMessage(message.instance_id, result, execution_id=message.execution_id)
            held = await self._storage.send_control(
                completion, hold_for=self._options.control_queue_visibility_timeout
            )
            assert held is not None
            self._deliver_control(held)
            await self._storage.delete_message(received)
        except Exception:
            log.exception("could not report activity %s of %s; it will run again", name, message.instance_id)

    async def _invoke(self, name: str, input_text: str | None, instance_id: str) -> ActivityOutcome:
        if not self._functions.has_activity(name):
            return ActivityOutcome(
                succeeded=False,
                error=f"The function '{name}' doesn't exist, is disabled, or is not an activity function.",
            )
        try:
            return await self._functions.invoke_activity(name, input_text, instance_id=instance_id)
        except Exception as exc:  # a host-side failure to invoke, reported like a user-code failure
            return ActivityOutcome(succeeded=False, error=f"{type(exc).__name__}: {exc}")

    async def _keep_invisible(self, received: ReceivedMessage) -> None:
        timeout = self._options.work_item_visibility_timeout
        while True:
            await asyncio.sleep(max(0.5, timeout / 2))
            try:
                await self._storage.renew_message(received, timeout)
            except Exception:
                log.debug("could not renew a running work item", exc_info=True)
