"""Timer and queue triggers: background tasks on the host's event loop that invoke their functions."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient
from croniter import croniter

from devhost.config import ConfigError, QueueOptions, parse_timespan, resolve_app_settings
from devhost.storage import http_settings_in_environment

from ._index import FunctionInfo, FunctionKind
from ._invoke import FunctionInvoker, QueueDelivery

log = logging.getLogger("devhost.triggers")

MAX_DEQUEUE_COUNT = QueueOptions().max_dequeue_count  # host.json extensions.queues.maxDequeueCount default
QUEUE_VISIBILITY_TIMEOUT = 600  # seconds a message stays invisible while its function runs
_TIMESPAN_SCHEDULE = re.compile(r"^(\d+\.)?\d{1,2}:\d{1,2}:\d{1,2}$")


class TriggerConfigError(ValueError):
    """A timer schedule or queue binding devhost cannot honour."""


def _resolve(text: str, function_name: str) -> str:
    """Binding values may name app settings as ``%Name%`` (the WebJobs name resolver)."""
    try:
        return resolve_app_settings(text, os.environ)
    except ConfigError as exc:
        raise TriggerConfigError(f"function '{function_name}': {exc}") from None


class Schedule:
    """A timer schedule: 6-field NCRONTAB (``sec min hour day month dow``) or a TimeSpan interval."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self._interval: timedelta | None = None
        if _TIMESPAN_SCHEDULE.match(self.expression):
            self._interval = timedelta(seconds=parse_timespan(self.expression))
            if self._interval <= timedelta(0):
                raise TriggerConfigError(f"timer schedule {expression!r}: the interval must be positive")
            return
        fields = self.expression.split()
        if len(fields) != 6:
            raise TriggerConfigError(
                f"timer schedule {expression!r} is not a 6-field NCRONTAB expression "
                "('{second} {minute} {hour} {day} {month} {day-of-week}') or a TimeSpan like 00:05:00"
            )
        if not croniter.is_valid(self.expression, second_at_beginning=True):
            raise TriggerConfigError(f"timer schedule {expression!r} is not a valid NCRONTAB expression")

    def next_after(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment + self._interval
        nxt: datetime = croniter(self.expression, moment, second_at_beginning=True).get_next(datetime)
        return nxt


class TimerTrigger:
    def __init__(self, invoker: FunctionInvoker, info: FunctionInfo, *, now: Callable[[], datetime] | None = None):
        assert info.timer is not None
        self._invoker = invoker
        self._info = info
        self._schedule = Schedule(_resolve(info.timer.schedule, info.name))
        self._now = now or (lambda: datetime.now(UTC))

    async def run(self) -> None:
        timer = self._info.timer
        assert timer is not None
        last: datetime | None = None
        if timer.run_on_startup:
            last = self._now()
            await self._fire(past_due=False, last=None, next_=self._schedule.next_after(last))
        while True:
            due = self._schedule.next_after(self._now())
            await asyncio.sleep(max(0.0, (due - self._now()).total_seconds()))
            # A fire more than a second late counts as past due (the host's IsPastDue is about missed runs).
            past_due = (self._now() - due).total_seconds() > 1.0
            await self._fire(past_due=past_due, last=last, next_=self._schedule.next_after(due))
            last = due

    async def _fire(self, *, past_due: bool, last: datetime | None, next_: datetime) -> None:
        try:
            await self._invoker.call_timer(self._info, past_due=past_due, last=last, next_=next_)
        except Exception:
            log.exception("timer function %s failed", self._info.name)


def decode_queue_body(text: str) -> str:
    """Functions' queue trigger expects Base64 messages (``messageEncoding`` default); plain text passes as is."""
    try:
        raw = base64.b64decode(text, validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return text


class QueueTrigger:
    """Polls one queue; runs the function per message; after ``maxDequeueCount`` failed attempts the message
    moves to ``<queue>-poison`` (what the real host does). host.json ``extensions.queues`` applies."""

    def __init__(
        self,
        invoker: FunctionInvoker,
        info: FunctionInfo,
        connection_string: str,
        *,
        max_polling_interval: float = 5.0,
        batch_size: int = 16,
        options: QueueOptions | None = None,
    ) -> None:
        assert info.queue is not None
        self._invoker = invoker
        self._info = info
        self._connection_string = connection_string
        self._options = options or QueueOptions(max_polling_interval=max_polling_interval, batch_size=batch_size)
        self._max_interval = self._options.max_polling_interval
        self._batch_size = self._options.batch_size
        self.queue_name = _resolve(info.queue.queue_name, info.name).lower()

    async def run(self) -> None:
        async with QueueClient.from_connection_string(
            self._connection_string, self.queue_name, use_env_settings=http_settings_in_environment()
        ) as client:
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()
            delay = 0.1
            while True:
                try:
                    handled = await self._poll(client)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("polling queue %s failed; retrying", self.queue_name)
                    handled = 0
                if handled:
                    delay = 0.1
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_interval)

    async def _poll(self, client: QueueClient) -> int:
        messages = [message async for message in client.receive_messages(
            messages_per_page=self._batch_size, visibility_timeout=QUEUE_VISIBILITY_TIMEOUT, max_messages=self._batch_size
        )]
        # The host runs the messages of a batch concurrently (batchSize), not one after another.
        await asyncio.gather(*(self._handle(client, message) for message in messages))
        return len(messages)

    async def _handle(self, client: QueueClient, message: QueueMessage) -> None:
        delivery = QueueDelivery(
            id=message.id,
            body=(str(message.content) if self._options.message_encoding == "none"
                  else decode_queue_body(str(message.content))),
            dequeue_count=int(message.dequeue_count or 1),
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            next_visible_time=message.next_visible_on,
            pop_receipt=str(message.pop_receipt),
        )
        try:
            await self._invoker.call_queue(self._info, delivery)
        except Exception:
            if delivery.dequeue_count >= self._options.max_dequeue_count:
                await self._poison(client, message, delivery)
            else:
                # The host makes a failed message visible again after visibilityTimeout (default 0).
                await client.update_message(message, visibility_timeout=int(self._options.visibility_timeout))
            return
        await client.delete_message(message)

    async def _poison(self, client: QueueClient, message: QueueMessage, delivery: QueueDelivery) -> None:
        poison_name = f"{self.queue_name}-poison"
        log.warning("message %s failed %d times; moving it to %s", delivery.id, delivery.dequeue_count, poison_name)
        async with QueueClient.from_connection_string(
            self._connection_string, poison_name, use_env_settings=http_settings_in_environment()
        ) as poison:
            with contextlib.suppress(ResourceExistsError):
                await poison.create_queue()
            await poison.send_message(message.content)
        await client.delete_message(message)


class TriggerHost:
    """Starts every timer and queue trigger of the app as tasks; ``stop()`` cancels them."""

    def __init__(
        self,
        invoker: FunctionInvoker,
        *,
        resolve_connection: Callable[[str], str | None],
        max_polling_interval: float = 5.0,
        queue_options: QueueOptions | None = None,
    ) -> None:
        self._invoker = invoker
        self._resolve = resolve_connection
        self._max_polling_interval = max_polling_interval
        self._queue_options = queue_options
        self._tasks: list[asyncio.Task[None]] = []
        self.runners: list[TimerTrigger | QueueTrigger] = []
        for info in invoker.index:
            if info.kind is FunctionKind.TIMER:
                self.runners.append(TimerTrigger(invoker, info))
            elif info.kind is FunctionKind.QUEUE:
                assert info.queue is not None
                connection = self._resolve(info.queue.connection)
                if not connection:
                    raise TriggerConfigError(
                        f"queue trigger '{info.name}': app setting '{info.queue.connection}' (its connection) "
                        "is not defined"
                    )
                self.runners.append(QueueTrigger(invoker, info, connection, max_polling_interval=max_polling_interval,
                                                 options=queue_options))

    def start(self) -> None:
        for runner in self.runners:
            self._tasks.append(asyncio.create_task(runner.run(), name=f"trigger:{type(runner).__name__}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
