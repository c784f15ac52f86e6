"""scripts/bootstrap.d/infra-tools.sh: checkov in its own venv, and a repeated bootstrap does nothing."""

from __future__ import annotations

import re
import subprocess

from tests.infra._paths import BOOTSTRAP_HOOK, REPO_ROOT, TOOLS_PYTHON, TOOLS_VENV, require_tools

_CHECKOV_VERSION = "import importlib.metadata as m; print(m.version('checkov'))"


def _source_hook() -> subprocess.CompletedProcess[str]:
    # The same way scripts/bootstrap.sh runs it: sourced, from the repo root, with strict mode on.
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; py=python3.11; . "{BOOTSTRAP_HOOK}"'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_hook_is_idempotent_and_quiet() -> None:
    require_tools()
    first = _source_hook()
    assert first.returncode == 0, first.stderr
    stamp = (TOOLS_VENV / ".bootstrap-infra-tools").read_text()

    second = _source_hook()

    assert second.returncode == 0, second.stderr
    assert second.stdout == "" and second.stderr == "", "a second bootstrap must not reinstall or print"
    assert (TOOLS_VENV / ".bootstrap-infra-tools").read_text() == stamp


def test_checkov_is_isolated_from_the_app_venv() -> None:
    require_tools()
    version = subprocess.run(
        [str(TOOLS_PYTHON), "-c", _CHECKOV_VERSION], capture_output=True, text=True, timeout=60, check=True
    )
    pin = re.search(r"infra_tools_pin='checkov==([^']+)'", BOOTSTRAP_HOOK.read_text())
    assert pin, "the hook no longer pins checkov"
    assert version.stdout.strip() == pin[1]
    app_venv = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "python"), "-c", _CHECKOV_VERSION],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert app_venv.returncode != 0, "checkov leaked into the app's .venv"
