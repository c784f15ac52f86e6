"""Run checkov over Bicep and read its JSON report into typed findings."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.infra._paths import CHECKOV, REPO_ROOT, require_tools


@dataclass(frozen=True)
class Finding:
    """One check result on one resource."""

    check_id: str
    """checkov's id, e.g. CKV_AZURE_35."""
    check_name: str
    """What the check asks for."""
    resource: str
    """Resource type and symbolic name, e.g. Microsoft.Storage/storageAccounts.account."""
    file: str
    """File the resource is in, as checkov reports it."""
    suppress_comment: str | None = None
    """The reason after `checkov:skip=ID:` for a suppressed check."""

    def describe(self) -> str:
        return f"{self.check_id} ({self.check_name}) on {self.resource} in {self.file}"


@dataclass
class CheckovReport:
    """The parts of checkov's JSON report the tests assert on."""

    failed: list[Finding] = field(default_factory=list)
    skipped: list[Finding] = field(default_factory=list)
    passed: list[Finding] = field(default_factory=list)
    parsing_errors: int = 0
    resource_count: int = 0


def _finding(raw: dict[str, Any]) -> Finding:
    result = raw.get("check_result") or {}
    return Finding(
        check_id=raw["check_id"],
        check_name=raw.get("check_name", ""),
        resource=raw.get("resource", ""),
        file=raw.get("file_path", ""),
        suppress_comment=result.get("suppress_comment"),
    )


def _merge(report: CheckovReport, section: dict[str, Any]) -> None:
    # With nothing to report checkov prints only the summary; otherwise {"results": {...}, "summary": {...}}.
    summary = section.get("summary", section)
    report.parsing_errors += int(summary.get("parsing_errors", 0))
    report.resource_count += int(summary.get("resource_count", 0))
    results = section.get("results", {})
    report.failed += [_finding(r) for r in results.get("failed_checks", [])]
    report.skipped += [_finding(r) for r in results.get("skipped_checks", [])]
    report.passed += [_finding(r) for r in results.get("passed_checks", [])]


def run_checkov(target: Path) -> CheckovReport:
    """Scan a directory or one file with checkov's Bicep framework, offline.

    Not ``--quiet``: the JSON must list suppressed checks too, so their reasons can be checked.
    """
    require_tools()
    flag = "-d" if target.is_dir() else "-f"
    proc = subprocess.run(
        [
            str(CHECKOV),
            flag,
            str(target),
            "--framework",
            "bicep",
            "--skip-download",
            "--compact",
            "-o",
            "json",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Exit 1 means "some check failed" and still prints the report; anything else is a crash.
    if proc.returncode not in (0, 1):
        raise AssertionError(f"checkov crashed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    try:
        parsed: Any = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"checkov printed no JSON report ({exc}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        ) from exc
    report = CheckovReport()
    for section in parsed if isinstance(parsed, list) else [parsed]:
        _merge(report, section)
    return report
