"""Queue polling for the dispatchers: a wake-up signal (pokes and alarms), backoff, and the shared loop."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devhost.storage import TaskHubStorage

    from ._functions import DurableFunctions
    from ._options import RuntimeOptions


class Wakeup:
    """Lets a poller sleep until it is poked, an alarm is due, or its backoff runs out, whichever comes first."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self._poked = False
        self._alarms: list[float] = []  # monotonic times

    def poke(self) -> None:
        """New work was sent to the queue this poller reads: poll now."""
        self._poked = True
        self._changed.set()

    def alarm_in(self, seconds: float) -> None:
        """Poll ``seconds`` from now (a durable timer's message becomes visible then)."""
        heapq.heappush(self._alarms, time.monotonic() + max(0.0, seconds))
        self._changed.set()

    def _take_due(self, now: float) -> bool:
        due = False
        while self._alarms and self._alarms[0] <= now:
            heapq.heappop(self._alarms)
            due = True
        return due

    async def wait(self, backoff: float) -> bool:
        """Sleep up to ``backoff`` seconds; True when woken by a poke or a due alarm (then poll with no backoff)."""
        deadline = time.monotonic() + backoff
        while True:
            now = time.monotonic()
            if self._take_due(now) or self._poked:
                self._poked = False
                return True
            if now >= deadline:
                return False
            until = min(deadline, self._alarms[0]) if self._alarms else deadline
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=until - now)


class Backoff:
    """Idle polling interval: doubles from ``start`` up to ``cap``; any work resets it."""

    def __init__(self, start: float, cap: float) -> None:
        self._start = start
        self._cap = max(cap, start)
        self.current = start

    def reset(self) -> None:
        self.current = self._start

    def grow(self) -> None:
        self.current = min(self._cap, self.current * 2)


@dataclass(frozen=True)
class DispatchContext:
    """What both dispatchers work with."""

    storage: TaskHubStorage
    functions: DurableFunctions
    options: RuntimeOptions
    control_wakeup: Wakeup
    """Poked when the control queues have new work for the orchestration dispatcher."""
    work_wakeup: Wakeup
    """Poked when the work-item queue has new work for the activity dispatcher."""


async def poll_until_stopped(
    poll: Callable[[], Awaitable[int]],
    wakeup: Wakeup,
    max_interval: float,
    stopping: Callable[[], bool],
    log: logging.Logger,
) -> None:
    """Call ``poll`` (returns how much work it found) until ``stopping()``: again at once after work, otherwise
    after a backoff that doubles up to ``max_interval``, or as soon as ``wakeup`` is poked or an alarm is due."""
    backoff = Backoff(0.05, max_interval)
    while not stopping():
        try:
            found = await poll()
        except Exception:
            log.exception("queue poll failed; retrying")
            found = 0
            backoff.grow()
        if found:
            backoff.reset()
            continue
        if await wakeup.wait(backoff.current):
            backoff.reset()
        else:
            backoff.grow()
