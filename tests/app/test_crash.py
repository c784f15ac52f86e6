"""The app under SIGKILLs of its host (bounded form of ``python -m bench.app_crash``): every turn completes
exactly once and in order, no transcript shows calls of an orphaned run, and no provider run is created twice
except inside a step's residual window (at most one here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.app_crash import crash_run

pytestmark = pytest.mark.slow


def test_sigkilled_host_loses_and_doubles_nothing(tmp_path: Path) -> None:
    result = crash_run(tmp_path, conversations=4, messages=2, kills=2, seed=11)
    assert result.problems == [] and result.completed_in_order == result.turns == 8
    assert result.phantom_calls == 0
    assert 0 <= result.extra_runs <= 1, result
