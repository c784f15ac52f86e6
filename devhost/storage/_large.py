"""Large values offloaded to the ``{hub}-largemessages`` container as gzip'd UTF-8 text (spec sections 6.3-6.6)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import secrets
from urllib.parse import unquote

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import ContainerClient

from devhost.storage._values import utf16_size

# DTFx offloads a table property whose UTF-16 size exceeds 60 KiB (Table storage's limit is 64 KiB per property).
TABLE_VALUE_LIMIT = 60 * 1024
# Queue messages are limited to 64 KiB; DTFx offloads bodies over 45 KB (Base64 turns 45 KiB into 60 KiB).
QUEUE_BODY_LIMIT = 45 * 1024
_GZIP_JSON = ContentSettings(content_type="application/json")


def exceeds_table_limit(text: str) -> bool:
    return utf16_size(text) > TABLE_VALUE_LIMIT


def random_suffix() -> str:
    """The 8 uppercase hex digits DTFx puts in history blob names so rewrites never collide."""
    return secrets.token_hex(4).upper()


class LargeMessageStore:
    """Upload, fetch and delete the gzip blobs of one task hub."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container
        self._url_prefix = container.url.rstrip("/") + "/"

    def url_of(self, blob_name: str) -> str:
        return str(self._container.get_blob_client(blob_name).url)

    def blob_name_from_url(self, value: str) -> str | None:
        """The blob name if ``value`` is the URL of one of this hub's large-message blobs, else None."""
        if value.startswith(self._url_prefix):
            return unquote(value[len(self._url_prefix) :])
        return None

    async def upload(self, blob_name: str, text: str) -> None:
        data = gzip.compress(text.encode("utf-8"))
        await self._container.upload_blob(blob_name, data, overwrite=True, content_settings=_GZIP_JSON)

    async def download(self, blob_name: str) -> str:
        try:
            downloader = await self._container.download_blob(blob_name)
        except ResourceNotFoundError as exc:
            raise FileNotFoundError(f"large-message blob {blob_name!r} is missing (purged?)") from exc
        data = await downloader.readall()
        return gzip.decompress(data).decode("utf-8")

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every blob whose name starts with ``prefix``; returns how many were deleted."""
        names = [blob.name async for blob in self._container.list_blobs(name_starts_with=prefix)]
        await asyncio.gather(*(self._delete_quietly(name) for name in names))
        return len(names)

    async def _delete_quietly(self, name: str) -> None:
        # Deleted concurrently (two purges of the same instance): the goal is reached either way.
        with contextlib.suppress(ResourceNotFoundError):
            await self._container.delete_blob(name)
