"""A wake-up signal for a polling loop: pokes from in-process senders plus alarms at known future times."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time


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
