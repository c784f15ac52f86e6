"""checkov over infra/: no failed check, and every suppression says why (issue 5: offline checks in CI)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.infra._checkov import CheckovReport, run_checkov
from tests.infra._paths import INFRA_DIR

# A suppression is a decision someone has to be able to review: it needs a sentence, not a word.
MIN_REASON_CHARS = 20


def test_checkov_reports_no_failed_check(checkov_report: CheckovReport) -> None:
    failures = "\n".join(f.describe() for f in checkov_report.failed)
    assert not checkov_report.failed, (
        "checkov failed checks; fix the Bicep or suppress inline inside the resource with "
        f"`// checkov:skip=ID: reason`:\n{failures}"
    )


def test_checkov_parsed_every_template(checkov_report: CheckovReport) -> None:
    # A file checkov cannot parse is silently not checked; count that as a failure.
    assert checkov_report.parsing_errors == 0
    scanned = {Path(f.file).name for f in [*checkov_report.passed, *checkov_report.skipped]}
    assert {"storage.bicep", "function-app.bicep", "openai.bicep", "keyvault.bicep"} <= scanned


def test_every_suppression_gives_a_reason(checkov_report: CheckovReport) -> None:
    unexplained = [
        f.describe()
        for f in checkov_report.skipped
        if len((f.suppress_comment or "").strip(" :")) < MIN_REASON_CHARS
    ]
    assert not unexplained, "suppressions without a reason:\n" + "\n".join(unexplained)


def test_checkov_flags_an_insecure_change(tmp_path: Path) -> None:
    """The gate can fail: a weakened storage account and a dropped suppression both show up as failures."""
    copy = tmp_path / "storage.bicep"
    shutil.copy(INFRA_DIR / "modules" / "storage.bicep", copy)
    text = copy.read_text()
    assert "minimumTlsVersion: 'TLS1_2'" in text
    weakened = text.replace("minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'")
    weakened = "\n".join(line for line in weakened.splitlines() if "checkov:skip=CKV_AZURE_35" not in line)
    copy.write_text(weakened + "\n")

    failed = {f.check_id for f in run_checkov(copy).failed}

    assert {"CKV_AZURE_44", "CKV_AZURE_35"} <= failed
