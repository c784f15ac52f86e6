"""Read a task hub's tables the way Durable Functions Monitor does (spec 7.3) and check them against spec 6.3/6.4/7.5.

Everything here goes through the official azure-data-tables client, straight to Azurite, never through devhost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.data.tables import TableServiceClient

RUNTIME_STATUSES = frozenset(
    {"Running", "Completed", "ContinuedAsNew", "Failed", "Canceled", "Terminated", "Pending", "Suspended"}
)
EVENT_TYPES = frozenset(
    {
        "ExecutionStarted", "ExecutionCompleted", "ExecutionFailed", "ExecutionTerminated", "TaskScheduled",
        "TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCreated", "SubOrchestrationInstanceCompleted",
        "SubOrchestrationInstanceFailed", "TimerCreated", "TimerFired", "OrchestratorStarted",
        "OrchestratorCompleted", "EventSent", "EventRaised", "ContinueAsNew", "GenericEvent", "HistoryState",
        "ExecutionSuspended", "ExecutionResumed",
    }
)
SCHEDULING = {
    "TaskScheduled": ("TaskCompleted", "TaskFailed"),
    "SubOrchestrationInstanceCreated": ("SubOrchestrationInstanceCompleted", "SubOrchestrationInstanceFailed"),
}
HEX_ROW_KEY = re.compile(r"^[0-9A-F]{16}$")
EXECUTION_ID = re.compile(r"^[0-9a-f]{32}$")

# One expected history row: (EventType, EventId, {column: value, ...}) - only the listed columns are compared.
Expected = tuple[str, int, dict[str, Any]]
OS: Expected = ("OrchestratorStarted", -1, {})
OC: Expected = ("OrchestratorCompleted", -1, {})


def is_int32(value: Any) -> bool:
    """azure-data-tables returns Edm.Int32 as a plain int and Edm.Int64 as an EntityProperty."""
    return type(value) is int


@dataclass
class DfmHistory:
    """What DFM builds for the details view: the current execution's rows plus the TaskScheduledId map."""

    execution_id: str
    rows: list[dict[str, Any]]
    completions_by_id: dict[int, dict[str, Any]]
    completion_row_keys: list[str]


class TaskHubTables:
    def __init__(self, connection_string: str, hub: str) -> None:
        self.hub = hub
        self.service = TableServiceClient.from_connection_string(connection_string)
        self.instances = self.service.get_table_client(f"{hub}Instances")
        self.history = self.service.get_table_client(f"{hub}History")

    def table_names(self) -> set[str]:
        return {t.name for t in self.service.list_tables()}

    def instance(self, instance_id: str) -> dict[str, Any] | None:
        rows = list(self.instances.query_entities(f"PartitionKey eq '{instance_id}'"))
        return dict(rows[0]) if rows else None

    def partition_rows(self, instance_id: str) -> list[dict[str, Any]]:
        """Every History row of the instance (all executions and the sentinel), in RowKey order."""
        rows = [dict(r) for r in self.history.query_entities(f"PartitionKey eq '{instance_id}'")]
        return sorted(rows, key=lambda r: r["RowKey"])

    def dfm_history(self, instance_id: str) -> DfmHistory:
        """Spec 7.3: Instances row -> ExecutionId; History filtered by it; completions via `TaskScheduledId ge 0`."""
        record = self.instance(instance_id)
        assert record is not None, f"no Instances row for {instance_id}"
        execution_id = record["ExecutionId"]
        base = f"PartitionKey eq '{instance_id}' and ExecutionId eq '{execution_id}'"
        rows = sorted((dict(r) for r in self.history.query_entities(base)), key=lambda r: r["RowKey"])
        completions = sorted(
            (dict(r) for r in self.history.query_entities(f"{base} and TaskScheduledId ge 0")),
            key=lambda r: r["RowKey"],
        )
        by_id = {int(r["TaskScheduledId"]): r for r in completions}
        return DfmHistory(execution_id, rows, by_id, [r["RowKey"] for r in completions])


def describe_partition(tables: TaskHubTables, instance_id: str) -> str:
    """Every History row of an instance, one line each, for assertion messages."""
    record = tables.instance(instance_id) or {}
    summary = {k: record.get(k) for k in ("RuntimeStatus", "ExecutionId", "Output", "CustomStatus", "CompletedTime")}
    lines = [f"Instances: {summary!r:.600}"]
    for r in tables.partition_rows(instance_id):
        details = {
            k: r[k] for k in ("EventId", "Name", "TaskScheduledId", "TimerId", "Result", "OrchestrationStatus") if k in r
        }
        lines.append(f"{r['RowKey']} {r.get('EventType', '-')} exec={str(r.get('ExecutionId'))[:8]} {details!r:.300}")
    return "\n".join(lines)


def status_history_from_rows(rows: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """Spec 5: what ``historyEvents`` must list for these rows, as (EventType, FunctionName or Name) pairs.

    OrchestratorStarted/Completed are dropped; a TaskScheduled / SubOrchestrationInstanceCreated with a completion
    is folded into that completion (which takes its Name as FunctionName); ExecutionStarted shows FunctionName.
    """
    completions = {c for pair in SCHEDULING.values() for c in pair}
    completed_ids = {(r["EventType"], r["TaskScheduledId"]) for r in rows if r["EventType"] in completions}
    names = {r["EventId"]: r.get("Name") for r in rows if r["EventType"] in SCHEDULING}
    out: list[tuple[str, str | None]] = []
    for row in rows:
        kind = row["EventType"]
        if kind in ("OrchestratorStarted", "OrchestratorCompleted"):
            continue
        if kind in SCHEDULING and any((c, row["EventId"]) in completed_ids for c in SCHEDULING[kind]):
            continue
        name = names.get(row["TaskScheduledId"]) if kind in completions else row.get("Name")
        out.append((kind, name))
    return out


def event_rows(history: DfmHistory) -> list[dict[str, Any]]:
    return [r for r in history.rows if r["RowKey"] != "sentinel"]


def project(rows: list[dict[str, Any]], expected: list[Expected]) -> list[Expected]:
    """The actual rows in the shape of ``expected`` (same columns), so a list comparison shows a readable diff."""
    out: list[Expected] = []
    for i, row in enumerate(rows):
        columns = expected[i][2].keys() if i < len(expected) else ()
        out.append((row.get("EventType", "?"), row.get("EventId", "?"), {c: row.get(c) for c in columns}))
    return out


def assert_history(history: DfmHistory, expected: list[Expected], *, prefix: bool = False) -> None:
    """The current execution's rows equal ``expected`` (or start with it when ``prefix``)."""
    rows = event_rows(history)
    if prefix:
        rows = rows[: len(expected)]
    assert project(rows, expected) == expected


def assert_well_formed(
    tables: TaskHubTables, instance_id: str, *, terminal: bool = True
) -> tuple[dict[str, Any], DfmHistory]:
    """The structural invariants of spec 6.3/6.4/7.5 that must hold for any instance, crash or no crash."""
    names = tables.table_names()
    assert f"{tables.hub}Instances" in names and f"{tables.hub}History" in names, sorted(names)
    assert "DurableTaskPartitions" not in names, "DFM would mistake the account for Netherite"

    record = tables.instance(instance_id)
    assert record is not None, f"no Instances row for {instance_id}"
    assert record["RowKey"] == ""
    assert record["RuntimeStatus"] in RUNTIME_STATUSES, record["RuntimeStatus"]
    assert isinstance(record["Name"], str) and record["Name"]
    for column in ("CreatedTime", "LastUpdatedTime"):
        assert isinstance(record[column], datetime), f"Instances.{column} must be Edm.DateTime: {record[column]!r}"
    assert EXECUTION_ID.match(record["ExecutionId"]), record["ExecutionId"]
    if terminal:
        assert isinstance(record.get("CompletedTime"), datetime), "terminal instance without CompletedTime"

    history = tables.dfm_history(instance_id)
    all_rows = tables.partition_rows(instance_id)
    sentinels = [r for r in all_rows if r["RowKey"] == "sentinel"]
    assert len(sentinels) == 1, "History must have exactly one sentinel row"
    assert sentinels[0]["ExecutionId"] == history.execution_id, "sentinel ExecutionId != Instances.ExecutionId"

    rows = event_rows(history)
    keys = [r["RowKey"] for r in rows]
    assert keys == [f"{i:016X}" for i in range(len(rows))], f"RowKeys not contiguous X16 from 0: {keys}"
    for row in rows:
        assert row["EventType"] in EVENT_TYPES, row
        assert is_int32(row["EventId"]), f"EventId must be Edm.Int32: {row!r}"
        assert isinstance(row["_Timestamp"], datetime), f"_Timestamp must be Edm.DateTime: {row!r}"
        assert isinstance(row["IsPlayed"], bool), row

    types = [r["EventType"] for r in rows]
    assert types[:2] == ["OrchestratorStarted", "ExecutionStarted"], types[:4]
    assert types.count("ExecutionStarted") == 1, types
    _assert_episodes_bracketed(types)

    scheduled: dict[int, str] = {}
    timers: set[int] = set()
    for row in rows:
        kind = row["EventType"]
        if kind in SCHEDULING or kind == "TimerCreated":
            assert row["EventId"] >= 0, row
            assert row["EventId"] not in scheduled and row["EventId"] not in timers, f"duplicate id: {row}"
            if kind == "TimerCreated":
                timers.add(row["EventId"])
                assert isinstance(row["FireAt"], datetime), row
            else:
                scheduled[row["EventId"]] = kind
        elif kind not in ("ExecutionCompleted",):
            assert row["EventId"] == -1, f"{kind} must carry EventId -1: {row}"

    completions: dict[int, int] = {}
    for row in rows:
        kind = row["EventType"]
        if kind in ("TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCompleted", "SubOrchestrationInstanceFailed"):
            task_id = row["TaskScheduledId"]
            assert is_int32(task_id), f"TaskScheduledId must be Edm.Int32: {row!r}"
            assert task_id in scheduled and kind in SCHEDULING[scheduled[task_id]], f"orphan completion {row}"
            completions[task_id] = completions.get(task_id, 0) + 1
        if kind == "TimerFired":
            assert is_int32(row["TimerId"]), row
            assert row["TimerId"] in timers, f"TimerFired for an unknown timer: {row}"
            completions[-1000 - row["TimerId"]] = completions.get(-1000 - row["TimerId"], 0) + 1
    duplicated = {k: v for k, v in completions.items() if v > 1}
    assert not duplicated, f"duplicated completions (id -> count; timers as -1000-id): {duplicated}"

    completion_keys = [
        r["RowKey"] for r in rows if r["EventType"] in {c for pair in SCHEDULING.values() for c in pair}
    ]
    assert history.completion_row_keys == completion_keys, "`TaskScheduledId ge 0` must return every completion"

    finished = [r for r in rows if r["EventType"] == "ExecutionCompleted"]
    if terminal:
        assert len(finished) == 1, f"expected exactly one ExecutionCompleted: {types}"
        assert finished[0]["OrchestrationStatus"] == record["RuntimeStatus"], (finished[0], record["RuntimeStatus"])
        if record["RuntimeStatus"] == "Completed":
            missing = sorted(set(scheduled) - set(completions))
            assert not missing, f"scheduled tasks without completion in a Completed instance: {missing}"
    else:
        assert not finished, types
    return record, history


def _assert_episodes_bracketed(types: list[str]) -> None:
    """Every episode is OrchestratorStarted ... OrchestratorCompleted, never nested, never left open.

    One exception, from DTFx's continue-as-new path: a new execution starts as [OrchestratorStarted,
    ExecutionStarted, OrchestratorCompleted] and the orchestrator then runs in the same work item, so its
    decisions follow that OrchestratorCompleted directly and are closed by a second one.
    """
    continued_start = ["OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted"]
    if types[:3] == continued_start and len(types) > 3 and types[3] != "OrchestratorStarted":
        types = types[:2] + types[3:]
    open_episode = False
    for i, kind in enumerate(types):
        if kind == "OrchestratorStarted":
            assert not open_episode, f"OrchestratorStarted inside an open episode at row {i}: {types}"
            open_episode = True
        elif kind == "OrchestratorCompleted":
            assert open_episode, f"OrchestratorCompleted without OrchestratorStarted at row {i}: {types}"
            open_episode = False
        else:
            assert open_episode, f"{kind} outside an episode at row {i}: {types}"
    assert not open_episode, f"last episode not closed: {types}"
