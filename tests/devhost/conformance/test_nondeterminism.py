"""A code change between host restarts that alters replayed decisions must fail the instance (spec 2.5 step 3)."""

from __future__ import annotations

from typing import Any

from ._http import call, status_url, wait_until
from ._tables import OC, OS, assert_history, assert_well_formed, event_rows
from .conftest import Conformance


def has_completed_first_activity(conformance: Conformance, instance_id: str) -> bool:
    status: dict[str, Any] = call("GET", status_url(conformance.webhooks, instance_id, showHistory="true")).json()
    return any(e["EventType"] == "TaskCompleted" for e in status.get("historyEvents") or [])


def test_changed_decision_on_replay_fails_the_instance(conformance: Conformance) -> None:
    flag = conformance.state_dir / "nondeterminism-flag"
    flag.unlink(missing_ok=True)
    instance_id = conformance.start_id("nondeterministic")
    wait_until(lambda: has_completed_first_activity(conformance, instance_id), what="the first activity")

    # "Deploy" the changed orchestrator: crash the host, flip the branch, start it again.
    conformance.devhost.kill()
    flag.touch()
    conformance.devhost.start()
    raised = call("POST", f"{conformance.webhooks}/instances/{instance_id}/raiseEvent/Go", json_body="now")
    assert raised.status == 202, raised.body

    status = conformance.wait(instance_id)
    assert status["runtimeStatus"] == "Failed", status
    normalized = str(status["output"]).lower().replace("-", "")
    assert "nondeterministic" in normalized, status["output"]

    record, history = assert_well_formed(conformance.tables, instance_id)
    assert record["RuntimeStatus"] == "Failed"
    assert_history(
        history,
        [
            OS, ("ExecutionStarted", -1, {"Name": "nondeterministic"}), ("TaskScheduled", 0, {"Name": "hello"}), OC,
            OS, ("TaskCompleted", -1, {"TaskScheduledId": 0, "Result": '"Hello first"'}), OC,
        ],
        prefix=True,
    )
    tail = event_rows(history)[7:]
    assert [r["EventType"] for r in tail] == [
        "OrchestratorStarted", "EventRaised", "ExecutionCompleted", "OrchestratorCompleted",
    ]
    assert tail[2]["OrchestrationStatus"] == "Failed"
    assert not any(r["EventType"] == "TaskScheduled" and r["Name"] == "hello_changed" for r in event_rows(history))


def test_new_instances_run_the_changed_code(conformance: Conformance) -> None:
    flag = conformance.state_dir / "nondeterminism-flag"
    flag.touch()
    try:
        instance_id = conformance.start_id("nondeterministic")
        wait_until(lambda: has_completed_first_activity(conformance, instance_id), what="the first activity")
        assert call("POST", f"{conformance.webhooks}/instances/{instance_id}/raiseEvent/Go", json_body=1).status == 202
        status = conformance.wait(instance_id)
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == {"first": "Changed first", "go": 1}
    finally:
        flag.unlink(missing_ok=True)
