"""Function and master keys, and whether they are enforced.

``func start`` runs with authorization disabled unless ``--enableAuth`` is given (Core Tools' ``StartHostAction``
registers an authentication handler that grants every request admin level). devhost does the same: keys are only
checked with ``--enforce-keys`` / ``DEVHOST_ENFORCE_KEYS=1``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class AuthKeys:
    function_key: str
    master_key: str
    enforce: bool = False
    generated: tuple[str, ...] = ()  # names of the keys devhost generated (print them once)

    @classmethod
    def from_settings(cls, env: Mapping[str, str], *, enforce: bool | None = None) -> AuthKeys:
        """Keys from ``DEVHOST_FUNCTION_KEY`` / ``DEVHOST_MASTER_KEY`` (env or local.settings Values), else new ones."""
        generated: list[str] = []
        function_key = env.get("DEVHOST_FUNCTION_KEY") or ""
        master_key = env.get("DEVHOST_MASTER_KEY") or ""
        if not function_key:
            function_key = secrets.token_urlsafe(32)
            generated.append("function")
        if not master_key:
            master_key = secrets.token_urlsafe(32)
            generated.append("master")
        if enforce is None:
            enforce = env.get("DEVHOST_ENFORCE_KEYS", "").strip().lower() in ("1", "true", "yes")
        return cls(function_key, master_key, enforce, tuple(generated))

    def allows(self, auth_level: str, presented: str | None) -> bool:
        """Whether a request presenting ``presented`` may call a function with ``auth_level``."""
        if not self.enforce or auth_level == "anonymous":
            return True
        if not presented:
            return False
        if _same(presented, self.master_key):
            return True
        return auth_level == "function" and _same(presented, self.function_key)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
