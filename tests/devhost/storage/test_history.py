"""History rows: columns and Edm types DFM reads, the sentinel with ETag concurrency, batches, continue-as-new
and large values (spec sections 6.4 and 7.5), against a real Azurite."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from azure.data.tables import EdmType, EntityProperty

from devhost.model import EventType, HistoryEvent, InstanceRecord, RuntimeStatus, new_execution_id
from devhost.storage import HistoryConflictError, TaskHubStorage, history_row_key

from . import _raw
from ._events import T0, at, every_event_type


def test_every_event_type_round_trips(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        events = every_event_type("inst", execution_id)
        snapshot = await storage.load_history("inst")
        assert (snapshot.execution_id, snapshot.events, snapshot.etag) == (None, [], None)
        etag = await storage.append_history("inst", execution_id, events, 0, None)
        loaded = await storage.load_history("inst")
        assert loaded.execution_id == execution_id
        assert loaded.etag == etag
        assert loaded.checkpoint_complete
        assert loaded.events == events
        started = loaded.events[1]
        assert started.event_type is EventType.ExecutionStarted
        assert started.fields["ScheduledStartTime"].tzinfo is not None
        assert started.fields["ParentInstance"]["OrchestrationInstance"] == {
            "InstanceId": "p",
            "ExecutionId": "pe",
        }
        assert loaded.events[-2].fields["OrchestrationStatus"] is RuntimeStatus.Completed

    run_hub(body)


def test_rows_have_dtfx_columns_and_edm_types(run_hub: Any, connection_string: str) -> None:
    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        events = every_event_type("dfm-inst", execution_id)
        await storage.append_history("dfm-inst", execution_id, events, 0, None)
        table = storage.names.history_table
        base = f"PartitionKey eq 'dfm-inst' and ExecutionId eq '{execution_id}'"

        # The exact query Durable Functions Monitor runs: it only matches Int32-typed TaskScheduledId columns.
        completions = await _raw.query(connection_string, table, base + " and TaskScheduledId ge 0")
        assert sorted((row["EventType"], row["TaskScheduledId"]) for row in completions) == [
            ("SubOrchestrationInstanceCompleted", 2),
            ("SubOrchestrationInstanceFailed", 3),
            ("TaskCompleted", 0),
            ("TaskFailed", 1),
        ]
        # Typed comparisons the service evaluates only against the right Edm types.
        fired = await _raw.query(connection_string, table, base + " and TimerId ge 0")
        assert [(row["EventType"], row["TimerId"]) for row in fired] == [("TimerFired", 4)]
        scheduled = await _raw.query(connection_string, table, base + " and EventId ge 0")
        assert sorted(row["EventId"] for row in scheduled) == [0, 1, 2, 3, 4, 5, 6, 7]
        dated = await _raw.query(
            connection_string, table, base + " and _Timestamp ge datetime'2000-01-01T00:00:00Z'"
        )
        assert len(dated) == len(events)
        timers = await _raw.query(connection_string, table, base + f" and FireAt eq datetime'{_iso(at(60))}'")
        assert sorted(row["EventType"] for row in timers) == ["TimerCreated", "TimerFired"]
        played = await _raw.query(connection_string, table, base + " and IsPlayed eq true")
        assert [row["EventType"] for row in played] == ["ExecutionStarted"]
        generation = await _raw.query(connection_string, table, base + " and Generation eq 0")
        assert [row["EventType"] for row in generation] == ["ExecutionStarted"]

        rows = await _raw.query(connection_string, table, "PartitionKey eq 'dfm-inst'")
        by_key = {row["RowKey"]: row for row in rows}
        assert sorted(by_key) == [history_row_key(n) for n in range(len(events))] + ["sentinel"]
        for index, event in enumerate(events):
            row = by_key[history_row_key(index)]
            assert row["EventType"] == event.event_type.name
            assert row["ExecutionId"] == execution_id
            assert type(row["EventId"]) is int and row["EventId"] == event.event_id
            assert type(row["IsPlayed"]) is bool
            assert isinstance(row["_Timestamp"], datetime)
            assert ("MessageId" in row) == (event.message_id is not None)
            assert not any(value is None for value in row.values())
        started = by_key[history_row_key(1)]
        assert started["Name"] == "hello_orchestrator" and started["Version"] == ""
        assert (
            started["OrchestrationInstance"] == f'{{"InstanceId":"dfm-inst","ExecutionId":"{execution_id}"}}'
        )
        assert started["Tags"] == '{"team":"a"}'
        assert started["MessageId"] == "start-message"
        assert isinstance(started["ScheduledStartTime"], datetime)
        assert "ParentInstance" in started and "Input" in started
        assert "Input" not in by_key[history_row_key(2)]  # TaskScheduled: no Input unless the app stores it
        assert by_key[history_row_key(4)]["InstanceId"] == f"{execution_id}:2"
        completed = by_key[history_row_key(len(events) - 2)]
        assert completed["OrchestrationStatus"] == "Completed" and completed["EventId"] == 7
        sentinel = by_key["sentinel"]
        assert sentinel["ExecutionId"] == execution_id
        assert sentinel["IsCheckpointComplete"] is True
        assert isinstance(sentinel["CheckpointCompletedTimestamp"], datetime)

    run_hub(body)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_orchestration_status_numbers_are_stored_as_names(run_hub: Any, connection_string: str) -> None:
    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        # The engine may carry DTFx's number (as in the context JSON): 3 = Failed.
        event = HistoryEvent(EventType.ExecutionCompleted, event_id=2, fields={"OrchestrationStatus": 3})
        await storage.append_history("num", execution_id, [event], 0, None)
        row = await _raw.get_row(connection_string, storage.names.history_table, "num", history_row_key(0))
        assert row["OrchestrationStatus"] == "Failed"
        loaded = await storage.load_history("num")
        assert loaded.events[0].fields["OrchestrationStatus"] is RuntimeStatus.Failed

    run_hub(body)


def test_large_integers_are_int64_and_small_ones_int32(run_hub: Any, connection_string: str) -> None:
    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        event = HistoryEvent(EventType.GenericEvent, fields={"Data": "x", "Big": 2**40, "Small": 5})
        await storage.append_history("ints", execution_id, [event], 0, None)
        row = await _raw.get_row(connection_string, storage.names.history_table, "ints", history_row_key(0))
        assert row["Big"] == EntityProperty(2**40, EdmType.INT64)
        assert type(row["Small"]) is int
        assert (await storage.load_history("ints")).events[0].fields == {
            "Data": "x",
            "Big": 2**40,
            "Small": 5,
        }

    run_hub(body)


def test_sentinel_etag_guards_every_append(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        first = [HistoryEvent(EventType.OrchestratorStarted, timestamp=T0)]
        etag1 = await storage.append_history("c", execution_id, first, 0, None)
        second = [HistoryEvent(EventType.OrchestratorCompleted, timestamp=T0)]
        # A second "first write" means someone else created the history meanwhile.
        with pytest.raises(HistoryConflictError, match="'c'"):
            await storage.append_history("c", execution_id, second, 1, None)
        etag2 = await storage.append_history("c", execution_id, second, 1, etag1)
        assert etag2 != etag1
        stale = [HistoryEvent(EventType.EventRaised, timestamp=T0, fields={"Name": "late", "Input": "1"})]
        with pytest.raises(HistoryConflictError):
            await storage.append_history("c", execution_id, stale, 2, etag1)
        # The rejected transaction wrote nothing: rows and sentinel are all-or-nothing.
        loaded = await storage.load_history("c")
        assert [e.event_type for e in loaded.events] == [
            EventType.OrchestratorStarted,
            EventType.OrchestratorCompleted,
        ]
        assert loaded.etag == etag2

    run_hub(body)


def test_appends_over_99_events_are_split_into_batches(run_hub: Any, connection_string: str) -> None:
    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        events = [
            HistoryEvent(EventType.EventRaised, timestamp=at(n), fields={"Name": f"e{n}", "Input": str(n)})
            for n in range(250)
        ]
        etag = await storage.append_history("many", execution_id, events[:3], 0, None)
        etag = await storage.append_history("many", execution_id, events[3:], 3, etag)
        loaded = await storage.load_history("many")
        assert loaded.events == events
        assert loaded.etag == etag and loaded.checkpoint_complete
        rows = await _raw.query(connection_string, storage.names.history_table, "PartitionKey eq 'many'")
        assert sorted(row["RowKey"] for row in rows) == [history_row_key(n) for n in range(250)] + [
            "sentinel"
        ]
        # A stale writer is stopped at its first batch, so none of its 150 rows land.
        intruder = [HistoryEvent(EventType.GenericEvent, fields={"Data": "x"}) for _ in range(150)]
        with pytest.raises(HistoryConflictError):
            await storage.append_history(
                "many", execution_id, intruder, 250, "W/\"datetime'2001-01-01T00%3A00%3A00.0000000Z'\""
            )
        assert len((await storage.load_history("many")).events) == 250

    run_hub(body)


def test_continue_as_new_rewrites_from_zero_and_reads_only_the_current_execution(
    run_hub: Any, connection_string: str
) -> None:
    async def body(storage: TaskHubStorage) -> None:
        first_execution, second_execution = new_execution_id(), new_execution_id()
        old = [
            HistoryEvent(EventType.GenericEvent, timestamp=at(n), fields={"Data": f"old{n}"})
            for n in range(10)
        ]
        etag = await storage.append_history("can", first_execution, old, 0, None)
        new = [
            HistoryEvent(EventType.GenericEvent, timestamp=at(n), fields={"Data": f"new{n}"})
            for n in range(4)
        ]
        etag = await storage.append_history("can", second_execution, new, 0, etag)
        loaded = await storage.load_history("can")
        assert loaded.execution_id == second_execution
        assert [e.fields["Data"] for e in loaded.events] == ["new0", "new1", "new2", "new3"]
        table = storage.names.history_table
        leftovers = await _raw.query(
            connection_string, table, f"PartitionKey eq 'can' and ExecutionId eq '{first_execution}'"
        )
        assert sorted(row["RowKey"] for row in leftovers) == [history_row_key(n) for n in range(4, 10)]
        current = await _raw.query(
            connection_string, table, f"PartitionKey eq 'can' and ExecutionId eq '{second_execution}'"
        )
        assert len(current) == 4 + 1  # rows 0-3 and the sentinel
        more = [HistoryEvent(EventType.GenericEvent, timestamp=at(9), fields={"Data": "new4"})]
        await storage.append_history("can", second_execution, more, 4, etag)
        assert [e.fields["Data"] for e in (await storage.load_history("can")).events][-1] == "new4"

    run_hub(body)


def test_large_values_go_to_blobs_and_come_back(run_hub: Any, connection_string: str) -> None:
    big_input = '"' + "i" * 200_000 + '"'
    big_result = "[" + ",".join(['"r"'] * 60_000) + "]"
    # 16,000 emoji are 16,000 code points but 64,000 bytes in UTF-16: over the 60 KiB limit.
    emoji_details = "😀" * 16_000
    just_under = "u" * 30_000  # 60,000 bytes in UTF-16: stays in the table

    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        events = [
            HistoryEvent(
                EventType.ExecutionStarted,
                fields={
                    "Name": "big",
                    "Version": "",
                    "Input": big_input,
                    "OrchestrationInstance": {"InstanceId": "big", "ExecutionId": execution_id},
                },
            ),
            HistoryEvent(
                EventType.TaskFailed,
                fields={"TaskScheduledId": 0, "Reason": just_under, "Details": emoji_details},
            ),
            HistoryEvent(EventType.TaskCompleted, fields={"TaskScheduledId": 1, "Result": big_result}),
        ]
        await storage.append_history("big", execution_id, events, 0, None)
        assert (await storage.load_history("big")).events == events

        table, container = storage.names.history_table, storage.names.large_messages_container
        started = await _raw.get_row(connection_string, table, "big", history_row_key(0))
        assert started["Input"] == ""
        assert started["InputBlobName"].startswith("big/history-0000000000000000-ExecutionStarted-")
        assert started["InputBlobName"].endswith("-Input.json.gz")
        assert await _raw.gunzip_blob(connection_string, container, started["InputBlobName"]) == big_input
        failed = await _raw.get_row(connection_string, table, "big", history_row_key(1))
        assert failed["Reason"] == just_under and "ReasonBlobName" not in failed
        assert failed["Details"] == "" and failed["DetailsBlobName"].endswith("-Details.json.gz")
        completed = await _raw.get_row(connection_string, table, "big", history_row_key(2))
        assert completed["Result"] == "" and "ResultBlobName" in completed
        assert len(await _raw.blob_names(connection_string, container, "big/")) == 3

    run_hub(body)


def test_oversized_values_that_cannot_be_offloaded_are_rejected(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        event = HistoryEvent(
            EventType.SubOrchestrationInstanceCreated,
            event_id=0,
            fields={"Name": "c", "Version": "", "InstanceId": "x" * 40_000},
        )
        with pytest.raises(ValueError, match="'InstanceId'"):
            await storage.append_history("huge", new_execution_id(), [event], 0, None)

    run_hub(body)


def test_fields_that_would_not_round_trip_are_rejected(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        nested = HistoryEvent(EventType.GenericEvent, fields={"Data": {"not": "an object field"}})
        with pytest.raises(TypeError, match="OBJECT_FIELDS"):
            await storage.append_history("bad", new_execution_id(), [nested], 0, None)
        clash = HistoryEvent(EventType.GenericEvent, fields={"ExecutionId": "x"})
        with pytest.raises(ValueError, match="collides"):
            await storage.append_history("bad", new_execution_id(), [clash], 0, None)
        naive = HistoryEvent(EventType.TimerCreated, event_id=0, fields={"FireAt": datetime(2026, 1, 1)})
        with pytest.raises(ValueError, match="timezone-aware"):
            await storage.append_history("bad", new_execution_id(), [naive], 0, None)

    run_hub(body)


def test_describe_instance_renders_row_and_history(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> str:
        execution_id = new_execution_id()
        events = every_event_type("shown", execution_id)
        await storage.append_history("shown", execution_id, events, 0, None)
        await storage.update_instance(
            InstanceRecord(
                "shown",
                "hello_orchestrator",
                RuntimeStatus.Completed,
                execution_id,
                T0,
                at(6),
                output='"' + "o" * 500 + '"',
            )
        )
        return await storage.describe_instance("shown")

    text = run_hub(body)
    assert "hello_orchestrator" in text and "Completed" in text
    assert "SubOrchestrationInstanceFailed" in text and "TaskScheduledId=3" in text
    assert "0000000000000018" in text  # 25 events: the last RowKey
    assert "…(" in text and "o" * 100 not in text  # long values are shortened


def test_awkward_instance_ids_are_quoted_and_escaped(run_hub: Any, connection_string: str) -> None:
    odd = "o'brien and co / #1?"  # a quote and spaces for OData, and characters keys must escape

    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        events = [HistoryEvent(EventType.EventRaised, fields={"Name": "n", "Input": "v" * 70_000})]
        await storage.append_history(odd, execution_id, events, 0, None)
        await storage.append_history("o'brien and co", execution_id, events, 0, None)
        assert (await storage.load_history(odd)).events == events
        rows = await _raw.query(
            connection_string, storage.names.history_table, "PartitionKey eq 'o''brien and co ^0 ^21^3'"
        )
        assert len(rows) == 2  # event row + sentinel under the escaped key
        container = storage.names.large_messages_container
        assert len(await _raw.blob_names(connection_string, container, "o'brien and co ^0 ^21^3/")) == 1
        assert await storage.purge_instance(odd) is False  # no Instances row, but history and blobs go
        assert (await storage.load_history(odd)).events == []
        assert (await storage.load_history("o'brien and co")).events == events

    run_hub(body)


def test_batches_also_split_by_size(run_hub: Any) -> None:
    # 90 events of 29,000 "é" each: under the 60 KiB offload limit one by one (58,000 bytes in UTF-16), but
    # ~5.2 MB of UTF-8 together, more than one 4 MiB table transaction can carry.
    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        events = [
            HistoryEvent(
                EventType.EventRaised, timestamp=at(n), fields={"Name": f"e{n}", "Input": "é" * 29_000}
            )
            for n in range(90)
        ]
        etag = await storage.append_history("wide", execution_id, events, 0, None)
        loaded = await storage.load_history("wide")
        assert loaded.events == events and loaded.etag == etag and loaded.checkpoint_complete

    run_hub(body)


def test_append_after_a_purge_is_a_conflict(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        execution_id = new_execution_id()
        etag = await storage.append_history(
            "purged", execution_id, [HistoryEvent(EventType.OrchestratorStarted)], 0, None
        )
        await storage.purge_instance("purged")
        with pytest.raises(HistoryConflictError, match="ResourceNotFound"):
            await storage.append_history(
                "purged", execution_id, [HistoryEvent(EventType.OrchestratorCompleted)], 1, etag
            )
        assert (await storage.load_history("purged")).events == []

    run_hub(body)
