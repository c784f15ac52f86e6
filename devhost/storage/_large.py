"""Large values offloaded to the ``{hub}-largemessages`` container as gzip'd UTF-8 text (spec sections 6.3-6.6)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import secrets
from collections import OrderedDict
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
    """Upload, fetch and delete the gzip blobs of one task hub.

    Every blob name is unique per content (a random suffix or a message id), so blobs are never rewritten with
    other text and a bounded in-memory cache of recently written/read ones can serve repeated reads (the
    runtime reads an instance's large input on every episode).
    """

    def __init__(self, container: ContainerClient, *, cache_chars: int = 16 * 1024 * 1024) -> None:
        self._container = container
        self._url_prefix = container.url.rstrip("/") + "/"
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_chars = 0
        self._cache_limit = cache_chars

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
        self._remember(blob_name, text)

    async def download(self, blob_name: str) -> str:
        cached = self._cache.get(blob_name)
        if cached is not None:
            self._cache.move_to_end(blob_name)
            return cached
        try:
            downloader = await self._container.download_blob(blob_name)
        except ResourceNotFoundError as exc:
            raise FileNotFoundError(f"large-message blob {blob_name!r} is missing (purged?)") from exc
        text = gzip.decompress(await downloader.readall()).decode("utf-8")
        self._remember(blob_name, text)
        return text

    async def exists(self, blob_name: str) -> bool:
        return bool(await self._container.get_blob_client(blob_name).exists())

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every blob whose name starts with ``prefix``; returns how many were deleted."""
        for name in [name for name in self._cache if name.startswith(prefix)]:
            self._cache_chars -= len(self._cache.pop(name))
        names = [blob.name async for blob in self._container.list_blobs(name_starts_with=prefix)]
        await asyncio.gather(*(self._delete_quietly(name) for name in names))
        return len(names)

    def _remember(self, blob_name: str, text: str) -> None:
        if len(text) > self._cache_limit // 4:
            return  # one huge value must not evict everything else
        previous = self._cache.pop(blob_name, None)
        if previous is not None:
            self._cache_chars -= len(previous)
        self._cache[blob_name] = text
        self._cache_chars += len(text)
        while self._cache_chars > self._cache_limit:
            _, evicted = self._cache.popitem(last=False)
            self._cache_chars -= len(evicted)

    async def _delete_quietly(self, name: str) -> None:
        # Deleted concurrently (two purges of the same instance): the goal is reached either way.
        with contextlib.suppress(ResourceNotFoundError):
            await self._container.delete_blob(name)
