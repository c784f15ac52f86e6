"""Session fixtures for the infra checks: one checkov scan and one parse of every template per test run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra._bicep import Template, parse_files
from tests.infra._checkov import CheckovReport, run_checkov
from tests.infra._paths import AZURE_YAML, INFRA_DIR, bicep_files


@pytest.fixture(scope="session")
def checkov_report() -> CheckovReport:
    """checkov over infra/ (the CI gate)."""
    return run_checkov(INFRA_DIR)


@pytest.fixture(scope="session")
def parsed() -> tuple[dict[str, Template], dict[str, Any], dict[str, str]]:
    return parse_files([*bicep_files(), AZURE_YAML])


@pytest.fixture(scope="session")
def templates(parsed: tuple[dict[str, Template], dict[str, Any], dict[str, str]]) -> dict[str, Template]:
    """Every Bicep file that parsed, by repo-relative path."""
    return parsed[0]


@pytest.fixture(scope="session")
def azure_yaml(parsed: tuple[dict[str, Template], dict[str, Any], dict[str, str]]) -> Any:
    return parsed[1]["azure.yaml"]


@pytest.fixture(scope="session")
def parse_errors(parsed: tuple[dict[str, Template], dict[str, Any], dict[str, str]]) -> dict[str, str]:
    return parsed[2]
