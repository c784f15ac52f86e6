"""Find, start and stop Azurite (the Azure Storage emulator from npm) for the local stack and the tests."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("devhost.azurite")
REPO_ROOT = Path(__file__).resolve().parent.parent

# Azurite's fixed development account (public, documented by Microsoft; not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEFAULT_PORTS = (10000, 10001, 10002)


def _log_since(log_path: Path, offset: int) -> bytes:
    """What Azurite wrote to ``log_path`` after ``offset`` (this start's part of the log)."""
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            return log.read()
    except OSError:
        return b""


def _last_line(text: bytes) -> str:
    lines = text.decode("utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else "nothing"


class AzuriteError(RuntimeError):
    """Azurite could not be found or did not start."""


def connection_string(host: str = "127.0.0.1", ports: tuple[int, int, int] = DEFAULT_PORTS) -> str:
    """The connection string for an Azurite listening on ``host`` with (blob, queue, table) ports."""
    blob, queue, table = ports
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{blob}/{ACCOUNT_NAME};"
        f"QueueEndpoint=http://{host}:{queue}/{ACCOUNT_NAME};"
        f"TableEndpoint=http://{host}:{table}/{ACCOUNT_NAME};"
    )


def is_listening(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_azurite() -> Path:
    """The azurite executable: $DEVHOST_AZURITE_BIN, the project's node_modules, or PATH."""
    candidates = [os.environ.get("DEVHOST_AZURITE_BIN", ""), str(REPO_ROOT / "node_modules" / ".bin" / "azurite")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    found = shutil.which("azurite")
    if found:
        return Path(found)
    raise AzuriteError(
        "azurite not found: run `bash scripts/bootstrap.sh` (installs it from npm into node_modules) "
        "or set DEVHOST_AZURITE_BIN"
    )


@dataclass
class AzuriteProcess:
    """An Azurite child process with its data in ``data_dir``; ``start()`` waits until all three services listen."""

    data_dir: Path
    host: str = "127.0.0.1"
    ports: tuple[int, int, int] = DEFAULT_PORTS
    startup_timeout: float = 30.0
    in_memory: bool = False
    """Keep data in memory only (``--inMemoryPersistence``): for throw-away test instances, which then stop fast."""
    adopted: bool = field(default=False, init=False)
    """True when ``start()`` found another Azurite on the ports and uses it instead of its own."""
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def connection_string(self) -> str:
        return connection_string(self.host, self.ports)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> AzuriteProcess:
        """Start Azurite and wait until it listens. If another process (typically a second devhost started at
        the same moment) brings an Azurite up on these ports first, wait for it and use that one instead: then
        ``adopted`` is True and ``stop()`` leaves it running, since this object does not own it."""
        deadline = time.monotonic() + self.startup_timeout
        if any(is_listening(self.host, p) for p in self.ports):
            return self._adopt(deadline, reason="already in use")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        blob, queue, table = self.ports
        args = [
            str(find_azurite()),
            "--silent",
            "--skipApiVersionCheck",
            "--disableProductStyleUrl",
            "--blobHost", self.host, "--blobPort", str(blob),
            "--queueHost", self.host, "--queuePort", str(queue),
            "--tableHost", self.host, "--tablePort", str(table),
        ]
        # Azurite refuses --location together with --inMemoryPersistence.
        args += ["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.data_dir)]
        log_path = self.data_dir / "azurite.log"
        log_start = log_path.stat().st_size if log_path.exists() else 0
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
        # cwd: even in memory, Azurite drops its config and db files into the working directory.
        self._proc = subprocess.Popen(
            args, cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        answering_since: float | None = None
        while time.monotonic() < deadline:
            code = self._proc.poll()
            log_text = _log_since(log_path, log_start)
            if code is not None or b"EADDRINUSE" in log_text:
                # Another Azurite took a port between our check and our start (a second devhost started at the
                # same moment): ours exits, and the winner is used once it answers on all three ports.
                lost = b"EADDRINUSE" in log_text or any(is_listening(self.host, p) for p in self.ports)
                if lost:
                    self.stop()
                    return self._adopt(deadline, reason=f"taken while starting (Azurite said: {_last_line(log_text)})")
                self._proc = None
                raise AzuriteError(f"Azurite exited with code {code}; see {log_path}")
            if all(is_listening(self.host, p) for p in self.ports):
                # The ports answering may be the winner's while ours is still failing: ours is up when it says
                # so itself (three "successfully listening" lines), or has stayed up for a while if it does not.
                answering_since = answering_since or time.monotonic()
                if log_text.count(b"successfully listening") >= 3 or time.monotonic() - answering_since > 3:
                    return self
            time.sleep(0.1)
        self.stop()
        raise AzuriteError(f"Azurite did not listen on {self.ports} within {self.startup_timeout:.0f}s")

    def _adopt(self, deadline: float, *, reason: str) -> AzuriteProcess:
        """Wait until something answers on all three ports and use it (it is not ours to stop)."""
        while time.monotonic() < deadline:
            if all(is_listening(self.host, p) for p in self.ports):
                self.adopted = True
                log.info("using the Azurite that answers on %s:%s (ports %s)", self.host, self.ports, reason)
                return self
            time.sleep(0.1)
        busy = [p for p in self.ports if is_listening(self.host, p)]
        raise AzuriteError(
            f"cannot start Azurite: port(s) {busy or list(self.ports)} on {self.host} are {reason}, "
            f"but nothing answered on all of {list(self.ports)} within {self.startup_timeout:.0f}s"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> AzuriteProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
