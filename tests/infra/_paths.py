"""Where the infra checks find the templates and the offline tools (installed by scripts/bootstrap.d/infra-tools.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
MAIN_TEMPLATE = INFRA_DIR / "main.bicep"
MAIN_PARAMETERS = INFRA_DIR / "main.parameters.json"
FUNCTION_APP_TEMPLATE = INFRA_DIR / "modules" / "function-app.bicep"
AZURE_YAML = REPO_ROOT / "azure.yaml"
BOOTSTRAP_HOOK = REPO_ROOT / "scripts" / "bootstrap.d" / "infra-tools.sh"

# checkov lives in its own venv: its pinned dependency tree must not be resolved against the app's.
TOOLS_VENV = REPO_ROOT / ".venv-tools"
TOOLS_PYTHON = TOOLS_VENV / "bin" / "python"
CHECKOV = TOOLS_VENV / "bin" / "checkov"


def require_tools() -> None:
    """Fail (never skip) when the offline checker is missing: CI must not go green without running it."""
    for tool in (TOOLS_PYTHON, CHECKOV):
        if not tool.exists():
            pytest.fail(
                f"{tool.relative_to(REPO_ROOT)} is missing: run `bash scripts/bootstrap.sh` "
                "(its hook scripts/bootstrap.d/infra-tools.sh installs checkov into .venv-tools)",
                pytrace=False,
            )


def bicep_files() -> list[Path]:
    """Every Bicep file of the template, main first."""
    return sorted(INFRA_DIR.rglob("*.bicep"), key=lambda p: (p != MAIN_TEMPLATE, str(p)))


def rel(path: Path) -> str:
    """Repo-relative POSIX path, the key used for parsed templates."""
    return path.resolve().relative_to(REPO_ROOT).as_posix()
