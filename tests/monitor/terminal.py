"""Run a program in a real pseudo-terminal (as a person's shell would), type into it and read its screen output."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\r")


def plain(text: str) -> str:
    """Terminal output without colour and cursor sequences."""
    return _ANSI.sub("", text)


@dataclass
class Terminal:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    output: str = ""
    _chunks: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._master, slave = os.openpty()
        env = {**self.env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        self.proc = subprocess.Popen(self.argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=self.cwd,
                                     start_new_session=True)
        os.close(slave)

    def _pump(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: the program closed the terminal
            return False
        if not data:
            return False
        self._chunks.append(data)
        self.output = plain(b"".join(self._chunks).decode(errors="replace"))
        return True

    def expect(self, pattern: str, timeout: float = 60.0, after: int = 0) -> re.Match[str]:
        """Wait for ``pattern`` in the output (from position ``after``: see mark)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output[after:])
            if found:
                return found
            if not self._pump(0.1) and not re.search(pattern, self.output[after:]):
                break
        raise AssertionError(f"{pattern!r} did not appear; screen so far:\n{self.output}")

    def mark(self) -> int:
        """Where the output ends now: ``expect(..., after=mark)`` ignores what came before."""
        return len(self.output)

    def type(self, line: str) -> None:
        os.write(self._master, line.encode() + b"\r")

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the program's process group, as a terminal sends it to its foreground job."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._pump(0.1)
        while select.select([self._master], [], [], 0.2)[0] and self._pump(0):
            pass  # what the program wrote before it exited
        code = self.proc.wait(timeout=max(deadline - time.monotonic(), 1))
        os.close(self._master)
        return code

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:  # a failed test must not leave the program running
            self.proc.kill()
            self.proc.wait(timeout=10)
