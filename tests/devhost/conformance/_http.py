"""Raw HTTP against devhost (urllib, no SDK) plus polling helpers for the documented status URLs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


def call(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    raw_body: bytes | None = None,
    content_type: str | None = None,
    timeout: float = 60.0,
) -> HttpResult:
    """One HTTP call; 4xx/5xx are returned, not raised, because their codes are what the tests assert."""
    data = raw_body
    headers: dict[str, str] = {}
    if json_body is not None:
        data = json.dumps(json_body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if content_type is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResult(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        return HttpResult(err.code, dict(err.headers.items()), err.read())


def status_url(webhook_url: str, instance_id: str, **query: str) -> str:
    url = f"{webhook_url}/instances/{quote(instance_id, safe='')}"
    if query:
        url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return url


def wait_for_status(
    webhook_url: str,
    instance_id: str,
    wanted: frozenset[str] = TERMINAL,
    *,
    timeout: float = 60.0,
    show_history: bool = False,
    interval: float = 0.1,
) -> dict[str, Any]:
    """Poll the status endpoint until ``runtimeStatus`` is in ``wanted``; fail with the last payload otherwise."""
    query = {"showHistory": "true", "showHistoryOutput": "true"} if show_history else {}
    url = status_url(webhook_url, instance_id, **query)
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        result = call("GET", url)
        if result.status in (200, 202):
            last = result.json()
            if last.get("runtimeStatus") in wanted:
                return dict(last)
        else:
            last = f"HTTP {result.status}: {result.body[:300]!r}"
        time.sleep(interval)
    raise AssertionError(f"instance {instance_id} not in {sorted(wanted)} after {timeout:.0f}s; last: {last}")


def wait_until(predicate: Any, *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``predicate()`` until it returns something truthy (and return that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
