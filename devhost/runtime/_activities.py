"""The activity dispatcher: work items -> activity invocations -> TaskCompleted/TaskFailed for the orchestration.

Activities are at-least-once: a host that dies mid-activity leaves the work item in the queue, and it runs again
after its visibility timeout (the real extension behaves the same way). The orchestration side drops the duplicate
completion. Idempotency of side effects is the activity's job.

The completion goes to this process's orchestration dispatcher in process, carrying the work item's receipt: the
work item stays in the queue (kept invisible) until the episode that records the completion has committed, and
that episode deletes it. This saves the TaskCompleted control message (a send and a delete) of the real provider;
what a crash can cost is the same as there: the activity runs once more.
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
from devhost.storage import MessageLostError, ReceivedMessage

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
        # Work items whose completion was handed over and awaits its episode's commit, by queue message id.
        self._pending: dict[str, asyncio.Task[None]] = {}
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

    def abandon_pending(self) -> None:
        """Stop renewing completions whose episodes will not commit (shutdown): their work items come back."""
        for renewer in self._pending.values():
            renewer.cancel()
        self._pending.clear()

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
        completion = ReceivedMessage(
            message=QueueMessage(message.instance_id, result, execution_id=message.execution_id),
            queue_name=received.queue_name,
            queue_message_id=received.queue_message_id,
            pop_receipt=received.pop_receipt,
            dequeue_count=received.dequeue_count,
            inserted_on=received.inserted_on,
        )
        # Kept invisible until the episode deletes it (settled()); renewing updates completion.pop_receipt, which
        # is the receipt that episode deletes with.
        self._pending[received.queue_message_id] = asyncio.create_task(
            self._keep_invisible(completion), name="activity-completion"
        )
        self._deliver_control(completion)

    def settled(self, received: ReceivedMessage) -> None:
        """The episode that recorded this completion committed and deleted its work item: stop renewing it."""
        renewer = self._pending.pop(received.queue_message_id, None)
        if renewer is not None:
            renewer.cancel()

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
            except MessageLostError:
                return  # re-received elsewhere or deleted: nothing left to keep invisible
            except Exception:
                log.debug("could not renew a running work item", exc_info=True)
