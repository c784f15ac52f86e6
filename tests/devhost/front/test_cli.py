"""``python -m devhost start`` as a child process: startup failures exit 1 with a clear message; a real run
serves the app end to end on Azurite and shuts down cleanly on Ctrl-C (SIGINT to its process group)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devhost.azurite import AzuriteProcess, free_port

from .harness import APPS

REPO = Path(__file__).resolve().parents[3]


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "devhost", "start", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})}, start_new_session=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise
    return proc.returncode, out


def test_import_error_exits_1_with_the_traceback() -> None:
    code, out = _finish(_start("--app", str(APPS / "import_error"), "--port", str(free_port()),
                               "--storage", "UseDevelopmentStorage=true"))
    assert code == 1
    assert "the function app failed to load" in out
    assert "NameError: name 'MISSING_SETTING_NAME' is not defined" in out
    assert "broken_helper.py" in out and "Traceback (most recent call last)" in out


def test_invalid_orchestrator_exits_1() -> None:
    code, out = _finish(_start("--app", str(APPS / "bad_orchestrator"), "--port", str(free_port())))
    assert code == 1
    assert "cannot load the orchestrator function" in out


def test_busy_port_exits_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = _finish(_start("--app", str(APPS / "full"), "--port", str(port)))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out


def test_unreachable_storage_exits_1() -> None:
    dead = AzuriteProcess(data_dir=Path("/nonexistent"), ports=(free_port(), free_port(), free_port()))
    code, out = _finish(_start("--app", str(APPS / "full"), "--port", str(free_port()),
                               "--storage", dead.connection_string), timeout=120)
    assert code == 1
    assert "storage is unreachable" in out


def test_a_system_key_equal_to_another_key_exits_1() -> None:
    code, out = _finish(_start("--app", str(APPS / "full"), "--port", str(free_port()), "--enforce-keys",
                               env={"DEVHOST_FUNCTION_KEY": "same", "DEVHOST_SYSTEM_KEY": "same"}))
    assert code == 1
    assert "DEVHOST_FUNCTION_KEY, DEVHOST_MASTER_KEY and DEVHOST_SYSTEM_KEY must differ" in out


def test_missing_app_folder_exits_1(tmp_path: Path) -> None:
    code, out = _finish(_start("--app", str(tmp_path / "nowhere"), "--port", str(free_port())))
    assert code == 1
    assert "does not exist" in out


@dataclass
class RunningDevhost:
    origin: str
    proc: subprocess.Popen[str]
    queue: str
    queue_log: Path


@pytest.fixture(params=["worker process", "--in-process"])
def devhost_on_azurite(request: pytest.FixtureRequest, azurite: AzuriteProcess, tmp_path: Path) -> Iterator[RunningDevhost]:
    port = free_port()
    queue_log = tmp_path / "queue.jsonl"
    queue = f"frontq{uuid.uuid4().hex[:10]}"
    mode = ["--in-process"] if request.param == "--in-process" else []
    proc = _start("--app", str(APPS / "full"), "--port", str(port), "--storage", azurite.connection_string,
                  "--hub", f"Front{uuid.uuid4().hex[:12]}", *mode,
                  env={"FRONT_TEST_QUEUE": queue, "FRONT_TEST_QUEUE_LOG": str(queue_log)})
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"devhost exited early:\n{proc.communicate()[0]}")
        try:
            urllib.request.urlopen(f"{origin}/admin/host/status", timeout=2).close()
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.2)
    try:
        yield RunningDevhost(origin, proc, queue, queue_log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _request(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        text = exc.read().decode()
        return exc.code, json.loads(text) if text else None


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_serves_an_app_end_to_end_and_stops_on_ctrl_c(
    devhost_on_azurite: RunningDevhost, azurite: AzuriteProcess
) -> None:
    host = devhost_on_azurite
    # An orchestration through the app's own HTTP starter (durable client -> management API -> runtime).
    status, started = _request("POST", f"{host.origin}/api/orchestrators/hello_orchestrator", "Tokyo")
    assert status == 202
    payload: dict[str, Any] = {}

    def completed() -> bool:
        nonlocal payload
        _, payload = _request("GET", started["statusQueryGetUri"] + "&showHistory=true")
        return bool(payload["runtimeStatus"] == "Completed")

    _wait_for(completed, "the orchestration to complete")
    assert payload["output"] == "Hello Tokyo"
    assert [e["EventType"] for e in payload["historyEvents"]] == [
        "ExecutionStarted", "TaskCompleted", "ExecutionCompleted"]

    # The queue trigger: Base64 messages like the Functions host expects; one that always fails ends up in
    # <queue>-poison after 5 dequeues.
    encode = TextBase64EncodePolicy()
    with QueueClient.from_connection_string(azurite.connection_string, host.queue,
                                            message_encode_policy=encode) as queue:
        queue.send_message("hello queue")
        queue.send_message("fail please")

    def log_entries() -> list[dict[str, Any]]:
        if not host.queue_log.exists():
            return []
        return [json.loads(line) for line in host.queue_log.read_text().splitlines()]

    poison = QueueClient.from_connection_string(azurite.connection_string, f"{host.queue}-poison")

    def poisoned() -> bool:
        try:
            return len(poison.peek_messages(max_messages=5)) == 1
        except ResourceNotFoundError:
            return False

    _wait_for(poisoned, "the failing message to reach the poison queue")
    entries = log_entries()
    assert [e["dequeue_count"] for e in entries if e["body"] == "fail please"] == [1, 2, 3, 4, 5]
    assert sorted(e["body"] for e in entries if e["dequeue_count"] == 1) == ["fail please", "hello queue"]
    assert poison.peek_messages()[0].content == encode.encode("fail please")
    poison.close()

    # Ctrl-C in a terminal signals the whole process group (devhost and its worker): devhost stops in order, and
    # the worker, which ignores it, is not lost before devhost has finished.
    os.killpg(host.proc.pid, signal.SIGINT)
    code, out = _finish(host.proc)
    assert code == 0, out
    assert "shutting down" in out
    assert "worker process exited" not in out
    assert "function=every_second kind=timer" in out  # the timer (runOnStartup, every second) ran
    assert "Unclosed client session" not in out
