"""Task hub resources (spec 6.1, 7.1), taskhub.json, partition count, and failing fast without storage."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from devhost.azurite import AzuriteProcess, free_port
from devhost.azurite import connection_string as azurite_connection_string
from devhost.model import EventType, HistoryEvent, QueueMessage
from devhost.storage import InvalidHubNameError, StorageOptions, StorageUnavailableError, TaskHubStorage

from .conftest import unique_hub_name


async def _resources(connection_string: str) -> tuple[set[str], set[str], set[str]]:
    async with (
        TableServiceClient.from_connection_string(connection_string) as tables,
        QueueServiceClient.from_connection_string(connection_string) as queues,
        BlobServiceClient.from_connection_string(connection_string) as blobs,
    ):
        return (
            {t.name async for t in tables.list_tables()},
            {q.name async for q in queues.list_queues()},
            {c.name async for c in blobs.list_containers()},
        )


def test_open_creates_the_dtfx_resources(run_hub: Any, connection_string: str) -> None:
    hub = "Res" + unique_hub_name()

    async def body(storage: TaskHubStorage) -> None:
        tables, queues, containers = await _resources(connection_string)
        lower = hub.lower()
        assert {f"{hub}Instances", f"{hub}History"} <= tables
        assert not {t for t in tables if t.endswith("Partitions")}
        assert "DurableTaskPartitions" not in tables
        assert {
            f"{lower}-control-00",
            f"{lower}-control-01",
            f"{lower}-control-02",
            f"{lower}-workitems",
        } <= queues
        assert f"{lower}-control-03" not in queues
        assert {f"{lower}-largemessages", f"{lower}-leases"} <= containers
        async with BlobServiceClient.from_connection_string(connection_string) as blobs:
            data = await (
                await blobs.get_blob_client(f"{lower}-leases", "taskhub.json").download_blob()
            ).readall()
        info = json.loads(data)
        assert set(info) == {"TaskHubName", "CreatedAt", "PartitionCount"}
        assert info["TaskHubName"] == hub and info["PartitionCount"] == 3
        assert info["CreatedAt"].endswith("Z")

    run_hub(body, partition_count=3, hub_name=hub)


def test_an_existing_hub_keeps_its_partition_count(run_hub: Any, connection_string: str) -> None:
    hub = unique_hub_name()

    async def created(storage: TaskHubStorage) -> None:
        await storage.send_control(QueueMessage("x", HistoryEvent(EventType.GenericEvent)))

    run_hub(created, partition_count=2, hub_name=hub)

    async def reopened(storage: TaskHubStorage) -> int:
        # Reopening must be harmless, and hashing must keep using the hub's recorded count.
        return storage.partition_count

    assert run_hub(reopened, partition_count=4, hub_name=hub) == 2
    _, queues, _ = asyncio.run(_resources(connection_string))
    assert f"{hub.lower()}-control-02" not in queues


def test_invalid_hub_names_fail_before_any_io() -> None:
    with pytest.raises(InvalidHubNameError, match="start with a letter"):
        TaskHubStorage("UseDevelopmentStorage=true", "9lives")
    with pytest.raises(ValueError, match="partition_count"):
        TaskHubStorage("UseDevelopmentStorage=true", "fine", partition_count=0)


def test_unreachable_storage_raises_storage_unavailable() -> None:
    closed = (free_port(), free_port(), free_port())  # nothing listens there
    storage = TaskHubStorage(
        azurite_connection_string("127.0.0.1", closed), "Nowhere", options=StorageOptions()
    )

    with pytest.raises(StorageUnavailableError, match="unreachable") as caught:
        asyncio.run(storage.open())
    message = str(caught.value)
    assert f"127.0.0.1:{closed[2]}" in message and f"127.0.0.1:{closed[1]}" in message
    assert "Start Azurite" in message


def test_storage_going_away_later_raises_storage_unavailable(tmp_path: Any) -> None:
    ports = (free_port(), free_port(), free_port())
    options = StorageOptions(retry_total=1, retry_backoff=0)

    async def main(azurite: AzuriteProcess) -> None:
        async with TaskHubStorage(azurite.connection_string, "Vanishing", options=options) as storage:
            assert await storage.get_instance("x") is None
            azurite.stop()
            with pytest.raises(StorageUnavailableError, match="get_instance"):
                await storage.get_instance("x")

    with AzuriteProcess(tmp_path / "azurite", ports=ports) as azurite:
        asyncio.run(main(azurite))


def test_using_storage_before_open_is_a_clear_error() -> None:
    storage = TaskHubStorage("UseDevelopmentStorage=true", "NotOpen")
    with pytest.raises(RuntimeError, match="open"):
        asyncio.run(storage.get_instance("x"))
