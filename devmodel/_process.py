"""Run ``python -m devmodel serve`` as a child process (for tests, benchmarks and the local stack)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent


class DevModelStartError(RuntimeError):
    """The server exited or did not answer /health in time; the message carries its output."""


@dataclass
class DevModelProcess:
    """``with DevModelProcess(port=free_port()) as server: OpenAI(base_url=server.base_url, ...)``.

    ``args`` are extra CLI flags, e.g. ``["--engine", "llama"]`` or ``["--scenario", "my.json"]``.
    """

    port: int
    args: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    startup_timeout: float = 60.0
    log_path: Path | None = None
    """Where the server's output goes (default: a temporary file); shown in the error if start-up fails."""
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.port}/health", timeout=1) as reply:
                body: dict[str, object] = json.loads(reply.read())
                return body
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def start(self) -> None:
        command = [sys.executable, "-m", "devmodel", "serve", "--host", self.host, "--port", str(self.port), *self.args]
        # A file, never a pipe: a pipe nobody reads would block the server once its buffer fills.
        log: IO[bytes] = open(self.log_path, "w+b") if self.log_path else tempfile.TemporaryFile()  # noqa: SIM115
        self._log = log
        self._proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")
                code = self._proc.returncode
                self.stop()
                raise DevModelStartError(f"devmodel exited with {code}: {output.strip()}")
            if self.health() is not None:
                return
            time.sleep(0.05)
        self.stop()
        raise DevModelStartError(f"devmodel did not answer /health within {self.startup_timeout} s")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._proc = None

    def __enter__(self) -> DevModelProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
