"""Run independent blocking storage calls side by side (they are network round trips, not CPU work)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

# Shared by every store in the process; the Azure SDK's sync clients are safe to use from several threads.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="store-io")


def submit(call: Callable[[], T]) -> Future[T]:
    return _POOL.submit(call)


def map_concurrently(function: Callable[[str], T], keys: Iterable[str]) -> list[T]:
    """``[function(k) for k in keys]``, with the calls in flight together; results in ``keys`` order."""
    futures = [_POOL.submit(function, key) for key in keys]
    return [f.result() for f in futures]
