"""The orchestration dispatcher: control-queue messages -> one episode per instance -> durable commit.

Commit order per episode (as DurableTask.AzureStorage, spec §6.5): outbound messages first, then the History
batch with its sentinel (optimistic concurrency), then the Instances row, and only then the processed control
messages are deleted. A crash anywhere re-delivers the inputs; the engine drops what history already holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from devhost import engine
from devhost.logs import log_invocation
from devhost.model import (
    EventType,
    HistoryEvent,
    InstanceRecord,
    QueueMessage,
    RuntimeStatus,
    new_execution_id,
    utcnow,
)
from devhost.storage import HistoryConflictError, HistorySnapshot, ReceivedMessage

from ._activities import ActivityDispatcher
from ._polling import DispatchContext, poll_until_stopped

log = logging.getLogger("devhost.orchestrations")


@dataclass
class _RowWrite:
    """An Instances row write waiting for the previous one of its instance, with the messages it settles."""

    written: InstanceRecord
    blobs: dict[str, str]
    batch: list[ReceivedMessage]
    epoch: int

    def absorb(self, written: InstanceRecord, blobs: dict[str, str], batch: list[ReceivedMessage]) -> None:
        """Fold a later episode's write into this one: its members win where it sets them (with their blobs)."""
        for column, member in (("Input", "input"), ("Output", "output")):
            if getattr(written, member) is not None:
                self.blobs.pop(column, None)
                if column in blobs:
                    self.blobs[column] = blobs[column]
        self.written = _merged(self.written, written)
        self.batch.extend(batch)


@dataclass
class _Session:
    """Messages waiting for one instance, and the task draining them (one episode at a time per instance)."""

    pending: dict[str, ReceivedMessage] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


class OrchestrationDispatcher:
    def __init__(self, ctx: DispatchContext) -> None:
        self._ctx = ctx
        self._storage = ctx.storage
        self._functions = ctx.functions
        self._options = ctx.options
        self._sessions: dict[str, _Session] = {}
        self._slots = asyncio.Semaphore(ctx.options.max_concurrent_orchestrations)
        # Episodes (replay + the sync orchestrator function) get threads of their own, as the host's dispatcher
        # and the worker's sync pool are not the app's: the loop's default executor is the app's (asyncio.to_thread
        # of its activities and HTTP functions), and waiting behind its work stalled every orchestration under load.
        self._episode_threads = ThreadPoolExecutor(
            max_workers=ctx.options.max_concurrent_orchestrations, thread_name_prefix="devhost-orchestrator"
        )
        # Like extended sessions: the history of recently active instances stays in memory. One devhost owns the
        # hub, so the cache is only invalidated by our own writes (or a conflict, which drops the entry).
        self._history_cache: dict[str, HistorySnapshot] = {}
        self._instance_cache: dict[str, InstanceRecord] = {}
        # Instances rows of running instances as this process last wrote them (after the write succeeded):
        # status queries read these instead of the table. ``_epochs`` guards against a commit that finishes
        # after the instance was forgotten (purged, restarted) putting an outdated row back.
        self._published: dict[str, InstanceRecord] = {}
        self._epochs: dict[str, int] = {}
        self._commit_tails: dict[str, asyncio.Task[None]] = {}
        self._row_writes: dict[str, _RowWrite] = {}  # per instance: the Instances write not yet started
        self._timers: set[asyncio.TimerHandle] = set()  # held durable-timer messages waiting for their time
        self._stopping = False
        # This process's activity dispatcher: held work items go to it, its completions come back to accept().
        self.activities = ActivityDispatcher(ctx, deliver_control=self.accept)

    # -- polling -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        await poll_until_stopped(
            self._poll_once,
            self._ctx.control_wakeup,
            self._options.max_queue_polling_interval,
            lambda: self._stopping,
            log,
        )

    async def _poll_once(self) -> int:
        batches = await asyncio.gather(
            *(
                self._storage.receive_control(
                    partition,
                    max_messages=self._options.control_queue_batch_size,
                    visibility_timeout=self._options.control_queue_visibility_timeout,
                )
                for partition in range(self._options.partition_count)
            )
        )
        count = 0
        for batch in batches:
            for received in batch:
                self._enqueue(received)
                count += 1
        return count

    def accept(self, received: ReceivedMessage) -> None:
        """Take a control message this process sent held (already invisible to other receivers)."""
        self._enqueue(received)

    def _enqueue(self, received: ReceivedMessage) -> None:
        instance_id = received.message.instance_id
        session = self._sessions.setdefault(instance_id, _Session())
        # Keyed by our message id: a re-delivered copy replaces the stale receipt instead of doubling up.
        session.pending[received.message.message_id] = received
        if session.task is None:
            session.task = asyncio.create_task(self._drain(instance_id, session), name=f"orchestration:{instance_id}")

    async def _drain(self, instance_id: str, session: _Session) -> None:
        try:
            while session.pending and not self._stopping:
                batch = list(session.pending.values())
                session.pending.clear()
                async with self._slots:
                    try:
                        await self._episode(instance_id, batch)
                    except Exception:
                        # Messages stay in the queue and come back after their visibility timeout.
                        self.forget(instance_id)
                        self._release(batch)
                        log.exception("episode for %s failed; its messages will be retried", instance_id)
        finally:
            session.task = None
            if not session.pending:
                self._sessions.pop(instance_id, None)

    def forget(self, instance_id: str | None = None) -> None:
        """Drop cached state of one instance (or all): after a purge, a conflict or a failed episode."""
        if instance_id is None:
            self._history_cache.clear()
            self._instance_cache.clear()
            self._published.clear()
            for known in self._epochs:
                self._epochs[known] += 1
        else:
            self._history_cache.pop(instance_id, None)
            self._instance_cache.pop(instance_id, None)
            self._published.pop(instance_id, None)
            self._epochs[instance_id] = self._epochs.get(instance_id, 0) + 1

    def publish_start(self, record: InstanceRecord) -> None:
        """The row ``start_new`` just wrote (a whole new row): the base the episodes' merges apply to."""
        self._published[record.instance_id] = record

    def published(self, instance_id: str) -> InstanceRecord | None:
        """The Instances row of a running instance as this process last wrote it, or None (read the table).
        One devhost owns the task hub, so while an instance runs nobody else writes its row."""
        return self._published.get(instance_id)

    async def stop(self) -> None:
        self._stopping = True
        for handle in self._timers:
            handle.cancel()  # their messages stay in the queue and fire after the next start
        self._timers.clear()
        tasks = [s.task for s in self._sessions.values() if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        tails = [t for t in self._commit_tails.values() if not t.done()]
        if tails:
            await asyncio.wait(tails, timeout=10)
        self.activities.abandon_pending()
        self._episode_threads.shutdown(wait=False, cancel_futures=True)

    def _finish_commit(
        self,
        instance_id: str,
        record: InstanceRecord,
        written: InstanceRecord,
        blobs: dict[str, str],
        batch: list[ReceivedMessage],
    ) -> None:
        """The rest of a commit, off the episode's critical path: merge ``written`` into the Instances row (the
        row then reads as ``record``), then delete the processed messages. Per instance these run in order; a
        crash before the delete re-delivers the messages, whose (duplicate) episode rewrites the row, so the row
        always catches up with the durable History.

        While one row write of an instance is in flight, the commits of its following episodes are merged into
        one next write (what a row reads after two merges equals one merge of their union): under load an
        instance gets one Instances write per round trip to the table, not one per episode."""
        self._instance_cache[instance_id] = record
        epoch = self._epochs.get(instance_id, 0)
        waiting = self._row_writes.get(instance_id)
        if waiting is not None and waiting.epoch == epoch:
            waiting.absorb(written, blobs, batch)
            return
        write = _RowWrite(written, dict(blobs), list(batch), epoch)
        self._row_writes[instance_id] = write
        previous = self._commit_tails.get(instance_id)

        async def finish() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            if self._row_writes.get(instance_id) is write:
                del self._row_writes[instance_id]  # from here on, commits start the next write
            try:
                await self._storage.update_instance(write.written, blobs=write.blobs)
            except Exception:
                log.exception("could not update the Instances row of %s; its messages will be retried", instance_id)
                self.forget(instance_id)
                self._release(write.batch)
                return
            base = self._published.pop(instance_id, None)
            status = write.written.runtime_status
            if base is not None and self._epochs.get(instance_id, 0) == write.epoch and not status.is_terminal:
                # A merge: members the write left out (None) keep what the row had.
                self._published[instance_id] = _merged(base, write.written)
            await self._delete(write.batch)

        def drop_when_last(task: asyncio.Task[None]) -> None:
            if self._commit_tails.get(instance_id) is task:
                del self._commit_tails[instance_id]

        tail = asyncio.create_task(finish(), name=f"commit:{instance_id}")
        self._commit_tails[instance_id] = tail
        tail.add_done_callback(drop_when_last)

    # -- one episode -------------------------------------------------------------------------------------------

    async def _episode(self, instance_id: str, batch: list[ReceivedMessage]) -> None:
        snapshot = self._history_cache.get(instance_id) or await self._storage.load_history(instance_id)
        current = self._instance_cache.get(instance_id) or await self._storage.get_instance(instance_id)
        history = list(snapshot.events)
        execution_id = snapshot.execution_id

        starts = [r for r in batch if r.message.event.event_type is EventType.ExecutionStarted]
        # A start for another execution id begins a new execution only once the stored one has finished (an id
        # reused after completion; the client's dedupe rule rejects starts while it runs). The Instances row cannot
        # tell: start_new already replaced it with the new Pending execution.
        fresh_start = bool(starts) and (
            not history
            or (
                starts[-1].message.execution_id not in (None, execution_id)
                and any(e.event_type is EventType.ExecutionCompleted for e in history)
            )
        )
        if fresh_start:
            # A new instance, or a terminal instance id started again: a new execution from an empty history.
            execution_id = starts[-1].message.execution_id or new_execution_id()
            history = []
        if not history and not fresh_start:
            log.info("dropping %d message(s) for unknown instance %s", len(batch), instance_id)
            await self._delete(batch)
            return

        usable: list[ReceivedMessage] = []
        stale: list[ReceivedMessage] = []
        for received in batch:
            target = received.message.execution_id
            if target is None or target == execution_id:
                usable.append(received)
            else:
                stale.append(received)
        if stale:
            log.info("dropping %d message(s) for old executions of %s", len(stale), instance_id)
        events: list[HistoryEvent] = []
        for received in usable:
            event = received.message.event
            event.message_id = received.message.message_id
            events.append(event)

        started = time.perf_counter()
        outcome = await asyncio.get_running_loop().run_in_executor(self._episode_threads, functools.partial(
            engine.run_episode,
            instance=engine.EpisodeInput(
                instance_id=instance_id,
                execution_id=execution_id,
                history=history,
                custom_status=current.custom_status if current and not fresh_start else None,
                suspended=not fresh_start
                and current is not None
                and current.runtime_status is RuntimeStatus.Suspended,
            ),
            messages=events,
            now=utcnow(),
            invoke=self._invoker(instance_id),
            function_exists=self._function_exists,
            new_execution_id=new_execution_id,
        ))
        if outcome.failure or outcome.nondeterminism:
            log.warning("orchestration %s: %s", instance_id, outcome.nondeterminism or outcome.failure)
        for warning in outcome.warnings:
            log.warning("orchestration %s: %s", instance_id, warning)
        if not outcome.changed:
            # Every message was a duplicate or addressed a finished instance. The History is already durable; the
            # Instances row is rewritten from it in case a crash came between the two writes.
            record = self._instance_record(instance_id, outcome, current)
            self._finish_commit(instance_id, record, record, _instance_blobs(outcome, snapshot.blob_names), batch)
            return

        ran = time.perf_counter()
        await self._send_outbound(instance_id, outcome)
        sent = time.perf_counter()
        new_rows = outcome.history[outcome.first_new_index :]
        try:
            checkpoint = await self._storage.checkpoint_history(
                instance_id, outcome.execution_id, new_rows, outcome.first_new_index, snapshot.etag
            )
        except HistoryConflictError:
            self.forget(instance_id)
            raise
        # A new execution (first_new_index 0) rewrote the rows from 0: the old execution's blobs no longer apply.
        blob_names = {} if outcome.first_new_index == 0 else dict(snapshot.blob_names)
        blob_names.update(checkpoint.blob_names)
        self._history_cache[instance_id] = HistorySnapshot(
            execution_id=outcome.execution_id, events=list(outcome.history), etag=checkpoint.etag,
            blob_names=blob_names,
        )
        record = self._instance_record(instance_id, outcome, current)
        # Like DTFx, an episode writes Input only when it records ExecutionStarted; a merge keeps it otherwise.
        written = record if _records_start(outcome) else dataclasses.replace(record, input=None)
        self._finish_commit(instance_id, record, written, _instance_blobs(outcome, blob_names), batch)
        done = time.perf_counter()
        log.debug(
            "episode %s: %d message(s), %d new event(s), status %s; engine %.1f ms, send %.1f ms, history %.1f ms",
            instance_id,
            len(batch),
            len(new_rows),
            outcome.runtime_status,
            (ran - started) * 1000,
            (sent - ran) * 1000,
            (done - sent) * 1000,
        )
        if outcome.runtime_status.is_terminal:
            self.forget(instance_id)

    def _invoker(self, instance_id: str) -> engine.Invoker:
        def invoke(name: str, context_json: str) -> engine.InvocationResult:
            started = time.perf_counter()
            raw = self._functions.invoke_orchestrator(name, context_json)
            result = engine.parse_invocation(raw)
            error = result.error or (result.state or {}).get("error")
            log_invocation(
                function=name,
                kind="orchestrator",
                instance_id=instance_id,
                duration_ms=(time.perf_counter() - started) * 1000,
                outcome="failed" if error else "succeeded",
                error=str(error) if error else None,
            )
            return result

        return invoke

    def _function_exists(self, kind: str, name: str) -> bool:
        if kind == "activity":
            return self._functions.has_activity(name)
        return self._functions.has_orchestrator(name)

    async def _send_outbound(self, instance_id: str, outcome: engine.EpisodeOutcome) -> None:
        """Send the episode's messages. Those this process will handle itself are sent held and handed over
        directly, so the next step does not wait for a queue poll; timers go through the queue's delay."""
        execution_id = outcome.execution_id
        hold_control = self._options.control_queue_visibility_timeout
        work_items = [
            QueueMessage(
                instance_id,
                HistoryEvent(
                    EventType.TaskScheduled,
                    event_id=work.task_id,
                    fields={"Name": work.name, "Version": "", "Input": work.input_text},
                ),
                execution_id=execution_id,
            )
            for work in outcome.activities
        ]
        reserved = self.activities.try_reserve(len(work_items))
        held_work = work_items[:reserved]
        queued_work = work_items[reserved:]
        control = [
            QueueMessage(instance_id, engine.timer_fired(t.timer_id, t.fire_at), execution_id=execution_id)
            for t in outcome.timers
        ]
        local: list[QueueMessage] = []
        for child in outcome.sub_orchestrations:
            child_execution = new_execution_id()
            start = engine.execution_started(
                name=child.name,
                instance_id=child.instance_id,
                execution_id=child_execution,
                input_text=child.input_text,
                parent=engine.parent_instance(
                    name=outcome.name,
                    instance_id=instance_id,
                    execution_id=execution_id,
                    task_scheduled_id=child.task_id,
                ),
            )
            local.append(QueueMessage(child.instance_id, start, execution_id=child_execution))
        if outcome.parent_notification is not None:
            note = outcome.parent_notification
            local.append(QueueMessage(note.instance_id, note.event, execution_id=note.execution_id))

        hold_work = self._options.work_item_visibility_timeout
        try:
            held = await asyncio.gather(
                *(self._storage.send_work_item(m, hold_for=hold_work) for m in held_work),
                *(self._storage.send_work_item(m) for m in queued_work),
                # Timers are held as well: invisible until they fire, and fired in process at their time.
                *(
                    self._storage.send_control(m, visible_at=t.fire_at, hold_for=0.0)
                    for m, t in zip(control, outcome.timers, strict=True)
                ),
                *(self._storage.send_control(m, hold_for=hold_control) for m in local),
            )
        except BaseException:
            self.activities.release(reserved)
            raise
        for received in held[: len(held_work)]:
            assert received is not None
            self.activities.accept(received)
        fired = held[len(work_items) : len(work_items) + len(control)]
        for received in held[len(held) - len(local) :] if local else []:
            assert received is not None
            self._enqueue(received)
        if queued_work:
            self._ctx.work_wakeup.poke()
        now = utcnow()
        for timer, received in zip(outcome.timers, fired, strict=True):
            assert received is not None
            self._fire_later(received, _seconds_until(timer.fire_at, now))

    def _fire_later(self, received: ReceivedMessage, delay: float) -> None:
        """Hand a held timer message to its instance when the timer is due. The queue keeps it invisible until
        then (rounded up to whole seconds), so it is only delivered by a poll if this process died meanwhile."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            if not self._stopping:
                self._enqueue(received)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def _instance_record(
        self, instance_id: str, outcome: engine.EpisodeOutcome, current: InstanceRecord | None
    ) -> InstanceRecord:
        started = next(e for e in outcome.history if e.event_type is EventType.ExecutionStarted)
        same_execution = current is not None and current.execution_id == outcome.execution_id
        return InstanceRecord(
            instance_id=instance_id,
            name=str(started.get("Name", "")),
            runtime_status=outcome.runtime_status,
            execution_id=outcome.execution_id,
            created_time=started.timestamp,
            last_updated_time=outcome.history[-1].timestamp,
            input=started.get("Input"),
            output=outcome.output,
            custom_status=outcome.custom_status,
            completed_time=outcome.completed_time,
            generation=current.generation if current is not None and same_execution else started.get("Generation", 0),
            task_hub_name=self._storage.hub_name,
        )

    def _release(self, batch: list[ReceivedMessage]) -> None:
        """Let unprocessed work items of handed-over completions become visible again (their activities rerun)."""
        for received in batch:
            self.activities.settled(received)

    async def _delete(self, batch: list[ReceivedMessage]) -> None:
        """Delete the processed messages: control messages, and the work items of completions handed over in
        process (their activity dispatcher stops keeping them invisible)."""
        results = await asyncio.gather(*(self._storage.delete_message(r) for r in batch), return_exceptions=True)
        for received, result in zip(batch, results, strict=True):
            self.activities.settled(received)
            if isinstance(result, BaseException):
                # Its visibility expired and it was re-delivered: the copy is dropped as a duplicate later.
                log.debug("could not delete a processed message: %s", result)


def _merged(row: InstanceRecord, update: InstanceRecord) -> InstanceRecord:
    """``row`` after an insert-or-merge of ``update`` (None members are not written)."""
    changes = {
        member.name: getattr(update, member.name)
        for member in dataclasses.fields(update)
        if getattr(update, member.name) is not None
    }
    return dataclasses.replace(row, **changes)


def _records_start(outcome: engine.EpisodeOutcome) -> bool:
    return any(e.event_type is EventType.ExecutionStarted for e in outcome.history[outcome.first_new_index :])


def _instance_blobs(outcome: engine.EpisodeOutcome, blob_names: dict[tuple[int, str], str]) -> dict[str, str]:
    """The history blobs the Instances row's large Input/Output point at (DTFx: the ExecutionStarted Input blob,
    and the blob of the event whose value became the Output: ExecutionCompleted's Result, a suspension's Reason)."""
    blobs: dict[str, str] = {}
    if not blob_names:
        return blobs
    for index, event in enumerate(outcome.history):
        if event.event_type is EventType.ExecutionStarted and (index, "Input") in blob_names:
            blobs["Input"] = blob_names[(index, "Input")]
            break
    if outcome.output is not None:
        for index in range(len(outcome.history) - 1, -1, -1):
            event = outcome.history[index]
            source = next(
                (
                    blob_names[(index, name)]
                    for name in ("Result", "Reason", "Input")
                    if (index, name) in blob_names and event.get(name) == outcome.output
                ),
                None,
            )
            if source is not None:
                blobs["Output"] = source
                break
    return blobs


def _seconds_until(moment: datetime, now: datetime) -> float:
    return max(0.0, (moment - now).total_seconds())
