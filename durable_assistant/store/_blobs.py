"""Blob-backed JSON documents: turn working state (tool call payloads, run states), final turn records
(the transcript) and chat histories. Orchestration history only ever carries the ids that address them."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from durable_assistant.storage_clients import StorageClients
from durable_assistant.store._parallel import map_concurrently

TRANSCRIPTS_CONTAINER = "conversations"
WORK_CONTAINER = "turn-work"
CHAT_CONTAINER = "chat-state"


@dataclass
class JsonBlobs:
    """Read/write JSON documents in one container."""

    storage: StorageClients
    container_name: str

    def _container(self) -> Any:
        return self.storage.container(self.container_name)

    def ensure(self) -> None:
        self.storage.ensure_container(self.container_name)

    def load(self, key: str) -> dict[str, Any] | None:
        try:
            data = self._container().download_blob(key).readall()
        except ResourceNotFoundError:
            return None
        return dict(json.loads(data))

    def save(self, key: str, value: dict[str, Any]) -> None:
        self._put(key, value, overwrite=True)

    def create(self, key: str, value: dict[str, Any]) -> bool:
        """Write once: False (and no change) when ``key`` already exists."""
        try:
            self._put(key, value, overwrite=False)
        except ResourceExistsError:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        return sorted(b.name for b in self._container().list_blobs(name_starts_with=prefix))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob whose name starts with ``prefix``; returns how many there were (one already gone,
        or a container that does not exist yet, is not an error)."""
        try:
            names = self.list(prefix)
        except ResourceNotFoundError:
            return 0
        map_concurrently(self._delete, names)
        return len(names)

    def _delete(self, key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._container().delete_blob(key)

    def _put(self, key: str, value: dict[str, Any], overwrite: bool) -> None:
        body = encode_json(value)
        try:
            self._container().upload_blob(key, body, overwrite=overwrite)
        except ResourceNotFoundError:
            self.ensure()  # first write into a fresh storage account
            self._container().upload_blob(key, body, overwrite=overwrite)


def encode_json(value: Any) -> bytes:
    """UTF-8 JSON; text that UTF-8 cannot hold (a lone surrogate from a tool or a model) is escaped instead
    of failing the write, so every record the app builds can be stored."""
    try:
        return json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, indent=1).encode("ascii")
