"""A tiny synchronous future/coroutine runtime for the shadow replay.

DTFx runs orchestrations on a synchronous task scheduler: when a task completes, its continuations run inline,
depth-first, before the next history event is processed. These futures do the same: ``resolve`` runs every
continuation immediately, in registration order. That inline ordering is what makes sequence ids come out in the
same order as DTFx and the Python SDK.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator


class FutureState(enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Future:
    """The outcome of one scheduled piece of work (only done-ness and success matter to the host)."""

    __slots__ = ("_callbacks", "state")

    def __init__(self) -> None:
        self.state = FutureState.PENDING
        self._callbacks: list[Callable[[], None]] = []

    @property
    def done(self) -> bool:
        return self.state is not FutureState.PENDING

    @property
    def succeeded(self) -> bool:
        return self.state is FutureState.SUCCEEDED

    def resolve(self, *, success: bool) -> bool:
        """Complete the future; returns False (and does nothing) if it was already complete."""
        if self.done:
            return False
        self.state = FutureState.SUCCEEDED if success else FutureState.FAILED
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()
        return True

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        if self.done:
            callback()
        else:
            self._callbacks.append(callback)


def completed_future(*, success: bool) -> Future:
    future = Future()
    future.resolve(success=success)
    return future


# A coroutine yields the futures it waits for; its return value says whether it succeeded.
Coroutine = Generator[Future, None, bool]


def spawn(coroutine: Coroutine) -> Future:
    """Start a coroutine now and run it until it waits on a pending future; returns its completion future."""
    result = Future()

    def step() -> None:
        while True:
            try:
                awaited = next(coroutine)
            except StopIteration as stop:
                result.resolve(success=bool(stop.value))
                return
            if not awaited.done:
                awaited.add_done_callback(step)
                return
            # Already complete: continue synchronously, like awaiting a completed .NET task.

    step()
    return result


def when_all(children: list[Future]) -> Future:
    """Like ``Task.WhenAll``: completes when every child completed; failed if any child failed."""
    result = Future()
    remaining = [len(children)]

    def child_done() -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            result.resolve(success=all(child.succeeded for child in children))

    if not children:
        result.resolve(success=True)
    for child in children:
        child.add_done_callback(child_done)
    return result


def when_all_fail_fast(children: list[Future]) -> Future:
    """The Python SDK's ``task_all``: fails as soon as one child fails, else completes with the last child."""
    result = Future()
    remaining = [len(children)]

    def watch(child: Future) -> Callable[[], None]:
        def child_done() -> None:
            remaining[0] -= 1
            if not child.succeeded:
                result.resolve(success=False)
            elif remaining[0] == 0:
                result.resolve(success=True)

        return child_done

    if not children:
        result.resolve(success=True)
    for child in children:
        child.add_done_callback(watch(child))
    return result


def when_any(children: list[Future]) -> Future:
    """Like ``Task.WhenAny``: completes (successfully) as soon as the first child completes."""
    result = Future()

    def child_done() -> None:
        result.resolve(success=True)

    for child in children:
        child.add_done_callback(child_done)
    return result
