"""Raw reads with the official SDK clients, to assert on exactly what is stored (what DFM would read)."""

from __future__ import annotations

import gzip
from typing import Any

from azure.data.tables.aio import TableClient
from azure.storage.blob.aio import ContainerClient
from azure.storage.queue.aio import QueueClient


async def query(connection_string: str, table: str, query_filter: str) -> list[dict[str, Any]]:
    async with TableClient.from_connection_string(connection_string, table) as client:
        return [dict(row) async for row in client.query_entities(query_filter)]


async def get_row(connection_string: str, table: str, partition_key: str, row_key: str) -> Any:
    async with TableClient.from_connection_string(connection_string, table) as client:
        return await client.get_entity(partition_key, row_key)


async def blob_names(connection_string: str, container: str, prefix: str = "") -> list[str]:
    async with ContainerClient.from_connection_string(connection_string, container) as client:
        return [blob.name async for blob in client.list_blobs(name_starts_with=prefix or None)]


async def gunzip_blob(connection_string: str, container: str, name: str) -> str:
    async with ContainerClient.from_connection_string(connection_string, container) as client:
        data = await (await client.download_blob(name)).readall()
    return gzip.decompress(data).decode("utf-8")


async def peek_bodies(connection_string: str, queue: str) -> list[str]:
    async with QueueClient.from_connection_string(connection_string, queue) as client:
        return [str(message.content) for message in await client.peek_messages(max_messages=32)]
