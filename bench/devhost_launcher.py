"""Run `python -m devhost start ...` as a child process: start, wait until it answers, SIGKILL, restart, stop.

Shared by the devhost conformance suite (tests/devhost/conformance) and the benchmark (bench/devhost_bench.py),
which both treat devhost as a black box reached over HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devhost.azurite import REPO_ROOT, free_port

VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
CONFORMANCE_APP_DIR = REPO_ROOT / "tests" / "devhost" / "conformance_app"


class DevhostLaunchError(RuntimeError):
    """devhost exited or never answered; the message carries the tail of its log."""


@dataclass
class DevhostConfig:
    app_dir: Path
    storage: str
    hub: str
    log_path: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    verbose: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    startup_timeout: float = 60.0
    source_dir: Path = REPO_ROOT
    """The checkout whose ``devhost`` package runs (the child's working directory): the benchmark can run an
    older checkout side by side with this one."""


@dataclass
class DevhostProcess:
    """One devhost child process; the port is fixed for its lifetime so status URLs stay valid across restarts."""

    config: DevhostConfig
    starts: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/runtime/webhooks/durabletask"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def command(self) -> list[str]:
        cfg = self.config
        args = [
            str(VENV_PYTHON), "-m", "devhost", "start",
            "--app", str(cfg.app_dir),
            "--host", cfg.host,
            "--port", str(cfg.port),
            "--storage", cfg.storage,
            "--hub", cfg.hub,
        ]
        if cfg.verbose:
            args.append("--verbose")
        return args

    def start(self) -> DevhostProcess:
        if self._proc is not None and self._proc.poll() is None:
            raise DevhostLaunchError("devhost is already running")
        self.config.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.config.log_path.open("ab")
        log.write(f"\n===== start #{self.starts + 1}: {' '.join(self.command())}\n".encode())
        log.flush()
        env = {**os.environ, **self.config.extra_env}
        # Own session so a SIGKILL of the group also takes any helper processes devhost may spawn.
        self._proc = subprocess.Popen(
            self.command(), cwd=self.config.source_dir, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        self.starts += 1
        self._wait_until_answering()
        return self

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        probe = f"{self.webhook_url}/instances/devhost-readiness-probe"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = self._proc.returncode if self._proc else None
                raise DevhostLaunchError(f"devhost exited with code {code} during startup\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(probe, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer (404 for the unknown probe instance) means the server is up
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.kill()
        raise DevhostLaunchError(
            f"devhost did not answer on {self.base_url} within {self.config.startup_timeout:.0f}s\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL (a crash, no graceful shutdown) the process group this object started."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def restart(self) -> DevhostProcess:
        self.kill()
        return self.start()

    def stop(self) -> None:
        """Graceful stop (SIGTERM), escalating to SIGKILL."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
        self.kill()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.config.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no devhost log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> DevhostProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
