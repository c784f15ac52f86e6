"""Start the local stack for end-to-end tests and benchmarks: devmodel (scripted engine) and devhost running
this function app, both as subprocesses on free ports against an Azurite, with a unique task hub.

The app under test is the real function_app.py; it only learns about the stack through app settings
(environment variables), exactly as under ``func start`` or in Azure."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.azurite import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_SCENARIOS = REPO_ROOT / "devmodel" / "scenarios" / "seeds.json"


class StackError(RuntimeError):
    pass


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{url}: process exited with {proc.returncode}; log:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise StackError(f"{url} not ready after {timeout}s; log:\n{log.read_text()[-4000:]}")


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path, ready_url: str,
             timeout: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_http(ready_url, proc, log, timeout)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@dataclass(frozen=True)
class Webhook:
    """Where devmodel posts its signed webhooks (the app's webhook route) and their shared secret."""

    port: int
    """The devhost port the app will listen on."""
    secret: str = field(default_factory=lambda: "whsec_" + base64.b64encode(os.urandom(24)).decode())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/webhooks/openai"


@dataclass
class DevModel:
    base_url: str
    """OpenAI-compatible base URL ending in /v1."""
    log: Path


@contextmanager
def devmodel(log_dir: Path, scenario: Path = SEED_SCENARIOS, seed: int = 7,
             latency: str | None = None, webhook: Webhook | None = None,
             extra_args: list[str] | None = None) -> Iterator[DevModel]:
    port = free_port()
    args = [sys.executable, "-m", "devmodel", "serve", "--port", str(port), "--engine", "scripted",
            "--scenario", str(scenario), "--seed", str(seed), "--log-level", "WARNING", *(extra_args or [])]
    if latency is not None:
        args += ["--latency", latency]
    if webhook is not None:
        args += ["--webhook-url", webhook.url, "--webhook-secret", webhook.secret]
    log = log_dir / f"devmodel-{port}.log"
    with _process(args, dict(os.environ), log, f"http://127.0.0.1:{port}/v1/models"):
        yield DevModel(f"http://127.0.0.1:{port}/v1", log)


@dataclass
class Stack:
    api: str
    """http://127.0.0.1:PORT/api"""
    model: DevModel
    hub: str
    env: dict[str, str]
    log: Path
    http: HttpClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = HttpClient(self.api)


def threads_agent(model_url: str) -> str:
    """Create an assistant on devmodel's threads API (Foundry classic needs an agent id) and return its id."""
    import warnings

    from openai import OpenAI

    client = OpenAI(base_url=model_url, api_key="local-dev-key")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return client.beta.assistants.create(model="devmodel", name="durable-assistant-tests").id


@contextmanager
def devhost_app(connection_string: str, log_dir: Path, model: DevModel, provider: str = "responses",
                model_base_url: str | None = None, settings: dict[str, str] | None = None,
                webhook: Webhook | None = None, hub: str | None = None) -> Iterator[Stack]:
    """devhost running function_app.py on a free port with a unique hub and storage prefix, using ``model``
    (or ``model_base_url``, e.g. a proxy in front of it) as the provider."""
    hub = hub or "h" + uuid.uuid4().hex[:12]
    env = dict(os.environ)
    env.update({
        "AzureWebJobsStorage": connection_string,
        "TASKHUB_NAME": hub,
        "ASSISTANT_PROVIDER": provider,
        "ASSISTANT_BASE_URL": model_base_url or model.base_url,
        "ASSISTANT_STORAGE_PREFIX": "a" + uuid.uuid4().hex[:10],
        "PYTHONUNBUFFERED": "1",
        # Tests and benchmarks of the turn engine run without a person in the loop; the approval tests set the
        # policy they exercise (the product's default is side_effects).
        "ASSISTANT_APPROVAL_REQUIRED": "none",
    })
    if provider == "threads" and "ASSISTANT_AGENT_ID" not in (settings or {}):
        env["ASSISTANT_AGENT_ID"] = threads_agent(model.base_url)
    if webhook is not None:
        env["ASSISTANT_WEBHOOK_SECRET"] = webhook.secret
    env.update(settings or {})
    port = webhook.port if webhook is not None else free_port()
    args = [sys.executable, "-m", "devhost", "start", "--app", str(REPO_ROOT), "--host", "127.0.0.1",
            "--port", str(port), "--storage", connection_string, "--hub", hub]
    log = log_dir / f"devhost-{port}.log"
    api = f"http://127.0.0.1:{port}/api"
    with _process(args, env, log, f"{api}/openapi.json", timeout=90):
        yield Stack(api, model, hub, env, log)


@contextmanager
def app_stack(connection_string: str, log_dir: Path, provider: str = "responses",
              scenario: Path = SEED_SCENARIOS, latency: str | None = None,
              settings: dict[str, str] | None = None, webhooks: bool = False) -> Iterator[Stack]:
    """devmodel + devhost(function_app.py) on free ports, a unique hub and a unique storage prefix; with
    ``webhooks`` devmodel signs and posts each background response's end to the app's webhook route."""
    webhook = Webhook(free_port()) if webhooks else None
    with devmodel(log_dir, scenario=scenario, latency=latency, webhook=webhook) as model, \
            devhost_app(connection_string, log_dir, model, provider, settings=settings, webhook=webhook) as stack:
        yield stack


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class HttpClient:
    base: str
    key: str | None = None
    """Sent as x-functions-key (where keys are enforced), except to a URL that carries its own ?code=."""

    def request(self, method: str, path_or_url: str, body: Any = None, raw: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self.key and "code=" not in url:
            sent["x-functions-key"] = self.key
        req = urllib.request.Request(url, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return Response(resp.status, dict(resp.headers), _decode(resp.read()))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, dict(exc.headers), _decode(exc.read()))

    def new_conversation(self) -> str:
        resp = self.request("POST", "/conversations")
        assert resp.status == 201, resp
        return str(resp.body["conversationId"])

    def send(self, conversation_id: str, content: str, message_id: str | None = None) -> Response:
        body: dict[str, Any] = {"content": content}
        if message_id is not None:
            body["messageId"] = message_id
        return self.request("POST", f"/conversations/{conversation_id}/messages", body)

    def wait(self, status_url: str, timeout: float = 120.0, interval: float = 0.1) -> tuple[dict[str, Any],
                                                                                             list[Any]]:
        """Poll the status URL until the instance is terminal; returns (status, customStatus values seen)."""
        seen: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resp = self.request("GET", status_url)
            if resp.status in (200, 202) and isinstance(resp.body, dict):
                custom = resp.body.get("customStatus")
                if custom and (not seen or seen[-1] != custom):
                    seen.append(custom)
                if resp.body.get("runtimeStatus") in ("Completed", "Failed", "Terminated", "Canceled"):
                    return resp.body, seen
            time.sleep(interval)
        raise TimeoutError(f"{status_url} not finished after {timeout}s; custom statuses: {seen}")


def _decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except json.JSONDecodeError:
        return data.decode(errors="replace")
