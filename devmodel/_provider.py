"""The shared state of one server: engine, object store, id factory and the background jobs in flight."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from ._azure_functions import QueueBridge
from ._config import ServerConfig
from ._ids import IdFactory
from ._store import Store
from ._types import Engine
from ._webhooks import WebhookSender

log = logging.getLogger("devmodel")


class Jobs:
    """Background model turns keyed by the object they produce (a response or a run id)."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"devmodel-{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("background job %s crashed", key, exc_info=task.exception())

    def cancel(self, key: str) -> bool:
        task = self._tasks.get(key)
        if task is None:
            return False
        task.cancel()
        return True

    def running(self, key: str) -> bool:
        return key in self._tasks

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@dataclass
class Provider:
    config: ServerConfig
    engine: Engine
    store: Store
    ids: IdFactory
    jobs: Jobs = field(default_factory=Jobs)
    webhooks: WebhookSender | None = None
    queues: QueueBridge = field(default_factory=QueueBridge)
    """Calls azure_function tools over Storage queues."""

    @staticmethod
    def now() -> int:
        return int(time.time())
