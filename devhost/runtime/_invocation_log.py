"""One structured log line per function invocation (function, kind, instance id, duration, outcome)."""

from __future__ import annotations

import logging

log = logging.getLogger("devhost.invocations")


def log_invocation(kind: str, function: str, instance_id: str | None, seconds: float, outcome: str) -> None:
    log.info(
        "invocation kind=%s function=%s instance=%s duration_ms=%.1f outcome=%s",
        kind,
        function,
        instance_id or "-",
        seconds * 1000,
        outcome,
    )
