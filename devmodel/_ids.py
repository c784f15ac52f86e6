"""Object ids in the provider's formats (``resp_…``, ``call_…``, ``run_…``), reproducible under a seed."""

from __future__ import annotations

import random
import string
import threading

_ALPHABET = string.ascii_letters + string.digits


class IdFactory:
    """Seeded so two runs of the same test or benchmark see the same ids; thread-safe for the llama worker."""

    def __init__(self, seed: int | None) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def new(self, prefix: str, length: int = 24) -> str:
        with self._lock:
            return prefix + "".join(self._random.choices(_ALPHABET, k=length))
