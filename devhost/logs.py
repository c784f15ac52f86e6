"""devhost's logging: one structured line per function invocation, plain lines for everything else.

Lines are ``key=value`` pairs by default (readable in a terminal) or JSON objects with ``json_lines=True`` (for
tools). ``--verbose`` lowers the level to DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

INVOCATION_LOGGER = "devhost.invocations"
_log = logging.getLogger(INVOCATION_LOGGER)


class _Formatter(logging.Formatter):
    def __init__(self, json_lines: bool) -> None:
        super().__init__()
        self._json = json_lines

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        structured = getattr(record, "devhost_fields", None)
        if isinstance(structured, dict):
            fields.update(structured)
        else:
            fields["msg"] = record.getMessage()
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        if self._json:
            return json.dumps(fields, ensure_ascii=False, default=str)
        return " ".join(f"{k}={_kv(v)}" for k, v in fields.items() if v is not None)


def _kv(value: Any) -> str:
    text = str(value)
    if text == "" or any(ch.isspace() or ch in '"=' for ch in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def configure_logging(*, verbose: bool = False, json_lines: bool = False, level: int = logging.INFO) -> None:
    """Send devhost's and the app's logs to stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(json_lines))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else level)
    if not verbose:
        # The Azure SDKs log every HTTP request at INFO.
        logging.getLogger("azure").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def log_invocation(
    *,
    function: str,
    kind: str,
    instance_id: str | None,
    duration_ms: float,
    outcome: str,
    error: str | None = None,
    detail: str | None = None,
) -> None:
    """One line per invocation: function, kind, instance id, duration, outcome (and the error text if any)."""
    fields = {
        "event": "invocation",
        "function": function,
        "kind": kind,
        "instance_id": instance_id,
        "duration_ms": round(duration_ms, 1),
        "outcome": outcome,
        "error": error,
        "detail": detail,
    }
    level = logging.INFO if outcome == "succeeded" else logging.WARNING
    _log.log(level, "%s %s %s", function, kind, outcome, extra={"devhost_fields": fields})


__all__ = ["INVOCATION_LOGGER", "configure_logging", "log_invocation"]
