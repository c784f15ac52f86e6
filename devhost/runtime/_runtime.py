"""DurableRuntime: the orchestration and activity dispatchers plus the client operations, over one task hub."""

from __future__ import annotations

import asyncio
import contextlib

from devhost.storage import TaskHubStorage

from ._client import DurableClientOperations
from ._functions import DurableFunctions
from ._options import RuntimeOptions
from ._orchestrations import OrchestrationDispatcher
from ._polling import DispatchContext, Wakeup


class DurableRuntime:
    """Runs the durable engine of devhost. ``client`` implements the management API's backend."""

    def __init__(self, storage: TaskHubStorage, functions: DurableFunctions, options: RuntimeOptions) -> None:
        ctx = DispatchContext(storage, functions, options, control_wakeup=Wakeup(), work_wakeup=Wakeup())
        self._orchestrations = OrchestrationDispatcher(ctx)
        self._activities = self._orchestrations.activities
        self.client = DurableClientOperations(
            storage,
            functions,
            self._orchestrations.accept,
            options,
            self._orchestrations.forget,
            self._orchestrations.published,
            self._orchestrations.publish_start,
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._orchestrations.run(), name="devhost-orchestrations"),
            asyncio.create_task(self._activities.run(), name="devhost-activities"),
        ]

    async def stop(self) -> None:
        await asyncio.gather(self._orchestrations.stop(), self._activities.stop())
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
