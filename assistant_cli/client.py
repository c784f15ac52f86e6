"""HTTP client of the app's API (/api/...), including the turn status route a message's 202 hands back."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

# Exit codes of the CLI (2 is argparse's for bad usage).
EXIT_TURN_FAILED = 1
EXIT_UNREACHABLE = 3
EXIT_UNAUTHORIZED = 4
EXIT_NOT_FOUND = 5
EXIT_REFUSED = 6
"""The app refused an approval or cancel: already decided or expired, turn already ended, not an approver."""

TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


class CliError(Exception):
    """A problem to report in one line, ending the command with ``exit_code``."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ApiRefused(Exception):
    """The API answered a request with a 4xx error of its own (bad message, unknown conversation, ...)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def api_base(url: str) -> str:
    """``http://host:7071``, ``http://host:7071/`` and ``http://host:7071/api`` all mean the same app."""
    base = url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise CliError(f"--url must start with http:// or https:// (got {url!r})", 2)
    return base if base.endswith("/api") else base + "/api"


@dataclass
class AppClient:
    url: str
    key: str | None = None
    timeout: float = 30.0
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def api(self) -> str:
        return api_base(self.url)

    def monitor_url(self, path: str = "") -> str:
        query = f"?code={self.key}" if self.key else ""
        return f"{self.api}/monitor{path}{query}"

    def _headers(self, url: str) -> dict[str, str]:
        # A URL that carries its own ?code= (our key echoed back, or a Durable management URL) keeps it.
        if self.key and "code=" not in url:
            return {"x-functions-key": self.key}
        return {}

    def request(self, method: str, url: str, body: Any = None, attempts: int = 1) -> requests.Response:
        """One HTTP call; connection failures are retried ``attempts`` times (only for idempotent calls)."""
        for attempt in range(1, attempts + 1):
            try:
                return self.session.request(method, url, json=body, headers=self._headers(url), timeout=self.timeout)
            except requests.ConnectionError as exc:
                if attempt == attempts:
                    raise CliError(f"cannot reach the app at {self.api}: {_reason(exc)} "
                                   "(is it running? `bash scripts/run.sh` starts it locally)", EXIT_UNREACHABLE) from None
                time.sleep(0.5 * attempt)
            except requests.Timeout:
                if attempt == attempts:
                    raise CliError(f"the app at {self.api} did not answer within {self.timeout:.0f} s",
                                   EXIT_UNREACHABLE) from None
        raise AssertionError("unreachable")

    def _api_json(self, method: str, path: str, body: Any = None, attempts: int = 1,
                  refusals: frozenset[int] = frozenset()) -> Any:
        """The JSON body of a 2xx answer. A 4xx in ``refusals`` with the API's error shape raises ApiRefused for
        the caller to explain; anything else that is not a 2xx JSON answer is a CliError."""
        response = self.request(method, self.api + path, body, attempts)
        payload = _json_or_none(response)
        status = response.status_code
        error = payload.get("error") if isinstance(payload, dict) else None
        if status in refusals and isinstance(error, dict) and error.get("code") == "not_an_approver":
            raise ApiRefused(status, "not_an_approver", str(error.get("message", "")))  # a 403 that is not the key
        if status in (401, 403):
            raise CliError(f"the app refused the key ({status} for {method} /api{path}): pass the "
                           "function key with --key or DURABLE_ASSISTANT_KEY", EXIT_UNAUTHORIZED)
        if status in refusals and isinstance(error, dict):
            raise ApiRefused(status, str(error.get("code", "")), str(error.get("message", "")))
        if 200 <= status < 300 and payload is not None:
            return payload
        detail = error.get("message") if isinstance(error, dict) else _snippet(response)
        if status >= 500:
            raise CliError(f"the app failed: {method} /api{path} answered {status} {detail}", EXIT_UNREACHABLE)
        raise CliError(f"{self.api} does not look like a Durable Assistant app: {method} /api{path} answered "
                       f"{status} {detail}", EXIT_UNREACHABLE)

    def create_conversation(self) -> str:
        return str(self._api_json("POST", "/conversations")["conversationId"])

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        try:
            body: dict[str, Any] = self._api_json("GET", f"/conversations/{conversation_id}", attempts=3,
                                                  refusals=frozenset({404}))
        except ApiRefused:
            raise CliError(f"conversation {conversation_id!r} does not exist at {self.api}", EXIT_NOT_FOUND) from None
        return body

    def conversations(self, top: int, token: str | None = None) -> dict[str, Any]:
        query = f"?top={top}" + (f"&continuationToken={token}" if token else "")
        try:
            body: dict[str, Any] = self._api_json("GET", "/conversations" + query, attempts=3,
                                                  refusals=frozenset({400}))
        except ApiRefused as exc:
            raise CliError(str(exc), 2) from None
        return body

    def send(self, conversation_id: str, content: str) -> dict[str, Any]:
        """POST the message; a connection failure is retried with the same messageId, which the app turns into
        the same turn (never a second one). Raises ApiRefused for a message the app will not take."""
        body = {"content": content, "messageId": uuid.uuid4().hex}
        accepted: dict[str, Any] = self._api_json("POST", f"/conversations/{conversation_id}/messages", body,
                                                  attempts=3, refusals=frozenset({400, 404, 409, 413}))
        return accepted

    def approvals(self, conversation_id: str, everything: bool = False) -> list[dict[str, Any]]:
        """The conversation's approval requests: pending ones (that can still be decided), or all of them."""
        path = f"/conversations/{_segment(conversation_id)}/approvals" + ("?status=all" if everything else "")
        try:
            body = self._api_json("GET", path, attempts=3, refusals=frozenset({404}))
        except ApiRefused:
            raise CliError(f"conversation {conversation_id!r} does not exist at {self.api}", EXIT_NOT_FOUND) from None
        return list(body.get("approvals") or [])

    def decide(self, conversation_id: str, approval_id: str, decision: str, reason: str | None = None,
               by: str | None = None) -> dict[str, Any]:
        """Approve or deny one waiting call. Retried on connection failures: the app accepts the same decision
        again unchanged. Raises ApiRefused (400, 403 not_an_approver, 404, 409 approval_closed)."""
        body = {"decision": decision, **_optional(reason=reason, by=by)}
        path = f"/conversations/{_segment(conversation_id)}/approvals/{_segment(approval_id)}"
        decided: dict[str, Any] = self._api_json("POST", path, body, attempts=3,
                                                 refusals=frozenset({400, 403, 404, 409}))
        return decided

    def cancel(self, conversation_id: str, turn: int, reason: str | None = None,
               by: str | None = None) -> dict[str, Any]:
        """Ask a running turn to stop (202); asking twice is harmless, so connection failures are retried.
        Raises ApiRefused (400, 404 unknown turn, 409 turn_finished / turn_not_started)."""
        path = f"/conversations/{_segment(conversation_id)}/turns/{turn}/cancel"
        accepted: dict[str, Any] = self._api_json("POST", path, _optional(reason=reason, by=by), attempts=3,
                                                  refusals=frozenset({400, 404, 409}))
        return accepted

    def status(self, status_url: str) -> dict[str, Any] | None:
        """The turn's status (the Durable status shape), or None while its instance is not visible (404)."""
        response = self.request("GET", status_url, attempts=3)
        if response.status_code in (401, 403):
            raise CliError(f"the status URL was refused ({response.status_code})", EXIT_UNAUTHORIZED)
        if response.status_code == 404:
            return None
        payload = _json_or_none(response)
        if not isinstance(payload, dict) or "runtimeStatus" not in payload:
            raise CliError(f"unexpected answer from the status URL ({response.status_code}): {_snippet(response)}",
                           EXIT_UNREACHABLE)
        return payload


def refusal_error(exc: ApiRefused, what: str) -> CliError:
    """An approval or cancel the app refused, as the CLI reports it (exit code by kind)."""
    code = {400: 2, 404: EXIT_NOT_FOUND}.get(exc.status, EXIT_REFUSED)
    return CliError(f"{what}: the app refused it ({exc.status} {exc.code}): {exc}", code)


def _segment(value: str) -> str:
    """A route segment as typed by a person: quoted, so '/' or '?' cannot reach another route."""
    return quote(value, safe="")


def _optional(**fields: str | None) -> dict[str, str]:
    return {k: v for k, v in fields.items() if v}


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _snippet(response: requests.Response) -> str:
    text = " ".join(response.text.split())
    return (text[:120] + "…") if len(text) > 120 else text


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
