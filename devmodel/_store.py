"""Where API objects live: a dict in memory, optionally written through to a SQLite file.

Objects are the JSON bodies the API returns (plus private keys starting with ``_``), so what a client reads is
exactly what is stored. An object may carry an expiry (background responses are kept for a limited time, like the
real service); after it, the object is gone and lookups answer 404.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]

_SCHEMA = "CREATE TABLE IF NOT EXISTS objects (kind TEXT, id TEXT, body TEXT, expires_at REAL, PRIMARY KEY (kind, id))"


class Store:
    """Objects by (kind, id). ``path=None`` keeps everything in memory."""

    def __init__(self, path: Path | None = None) -> None:
        self._objects: dict[tuple[str, str], tuple[JsonObject, float | None]] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute(_SCHEMA)
            for kind, object_id, body, expires_at in self._db.execute("SELECT kind, id, body, expires_at FROM objects"):
                self._objects[(kind, object_id)] = (json.loads(body), expires_at)

    def put(self, kind: str, obj: JsonObject, *, expires_at: float | None = None) -> None:
        key = (kind, str(obj["id"]))
        self._objects[key] = (obj, expires_at)
        if self._db is not None:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (*key, json.dumps(obj), expires_at)
                )

    def save(self, kind: str, obj: JsonObject) -> None:
        """Write back an object changed in place, keeping its expiry."""
        current = self._objects.get((kind, str(obj["id"])))
        self.put(kind, obj, expires_at=current[1] if current else None)

    def get(self, kind: str, object_id: str) -> JsonObject | None:
        entry = self._objects.get((kind, object_id))
        if entry is None:
            return None
        obj, expires_at = entry
        if expires_at is not None and time.time() >= expires_at:
            self.delete(kind, object_id)
            return None
        return obj

    def delete(self, kind: str, object_id: str) -> bool:
        existed = self._objects.pop((kind, object_id), None) is not None
        if self._db is not None:
            with self._db:
                self._db.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, object_id))
        return existed

    def all(self, kind: str) -> list[JsonObject]:
        """Live objects of one kind, in insertion order."""
        keys = [key for key in self._objects if key[0] == kind]
        return [obj for key in keys if (obj := self.get(*key)) is not None]

    def purge_expired(self) -> int:
        now = time.time()
        expired = [key for key, (_, at) in self._objects.items() if at is not None and now >= at]
        for key in expired:
            self.delete(*key)
        return len(expired)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
