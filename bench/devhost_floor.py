"""What one chain step cannot go below on this machine, measured beside devhost_bench on the same Azurite.

A step of a sequential chain is, at the least: the worker's SDK parsing the orchestration context (every
episode replays the whole history; the real Python worker does the same), one queue put (the work item, sent
before the history is written, as DurableTask.AzureStorage orders a commit) and one entity-group transaction
(the episode's history rows and the sentinel). Each is timed here with the Azure SDK clients devhost uses,
one call at a time; their sum is the floor of the round trip, before any activity runs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext

from devhost import engine
from devhost.model import EventType, HistoryEvent
from devhost.storage import StorageOptions
from devhost.storage._clients import ServiceClients

SAMPLES = 40
CHAIN_STEPS = 10


async def _p50_ms(call: Callable[[int], Awaitable[object]], samples: int = SAMPLES) -> float:
    await call(-1)  # first use: connection, table or queue lookup
    durations = []
    for index in range(samples):
        began = time.perf_counter()
        await call(index)
        durations.append((time.perf_counter() - began) * 1000)
    return statistics.median(durations)


async def storage_floor(connection_string: str) -> tuple[float, float]:
    """(queue put p50, 4-row entity-group transaction p50), in ms."""
    clients = ServiceClients.create(connection_string, StorageOptions())
    name = f"floor{uuid.uuid4().hex[:10]}"
    try:
        queue = clients.queues.get_queue_client(name)
        await queue.create_queue()
        await clients.tables.create_table(name)
        table = clients.tables.get_table_client(name)
        body = "x" * 400  # a TaskScheduled message of a small activity input

        async def put(_: int) -> object:
            return await queue.send_message(body, visibility_timeout=60)

        async def transaction(index: int) -> object:
            key = f"i{index}"
            rows = [("upsert", {"PartitionKey": key, "RowKey": f"{n:016X}", "EventType": "TaskScheduled",
                                "Name": "step", "Input": body}) for n in range(4)]
            return await table.submit_transaction([*rows, ("upsert", {"PartitionKey": key, "RowKey": "sentinel"})])

        put_ms = await _p50_ms(put)
        transaction_ms = await _p50_ms(transaction)
        await queue.delete_queue()
        await clients.tables.delete_table(name)
        return put_ms, transaction_ms
    finally:
        await clients.close()


def chain_history(steps: int) -> list[HistoryEvent]:
    """The history of a chain of ``steps`` activities, as devhost stores it after its last completion."""
    now = datetime.now(UTC)
    events = [
        HistoryEvent(EventType.OrchestratorStarted, timestamp=now),
        engine.execution_started(name="chain_n", instance_id="floor", execution_id="e", input_text='{"steps": 10}',
                                 parent=None),
    ]
    for task in range(steps):
        events += [
            HistoryEvent(EventType.TaskScheduled, event_id=task, timestamp=now,
                         fields={"Name": "increment", "Version": "", "Input": str(task)}),
            HistoryEvent(EventType.OrchestratorCompleted, timestamp=now),
            HistoryEvent(EventType.OrchestratorStarted, timestamp=now),
            engine.activity_completed(task, str(task + 1)),
        ]
    return events


def sdk_parse_ms(steps: int = CHAIN_STEPS // 2) -> float:
    """p50 of the SDK building its context from a chain's history (``steps`` in: the middle of a chain)."""
    context = engine.build_context_json(instance_id="floor", history=chain_history(steps), input_text='{"steps": 10}',
                                        parent_instance_id=None)
    durations = []
    for _ in range(SAMPLES):
        began = time.perf_counter()
        DurableOrchestrationContext.from_json(context)
        durations.append((time.perf_counter() - began) * 1000)
    return statistics.median(durations)


def measure(connection_string: str) -> tuple[float, float, float]:
    """(SDK context parse, queue put, transaction) p50s in ms."""
    put_ms, transaction_ms = asyncio.run(storage_floor(connection_string))
    return sdk_parse_ms(), put_ms, transaction_ms
