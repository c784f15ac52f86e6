"""One test per Durable Functions pattern: outputs, and the exact History rows the real host would write.

Expected row sequences are derived from the spec (section 9 for chaining, 2.5 for retries, 2.7 timers, 2.9
sub-orchestrations / continue-as-new / events, 2.10 payload encodings), not from devhost's code.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.blob import BlobServiceClient

from ._http import call, status_url, wait_until
from ._tables import OC, OS, DfmHistory, Expected, assert_history, assert_well_formed, event_rows
from .conftest import Conformance

CITIES = ("Tokyo", "Seattle", "London")


def compact(value: Any) -> str:
    """Newtonsoft Formatting.None, as the host serializes results (spec 2.10)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sdk_text(value: Any) -> str:
    """What a value sent by the Python SDK (df_dumps, then JSON-encoded again) is stored as."""
    return json.dumps(json.dumps(value), ensure_ascii=False)


def task_done(tsid: int, result: Any) -> Expected:
    return ("TaskCompleted", -1, {"TaskScheduledId": tsid, "Result": compact(result)})


def scheduled(event_id: int, name: str) -> Expected:
    # Inputs are not stored on TaskScheduled rows by default (storeInputsInOrchestrationHistory=false).
    return ("TaskScheduled", event_id, {"Name": name, "Version": "", "Input": None})


def completed(event_id: int, result: Any, status: str = "Completed") -> Expected:
    return ("ExecutionCompleted", event_id, {"OrchestrationStatus": status, "Result": compact(result)})


def rows_of(history: DfmHistory) -> list[dict[str, Any]]:
    return event_rows(history)


def episode_start(rows: list[dict[str, Any]], index: int) -> datetime:
    """The OrchestratorStarted timestamp (the orchestration's current_utc_datetime) of the row's episode."""
    for row in reversed(rows[:index]):
        if row["EventType"] == "OrchestratorStarted":
            start: datetime = row["_Timestamp"]
            return start
    raise AssertionError(f"row {index} has no OrchestratorStarted before it")


def assert_close(actual: datetime, expected: datetime, what: str) -> None:
    assert abs(actual - expected) < timedelta(milliseconds=2), f"{what}: {actual.isoformat()} != {expected.isoformat()}"


def history_projection(events: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    return [(e["EventType"], e.get("FunctionName"), e.get("Result")) for e in events]


# -------------------------------------------------------------------------------------------------------------


def test_chaining_rows_match_spec_section_9(conformance: Conformance) -> None:
    instance_id, status = conformance.run("hello_sequence", {"a": 1})
    greetings = [f"Hello {c}" for c in CITIES]
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == greetings

    record, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    assert record["Name"] == "hello_sequence"
    assert record["Version"] == ""
    assert record["Input"] == sdk_text({"a": 1})
    assert record["Output"] == compact(greetings)
    assert record["CustomStatus"] == "null"
    assert record["RuntimeStatus"] == "Completed"
    assert record["TaskHubName"] == conformance.hub
    assert record["LastUpdatedTime"] >= record["CreatedTime"]

    expected: list[Expected] = [
        OS,
        ("ExecutionStarted", -1, {"Name": "hello_sequence", "Version": "", "Input": sdk_text({"a": 1})}),
        scheduled(0, "hello"),
        OC,
    ]
    for step, greeting in enumerate(greetings):
        expected += [OS, task_done(step, greeting)]
        expected += [scheduled(step + 1, "hello"), OC] if step < 2 else [completed(3, greetings), OC]
    assert_history(history, expected)

    rows = rows_of(history)
    # Spec 6.3: CreatedTime is the ExecutionStarted timestamp, LastUpdatedTime the last new event's.
    assert_close(record["CreatedTime"], rows[1]["_Timestamp"], "Instances.CreatedTime")
    assert_close(record["LastUpdatedTime"], rows[-1]["_Timestamp"], "Instances.LastUpdatedTime")
    assert record["CompletedTime"] >= rows[-2]["_Timestamp"] - timedelta(milliseconds=2)
    assert record.get("Generation", 0) == 0
    started = rows[1]
    assert json.loads(started["OrchestrationInstance"]) == {
        "InstanceId": instance_id,
        "ExecutionId": history.execution_id,
    }
    assert history.completions_by_id.keys() == {0, 1, 2}


def test_chaining_isplayed_flags(conformance: Conformance) -> None:
    """Spec 2.2/9: events the orchestrator processed are IsPlayed=true (except OrchestratorStarted); decisions false."""
    instance_id, _ = conformance.run("hello_sequence", {"a": 1})
    _, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    flags = [(r["EventType"], r["IsPlayed"]) for r in rows_of(history)]
    played = {"ExecutionStarted", "TaskCompleted"}
    assert flags == [(kind, kind in played) for kind, _ in flags]


def test_chaining_status_api_history_events(conformance: Conformance) -> None:
    """Spec 5: historyEvents drops Orchestrator* rows, merges TaskScheduled into its completion, names the types."""
    instance_id, status = conformance.run("hello_sequence", {"a": 1})
    events = status["historyEvents"]
    greetings = [f"Hello {c}" for c in CITIES]
    assert history_projection(events) == [
        ("ExecutionStarted", "hello_sequence", None),
        *[("TaskCompleted", "hello", g) for g in greetings],
        ("ExecutionCompleted", None, greetings),
    ]
    for event in events:
        assert not {"EventId", "IsPlayed", "TaskScheduledId"} & event.keys(), event
    assert events[-1]["OrchestrationStatus"] == "Completed"
    for event in events[1:4]:
        assert "ScheduledTime" in event and "Timestamp" in event, event
    without_output = call("GET", status_url(conformance.webhooks, instance_id, showHistory="true")).json()
    assert all("Result" not in e for e in without_output["historyEvents"]), "Result only with showHistoryOutput"


def test_sdk_client_sees_the_same_status(conformance: Conformance) -> None:
    instance_id, _ = conformance.run("hello_sequence", {"a": 1})
    result = conformance.client_status(instance_id)
    assert result.status == 200, result.body
    status = result.json()
    assert status["runtimeStatus"] == "Completed"
    assert status["name"] == "hello_sequence"
    assert status["input"] == '{"a": 1}'
    assert status["output"] == [f"Hello {c}" for c in CITIES]
    assert status["history"] is None, "the SDK reads `history`, the host answers `historyEvents` (spec 4.2)"
    assert [e["EventType"] for e in status["historyEvents"]] == [
        "ExecutionStarted", "TaskCompleted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted",
    ]


def test_sdk_wait_for_completion_returns_the_output(conformance: Conformance) -> None:
    result = call("POST", f"{conformance.api}/client/start_and_wait/hello_sequence", json_body={"a": 1})
    assert result.status == 200, result.body
    assert result.json() == [f"Hello {c}" for c in CITIES]


def test_fan_out_fan_in_50(conformance: Conformance) -> None:
    count = 50
    instance_id, status = conformance.run("fan_out", {"count": count})
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"count": count, "sum": sum(i * i for i in range(count))}

    _, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    first_episode = [OS, ("ExecutionStarted", -1, {"Name": "fan_out"})] + [scheduled(i, "square") for i in range(count)]
    assert_history(history, [*first_episode, OC], prefix=True)
    rows = rows_of(history)
    results = {r["TaskScheduledId"]: r["Result"] for r in rows if r["EventType"] == "TaskCompleted"}
    assert results == {i: compact(i * i) for i in range(count)}
    finished = [r for r in rows if r["EventType"] == "ExecutionCompleted"]
    assert [(r["EventId"], r["OrchestrationStatus"]) for r in finished] == [(count, "Completed")]
    assert rows[-2]["EventType"] == "ExecutionCompleted" and rows[-1]["EventType"] == "OrchestratorCompleted"
    events = status["historyEvents"]
    assert sum(1 for e in events if e["EventType"] == "TaskCompleted") == count


def attempts(conformance: Conformance, key: str) -> int:
    path = conformance.state_dir / f"attempts-{key}.log"
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def test_activity_retry_succeeds_on_third_attempt(conformance: Conformance) -> None:
    instance_id, status = conformance.run("retry_flaky")
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == "succeeded on attempt 3"
    assert attempts(conformance, instance_id) == 3

    _, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    failed = "Activity function 'flaky' failed:  ValueError: flaky attempt {} failed"  # double space: spec 3
    assert_history(
        history,
        [
            OS, ("ExecutionStarted", -1, {"Name": "retry_flaky"}), scheduled(0, "flaky"), OC,
            OS, ("TaskFailed", -1, {"TaskScheduledId": 0, "Reason": failed.format(1)}), ("TimerCreated", 1, {}), OC,
            OS, ("TimerFired", -1, {"TimerId": 1}), scheduled(2, "flaky"), OC,
            OS, ("TaskFailed", -1, {"TaskScheduledId": 2, "Reason": failed.format(2)}), ("TimerCreated", 3, {}), OC,
            OS, ("TimerFired", -1, {"TimerId": 3}), scheduled(4, "flaky"), OC,
            OS, task_done(4, "succeeded on attempt 3"), completed(5, "succeeded on attempt 3"), OC,
        ],
    )
    rows = rows_of(history)
    for index, row in enumerate(rows):
        if row["EventType"] == "TimerCreated":
            # RetryInterceptor: FireAt = current_utc_datetime + firstRetryInterval (backoff coefficient 1).
            assert_close(row["FireAt"], episode_start(rows, index) + timedelta(seconds=1), f"timer {row['EventId']}")
    fired = {r["TimerId"]: r["FireAt"] for r in rows if r["EventType"] == "TimerFired"}
    created = {r["EventId"]: r["FireAt"] for r in rows if r["EventType"] == "TimerCreated"}
    assert fired == created


def test_activity_retry_exhausted_fails_the_orchestration(conformance: Conformance) -> None:
    instance_id, status = conformance.run("retry_always_fails")
    assert status["runtimeStatus"] == "Failed", status
    output = status["output"]
    assert output.startswith("Orchestrator function 'retry_always_fails' failed: "), output
    assert "Activity function 'always_fails' failed:" in output and "always fails (attempt 3)" in output, output
    assert attempts(conformance, instance_id) == 3

    record, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    # The status API parses Output like .NET's ParseToJToken (which trims), so compare without edge whitespace.
    assert record["Output"].strip() == output.strip()
    expected: list[Expected] = [OS, ("ExecutionStarted", -1, {"Name": "retry_always_fails"}), scheduled(0, "always_fails"), OC]
    for attempt in range(3):
        task_id = attempt * 2
        expected += [OS, ("TaskFailed", -1, {"TaskScheduledId": task_id}), ("TimerCreated", task_id + 1, {}), OC]
        expected += [OS, ("TimerFired", -1, {"TimerId": task_id + 1})]
        expected += [scheduled(task_id + 2, "always_fails"), OC] if attempt < 2 else []
    expected += [("ExecutionCompleted", 6, {"OrchestrationStatus": "Failed", "Result": record["Output"]}), OC]
    assert_history(history, expected)
    rows = rows_of(history)
    last_timer = next(i for i, r in enumerate(rows) if r["EventType"] == "TimerCreated" and r["EventId"] == 5)
    # After the final failed attempt DTFx waits on a "dummy" timer with FireAt = now before surfacing the error.
    assert_close(rows[last_timer]["FireAt"], episode_start(rows, last_timer), "final retry timer")


def test_sub_orchestrations_default_and_explicit_ids(conformance: Conformance) -> None:
    instance_id, status = conformance.run("sub_parent")
    first = {"greeting": "Hello Oslo", "parent": instance_id}
    second = {"greeting": "Hello Lima", "parent": instance_id}
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == [first, second]

    record, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    generated_id = f"{record['ExecutionId']}:0"
    explicit_id = f"{instance_id}-explicit"
    created = "SubOrchestrationInstanceCreated"
    assert_history(
        history,
        [
            OS, ("ExecutionStarted", -1, {"Name": "sub_parent"}),
            (created, 0, {"Name": "sub_child", "Version": "", "InstanceId": generated_id}), OC,
            OS, ("SubOrchestrationInstanceCompleted", -1, {"TaskScheduledId": 0, "Result": compact(first)}),
            (created, 1, {"Name": "sub_child", "Version": "", "InstanceId": explicit_id}), OC,
            OS, ("SubOrchestrationInstanceCompleted", -1, {"TaskScheduledId": 1, "Result": compact(second)}),
            completed(2, [first, second]), OC,
        ],
    )
    for task_id, (child_id, city, output) in enumerate(((generated_id, "Oslo", first), (explicit_id, "Lima", second))):
        child_record, child_history = assert_well_formed(conformance.tables, child_id)
        assert child_record["Name"] == "sub_child" and child_record["RuntimeStatus"] == "Completed"
        assert child_record["Output"] == compact(output)
        child_started = rows_of(child_history)[1]
        assert child_started["Input"] == sdk_text({"city": city})
        parent = json.loads(child_started["ParentInstance"])
        assert parent["Name"] == "sub_parent" and parent["TaskScheduleId"] == task_id, parent
        assert parent["OrchestrationInstance"] == {"InstanceId": instance_id, "ExecutionId": record["ExecutionId"]}
        child_status = call("GET", status_url(conformance.webhooks, child_id))
        assert child_status.status == 200 and child_status.json()["output"] == output
    # DFM parent resolution (spec 7.3/7.5): "<parentExecutionId>:<n>" names the parent's Instances.ExecutionId.
    assert generated_id.rsplit(":", 1)[0] == record["ExecutionId"]


def test_sub_orchestration_with_retry(conformance: Conformance) -> None:
    instance_id, status = conformance.run("sub_parent_retry")
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"attempt": 2}

    record, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    execution = record["ExecutionId"]
    created = "SubOrchestrationInstanceCreated"
    assert_history(
        history,
        [
            OS, ("ExecutionStarted", -1, {"Name": "sub_parent_retry"}),
            (created, 0, {"Name": "sub_flaky_child", "InstanceId": f"{execution}:0"}), OC,
            OS, ("SubOrchestrationInstanceFailed", -1, {"TaskScheduledId": 0}), ("TimerCreated", 1, {}), OC,
            OS, ("TimerFired", -1, {"TimerId": 1}), (created, 2, {"Name": "sub_flaky_child", "InstanceId": f"{execution}:2"}), OC,
            OS, ("SubOrchestrationInstanceCompleted", -1, {"TaskScheduledId": 2, "Result": compact({"attempt": 2})}),
            completed(3, {"attempt": 2}), OC,
        ],
    )
    failure = next(r for r in rows_of(history) if r["EventType"] == "SubOrchestrationInstanceFailed")
    assert "child attempt 1 failed" in failure["Reason"], failure
    failed_child, _ = assert_well_formed(conformance.tables, f"{execution}:0")
    assert failed_child["RuntimeStatus"] == "Failed"
    assert failed_child["Output"] == "Orchestrator function 'sub_flaky_child' failed: child attempt 1 failed"
    good_child, _ = assert_well_formed(conformance.tables, f"{execution}:2")
    assert good_child["RuntimeStatus"] == "Completed"


def test_durable_timer(conformance: Conformance) -> None:
    instance_id, status = conformance.run("timer_wait", {"seconds": 2})
    assert status["runtimeStatus"] == "Completed", status

    _, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    assert_history(
        history,
        [
            OS, ("ExecutionStarted", -1, {"Name": "timer_wait"}), ("TimerCreated", 0, {}), OC,
            OS, ("TimerFired", -1, {"TimerId": 0}), ("ExecutionCompleted", 1, {"OrchestrationStatus": "Completed"}), OC,
        ],
    )
    rows = rows_of(history)
    fire_at = rows[2]["FireAt"]
    assert_close(fire_at, rows[0]["_Timestamp"] + timedelta(seconds=2), "TimerCreated.FireAt")
    assert rows[5]["FireAt"] == fire_at
    assert rows[4]["_Timestamp"] >= fire_at, "the timer must not fire early"
    assert datetime.fromisoformat(status["output"]["fired_at_or_after"]) == fire_at


def test_external_event_beats_timer_raw_http(conformance: Conformance) -> None:
    start = conformance.start("approval", {"timeout_seconds": 8}).json()
    instance_id = start["id"]
    conformance.wait(instance_id, frozenset({"Running"}))
    raised = call("POST", start["sendEventPostUri"].replace("{eventName}", "Approval"), json_body={"ok": True})
    assert raised.status == 202, raised.body
    status = conformance.wait(instance_id)
    # Raw HTTP stores the JSON token itself, so the orchestrator receives a dict (spec 2.10).
    assert status["output"] == {"approved": {"ok": True}}

    _, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    expected: list[Expected] = [
        OS, ("ExecutionStarted", -1, {"Name": "approval"}), ("TimerCreated", 0, {}), OC,
        OS, ("EventRaised", -1, {"Name": "Approval", "Input": '{"ok":true}'}), completed(1, {"approved": {"ok": True}}), OC,
    ]
    assert_history(history, expected)
    # The cancelled timer still fires later; a message for a completed instance must not touch its history.
    fire_at = rows_of(history)[2]["FireAt"]
    time.sleep(max(0.0, (fire_at - datetime.now(UTC)).total_seconds()) + 3.0)
    assert conformance.wait(instance_id)["runtimeStatus"] == "Completed"
    _, after = assert_well_formed(conformance.tables, instance_id)
    assert_history(after, expected)


def test_external_event_via_sdk_client_is_double_encoded(conformance: Conformance) -> None:
    instance_id = conformance.start_id("approval", {"timeout_seconds": 60})
    conformance.wait(instance_id, frozenset({"Running"}))
    raised = call("POST", f"{conformance.api}/client/raise/{instance_id}/Approval", json_body={"ok": True})
    assert raised.status == 202, raised.body
    status = conformance.wait(instance_id)
    assert status["output"] == {"approved": '{"ok": true}'}, "SDK events arrive as JSON text (spec 2.10, issue 295)"
    _, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    raised_row = next(r for r in rows_of(history) if r["EventType"] == "EventRaised")
    assert raised_row["Input"] == sdk_text({"ok": True})


def test_timer_beats_external_event(conformance: Conformance) -> None:
    start = conformance.start("approval", {"timeout_seconds": 2}).json()
    instance_id = start["id"]
    status = conformance.wait(instance_id)
    assert status["output"] == "timeout"
    _, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    assert_history(
        history,
        [
            OS, ("ExecutionStarted", -1, {"Name": "approval"}), ("TimerCreated", 0, {}), OC,
            OS, ("TimerFired", -1, {"TimerId": 0}), completed(1, "timeout"), OC,
        ],
    )
    late = call("POST", start["sendEventPostUri"].replace("{eventName}", "Approval"), json_body={"ok": True})
    assert late.status == 410


def test_continue_as_new_counts_to_10(conformance: Conformance) -> None:
    instance_id, status = conformance.run("counter", {"count": 0})
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"final": 10}
    stored_input = status["input"]
    if isinstance(stored_input, str):
        stored_input = json.loads(stored_input)
    assert stored_input == {"count": 10}, "Instances.Input is reset to the latest generation's input"

    record, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    assert_history(
        history,
        # DTFx starts a continued execution as [OS, ES, OC] and runs it in the same work item (spec 2.9).
        [OS, ("ExecutionStarted", -1, {"Name": "counter"}), OC, completed(0, {"final": 10}), OC],
    )
    # Only the last execution's rows remain: RowKeys restart at 0, and every generation wrote exactly five rows
    # ([OS, ES, OC, TaskScheduled, OC] before it continued as new), so the last one overwrote them all.
    partition = conformance.tables.partition_rows(instance_id)
    assert [r["RowKey"] for r in partition] == [f"{i:016X}" for i in range(5)] + ["sentinel"]
    assert {r["ExecutionId"] for r in partition} == {record["ExecutionId"]}


def wait_custom_status(conformance: Conformance, instance_id: str, value: Any) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        status: dict[str, Any] = call("GET", status_url(conformance.webhooks, instance_id)).json()
        return status if status.get("customStatus") == value else None

    found: dict[str, Any] = wait_until(current, what=f"customStatus == {value!r}")
    return found


def test_custom_status(conformance: Conformance) -> None:
    instance_id = conformance.start_id("custom_status")
    assert wait_custom_status(conformance, instance_id, {"step": 1})["runtimeStatus"] == "Running"
    assert conformance.tables.instance(instance_id)["CustomStatus"] == '{"step":1}'  # type: ignore[index]

    events = f"{conformance.webhooks}/instances/{instance_id}/raiseEvent"
    assert call("POST", f"{events}/Next", json_body={}).status == 202
    wait_custom_status(conformance, instance_id, {"step": 2})
    assert conformance.tables.instance(instance_id)["CustomStatus"] == '{"step":2}'  # type: ignore[index]
    assert conformance.client_status(instance_id).json()["customStatus"] == {"step": 2}

    assert call("POST", f"{events}/Finish", json_body={}).status == 202
    final = conformance.wait(instance_id)
    assert final["output"] == "finished"
    assert final["customStatus"] == {"step": 2}, "custom status survives completion"


def test_large_payloads_200_kb(conformance: Conformance) -> None:
    blob = "abcdefghij" * 20_000  # 200 KB of ASCII: 400 KB in UTF-16, far above the 60 KiB column limit
    instance_id, status = conformance.run("large_payload", {"blob": blob})
    assert status["runtimeStatus"] == "Completed", str(status)[:500]
    assert status["output"] == {"size": len(blob), "blob": blob.upper()}
    assert status["input"] == json.dumps({"blob": blob})

    record, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    container = f"{conformance.hub.lower()}-largemessages"
    assert f"{container}/" in record["Input"], "large Instances.Input is stored as the blob URL"
    assert f"{container}/" in record["Output"], "large Instances.Output is stored as the blob URL"

    blobs = BlobServiceClient.from_connection_string(conformance.devhost.config.storage).get_container_client(container)
    rows = rows_of(history)
    # As DTFx: the Instances row points at the ExecutionStarted Input and ExecutionCompleted Result history blobs.
    started_row = next(r for r in rows if r["EventType"] == "ExecutionStarted")
    completed_row = next(r for r in rows if r["EventType"] == "ExecutionCompleted")
    assert record["Input"].endswith(f"/{container}/{started_row['InputBlobName']}")
    assert record["Output"].endswith(f"/{container}/{completed_row['ResultBlobName']}")
    names = [b.name for b in blobs.list_blobs(name_starts_with=f"{instance_id}/")]
    assert not [n for n in names if "/instance-" in n], f"no separate Instances blobs: {names}"
    offloaded = {
        "ExecutionStarted": ("Input", sdk_text({"blob": blob})),
        "TaskCompleted": ("Result", compact({"size": len(blob), "echo": blob.upper()})),
        "ExecutionCompleted": ("Result", compact({"size": len(blob), "blob": blob.upper()})),
    }
    for kind, (column, text) in offloaded.items():
        row = next(r for r in rows if r["EventType"] == kind)
        assert row[column] == "", f"{kind}.{column} must be emptied when offloaded"
        name = row[f"{column}BlobName"]
        assert name.startswith(f"{instance_id}/history-{row['RowKey']}-{kind}-") and name.endswith(f"-{column}.json.gz")
        content = gzip.decompress(blobs.download_blob(name).readall()).decode("utf-8")
        assert content == text, f"{kind}.{column} blob content"


def test_orchestrator_exception(conformance: Conformance) -> None:
    instance_id, status = conformance.run("raises")
    message = "Orchestrator function 'raises' failed: boom after Hello doomed"
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == message

    record, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    assert record["Output"] == message
    assert_history(
        history,
        [
            OS, ("ExecutionStarted", -1, {"Name": "raises"}), scheduled(0, "hello"), OC,
            OS, task_done(0, "Hello doomed"),
            ("ExecutionCompleted", 1, {"OrchestrationStatus": "Failed", "Result": message}), OC,
        ],
    )


def test_sdk_client_suspend_resume_terminate_purge(conformance: Conformance) -> None:
    instance_id = conformance.start_id("long_running")
    conformance.wait(instance_id, frozenset({"Running"}))
    client = f"{conformance.api}/client"

    assert call("POST", f"{client}/manage/suspend/{instance_id}?reason=pause").status == 202
    assert conformance.wait(instance_id, frozenset({"Suspended"}))["runtimeStatus"] == "Suspended"
    assert call("POST", f"{client}/manage/resume/{instance_id}?reason=go").status == 202
    assert conformance.wait(instance_id, frozenset({"Running"}))["runtimeStatus"] == "Running"
    assert call("POST", f"{client}/manage/terminate/{instance_id}?reason=stop%20now").status == 202
    final = conformance.wait(instance_id)
    assert final["runtimeStatus"] == "Terminated"
    assert final["output"] == "stop now"
    assert conformance.client_status(instance_id).json()["runtimeStatus"] == "Terminated"
    _, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    types = [r["EventType"] for r in rows_of(history)]
    assert types.count("ExecutionSuspended") == 1 and types.count("ExecutionResumed") == 1
    assert types.index("ExecutionSuspended") < types.index("ExecutionResumed") < types.index("ExecutionTerminated")

    purge = call("DELETE", f"{client}/purge/{instance_id}")
    assert purge.status == 200 and purge.json() == {"instancesDeleted": 1}
    assert conformance.client_status(instance_id).status == 404
    assert call("DELETE", f"{client}/purge/{instance_id}").json() == {"instancesDeleted": 0}


def test_events_raised_before_the_wait_are_buffered(conformance: Conformance) -> None:
    instance_id = conformance.start_id("custom_status")
    events = f"{conformance.webhooks}/instances/{instance_id}/raiseEvent"
    for name in ("Next", "Finish"):
        raised = call("POST", f"{events}/{name}", json_body={"early": name})
        assert raised.status == 202, raised.body
    final = conformance.wait(instance_id)
    assert final["runtimeStatus"] == "Completed", final
    assert final["output"] == "finished"
    _, history = assert_well_formed(conformance.tables, instance_id)
    conformance.assert_status_history(instance_id)
    raised_names = [r["Name"] for r in rows_of(history) if r["EventType"] == "EventRaised"]
    assert raised_names == ["Next", "Finish"]


def test_timer_in_the_past_fires_immediately(conformance: Conformance) -> None:
    instance_id, status = conformance.run("timer_wait", {"seconds": -5})
    assert status["runtimeStatus"] == "Completed", status
    _, history = assert_well_formed(conformance.tables, instance_id)
    assert [r["EventType"] for r in rows_of(history)] == [
        "OrchestratorStarted", "ExecutionStarted", "TimerCreated", "OrchestratorCompleted",
        "OrchestratorStarted", "TimerFired", "ExecutionCompleted", "OrchestratorCompleted",
    ]


def test_unknown_activity_fails_the_orchestration(conformance: Conformance) -> None:
    """Spec 2.8: calling a name that is not an activity fails the instance with the extension's message."""
    instance_id, status = conformance.run("calls_missing_activity")
    assert status["runtimeStatus"] == "Failed", status
    expected = "The function 'no_such_activity' doesn't exist, is disabled, or is not an activity function"
    assert expected in status["output"], status["output"]
    record, _ = assert_well_formed(conformance.tables, instance_id)
    assert record["RuntimeStatus"] == "Failed"


def test_terminate_a_suspended_instance(conformance: Conformance) -> None:
    instance_id = conformance.start_id("long_running")
    conformance.wait(instance_id, frozenset({"Running"}))
    base = f"{conformance.webhooks}/instances/{instance_id}"
    assert call("POST", f"{base}/suspend?reason=hold").status == 202
    conformance.wait(instance_id, frozenset({"Suspended"}))
    assert call("POST", f"{base}/terminate?reason=cancelled").status == 202
    final = conformance.wait(instance_id)
    assert final["runtimeStatus"] == "Terminated" and final["output"] == "cancelled"
    assert_well_formed(conformance.tables, instance_id)


def test_orchestrations_go_on_while_the_apps_default_executor_is_busy(conformance: Conformance) -> None:
    """The host's dispatch is not the app's thread pool: with every thread of the app's default executor taken
    (``asyncio.to_thread`` work that waits), a chain still runs to completion before any of them is released."""
    released_log = conformance.state_dir / "default-executor-released.log"
    released_log.unlink(missing_ok=True)
    occupied = call("POST", f"{conformance.api}/app/occupy_default_executor/6")
    assert occupied.status == 200, occupied.body
    instance_id, status = conformance.run("chain_n", {"steps": 3})
    assert status["runtimeStatus"] == "Completed" and status["output"] == 3
    record, _ = assert_well_formed(conformance.tables, instance_id)
    finished = record["CompletedTime"].timestamp()
    # Leave the host as found: wait for the sleepers, then compare.
    wait_until(released_log.exists, timeout=30, what="the default executor's sleepers to end")
    released = min(float(line) for line in released_log.read_text().split())
    assert finished < released, (finished, released)
