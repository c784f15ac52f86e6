"""Function, master and system keys, and whether they are enforced.

``func start`` runs with authorization disabled unless ``--enableAuth`` is given (Core Tools' ``StartHostAction``
registers an authentication handler that grants every request admin level). devhost does the same: keys are only
checked with ``--enforce-keys`` / ``DEVHOST_ENFORCE_KEYS=1``.

Scopes follow the host (``AuthUtility.PrincipalHasAuthLevelClaim`` and the ``SystemKeyAuthLevel`` policy): the
master key passes everywhere; a function-level route wants exactly a function key; the extension's webhook routes
(``/runtime/webhooks/durabletask/...``) want the system key named ``durabletask_extension`` -- the key the host
puts in the URLs it hands to the extension -- and nothing below admin passes admin routes.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

# The host names an extension's webhook key "{extension}_extension" (DefaultScriptWebHookProvider.GetKeyName).
DURABLE_SYSTEM_KEY_NAME = "durabletask_extension"
AuthLevel = Literal["anonymous", "function", "system", "admin"]


@dataclass(frozen=True)
class AuthKeys:
    function_key: str
    master_key: str
    system_key: str
    """The Durable extension's system key (``durabletask_extension``): the management URLs carry it."""
    enforce: bool = False
    generated: tuple[str, ...] = ()  # names of the keys devhost generated (print them once)

    @classmethod
    def from_settings(cls, env: Mapping[str, str], *, enforce: bool | None = None) -> AuthKeys:
        """Keys from ``DEVHOST_FUNCTION_KEY`` / ``DEVHOST_MASTER_KEY`` / ``DEVHOST_SYSTEM_KEY`` (env or
        local.settings Values), else new ones."""
        generated: list[str] = []
        values: dict[str, str] = {}
        for which in ("function", "master", "system"):
            value = env.get(f"DEVHOST_{which.upper()}_KEY") or ""
            if not value:
                value = secrets.token_urlsafe(32)
                generated.append(which)
            values[which] = value
        if len(set(values.values())) < len(values):
            raise ValueError("DEVHOST_FUNCTION_KEY, DEVHOST_MASTER_KEY and DEVHOST_SYSTEM_KEY must differ")
        if enforce is None:
            enforce = env.get("DEVHOST_ENFORCE_KEYS", "").strip().lower() in ("1", "true", "yes")
        return cls(values["function"], values["master"], values["system"], enforce, tuple(generated))

    def allows(self, auth_level: AuthLevel | str, presented: str | None) -> bool:
        """Whether a request presenting ``presented`` may call a route that needs ``auth_level``."""
        if not self.enforce or auth_level == "anonymous":
            return True
        if not presented:
            return False
        if _same(presented, self.master_key):
            return True
        if auth_level == "function":
            return _same(presented, self.function_key)
        if auth_level == "system":
            return _same(presented, self.system_key)
        return False

    def system_keys(self) -> dict[str, str]:
        """The host's system keys by name (``GET /admin/host/systemkeys``)."""
        return {DURABLE_SYSTEM_KEY_NAME: self.system_key}


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
