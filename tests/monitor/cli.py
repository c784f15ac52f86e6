"""Run the installed `assistant` console script against a test stack: in a pty (as a person would) or as a
script would (no terminal)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.app.stack import REPO_ROOT
from tests.monitor.conftest import KeyedStack
from tests.monitor.terminal import Terminal

CLI_USER = "cli-tester"
"""DURABLE_ASSISTANT_USER of every run: the CLI's label for decisions and cancels."""
INSTALLED = Path(sys.executable).parent / "assistant"


def cli_env(stack: KeyedStack, key: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_ASSISTANT_")}
    env.update({"DURABLE_ASSISTANT_URL": stack.base_url, "DURABLE_ASSISTANT_KEY": key or stack.key,
                # this checkout's code, whichever checkout the shared venv's editable install points at
                "PYTHONPATH": str(REPO_ROOT), "DURABLE_ASSISTANT_USER": CLI_USER})
    return env


def terminal(stack: KeyedStack, *args: str, key: str | None = None) -> Terminal:
    return Terminal([str(INSTALLED), *args], cli_env(stack, key), str(REPO_ROOT))


def run(stack: KeyedStack, *args: str, key: str | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Without a terminal, as a script would call it (tables as wide as a wide terminal's)."""
    return subprocess.run([str(INSTALLED), *args], env={**cli_env(stack, key), "COLUMNS": "240"}, cwd=REPO_ROOT,
                          input=stdin,
                          capture_output=True, text=True, timeout=120)
