"""Instances rows: columns and types DFM reads, start dedupe and Generation, merge updates, large Input/Output,
filtered and paged queries, purge (spec sections 5, 6.3, 7.2), against a real Azurite."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from devhost.model import (
    EventType,
    HistoryEvent,
    InstanceRecord,
    QueueMessage,
    RuntimeStatus,
    new_execution_id,
)
from devhost.storage import (
    InstanceAlreadyExistsError,
    InstanceQuery,
    InvalidContinuationTokenError,
    TaskHubStorage,
)

from . import _raw
from ._events import T0, at

RUNNING_STATES = frozenset(
    {RuntimeStatus.Running, RuntimeStatus.Pending, RuntimeStatus.ContinuedAsNew, RuntimeStatus.Suspended}
)


def record(
    instance_id: str, status: RuntimeStatus = RuntimeStatus.Pending, created: datetime = T0, **kw: Any
) -> InstanceRecord:
    return InstanceRecord(
        instance_id=instance_id,
        name=kw.pop("name", "hello_orchestrator"),
        runtime_status=status,
        execution_id=kw.pop("execution_id", new_execution_id()),
        created_time=created,
        last_updated_time=kw.pop("last_updated_time", created),
        **kw,
    )


def test_new_instance_row_has_dfm_columns_and_types(run_hub: Any, connection_string: str) -> None:
    async def body(storage: TaskHubStorage) -> None:
        new = record("row", input='"{\\"a\\": 1}"')
        stored = await storage.create_instance(new, dedupe=RUNNING_STATES)
        assert stored.generation == 0 and stored.task_hub_name == storage.hub_name
        assert await storage.get_instance("row") == stored

        table = storage.names.instances_table
        row = await _raw.get_row(connection_string, table, "row", "")
        assert row["Name"] == "hello_orchestrator" and row["Version"] == ""
        assert row["RuntimeStatus"] == "Pending" and row["ExecutionId"] == new.execution_id
        assert row["TaskHubName"] == storage.hub_name and row["Input"] == '"{\\"a\\": 1}"'
        assert isinstance(row["CreatedTime"], datetime) and isinstance(row["LastUpdatedTime"], datetime)
        assert "Output" not in row and "CustomStatus" not in row and "CompletedTime" not in row
        typed = await _raw.query(
            connection_string,
            table,
            "CreatedTime ge datetime'2026-01-01T00:00:00Z' and Generation eq 0 and RowKey eq ''",
        )
        assert [r["ExecutionId"] for r in typed] == [new.execution_id]

    run_hub(body)


def test_dedupe_and_generation_on_start(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        first = await storage.create_instance(record("dup"), dedupe=RUNNING_STATES)
        with pytest.raises(InstanceAlreadyExistsError, match="status Pending already exists") as caught:
            await storage.create_instance(record("dup"), dedupe=RUNNING_STATES)
        assert caught.value.status is RuntimeStatus.Pending

        await storage.update_instance(replace(first, runtime_status=RuntimeStatus.Running))
        with pytest.raises(InstanceAlreadyExistsError, match="Running"):
            await storage.create_instance(record("dup"), dedupe=RUNNING_STATES)

        await storage.update_instance(replace(first, runtime_status=RuntimeStatus.Completed, output='"done"'))
        again = record("dup", input="2")
        second = await storage.create_instance(again, dedupe=RUNNING_STATES)
        assert second.generation == 1
        current = await storage.get_instance("dup")
        assert current is not None
        # The row was replaced, not merged: nothing of the old execution survives.
        assert (current.runtime_status, current.output, current.input) == (RuntimeStatus.Pending, None, "2")
        assert current.execution_id == again.execution_id and current.generation == 1

        # An empty dedupe set replaces even a running instance (overridableExistingInstanceStates=AnyState).
        await storage.update_instance(replace(second, runtime_status=RuntimeStatus.Running))
        third = await storage.create_instance(record("dup"), dedupe=frozenset())
        assert third.generation == 2

    run_hub(body)


def test_update_merges_and_keeps_what_it_does_not_set(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        started = await storage.create_instance(record("m", input='"in"'), dedupe=RUNNING_STATES)
        done = replace(
            started,
            runtime_status=RuntimeStatus.Completed,
            input=None,
            output='"out"',
            custom_status='{"step":2}',
            last_updated_time=at(9),
            completed_time=at(9),
        )
        await storage.update_instance(done)
        current = await storage.get_instance("m")
        assert current == replace(done, input='"in"')
        # A sub-orchestration's row is created by its first episode: insert-or-merge inserts.
        child = record("parent-exec:0", RuntimeStatus.Running, custom_status="null", task_hub_name=None)
        await storage.update_instance(child)
        assert await storage.get_instance("parent-exec:0") == replace(child, task_hub_name=storage.hub_name)

    run_hub(body)


def test_large_input_and_output_are_blob_urls_in_the_row(run_hub: Any, connection_string: str) -> None:
    """Without a history blob to point at (a direct update), a large value gets its own blob, named as DTFx
    names the blob of an entity without EventType: ``{id}/history--{Column}-{random}-{Column}.json.gz``."""
    big_input = '"' + "x" * 200_000 + '"'
    big_output = '["' + "y" * 200_000 + '"]'

    async def body(storage: TaskHubStorage) -> None:
        started = await storage.create_instance(record("large", input=big_input), dedupe=RUNNING_STATES)
        await storage.update_instance(
            replace(started, runtime_status=RuntimeStatus.Completed, output=big_output)
        )
        current = await storage.get_instance("large")
        assert current is not None and current.input == big_input and current.output == big_output
        listed, _ = await storage.query_instances(InstanceQuery(), top=10, continuation=None)
        assert [(r.input, r.output) for r in listed] == [(big_input, big_output)]

        row = await _raw.get_row(connection_string, storage.names.instances_table, "large", "")
        container = storage.names.large_messages_container
        for column, value in (("Input", big_input), ("Output", big_output)):
            assert row[column].startswith("http://") and f"/{container}/large/" in row[column]
            name = row[column].split(f"/{container}/", 1)[1]
            assert name.startswith(f"large/history--{column}-") and name.endswith(f"-{column}.json.gz")
            assert await _raw.gunzip_blob(connection_string, container, name) == value

    run_hub(body)


def test_start_row_keeps_a_large_input_as_an_input_blob_name(run_hub: Any, connection_string: str) -> None:
    """SetNewExecutionAsync: the Pending row of a large input has ``Input`` = "" and an ``InputBlobName``."""
    big_input = '"' + "p" * 100_000 + '"'

    async def body(storage: TaskHubStorage) -> None:
        await storage.create_instance(record("pending-big", input=big_input), dedupe=RUNNING_STATES)
        row = await _raw.get_row(connection_string, storage.names.instances_table, "pending-big", "")
        assert row["Input"] == ""
        name = row["InputBlobName"]
        assert name.startswith("pending-big/history--Input-") and name.endswith("-Input.json.gz")
        container = storage.names.large_messages_container
        assert await _raw.gunzip_blob(connection_string, container, name) == big_input
        current = await storage.get_instance("pending-big")
        assert current is not None and current.input == big_input

    run_hub(body)


def test_episode_rows_point_large_values_at_the_history_blobs(run_hub: Any, connection_string: str) -> None:
    """DTFx's SetInstancesTablePropertyFromHistoryProperty: the Instances row's large Input/Output are the URLs of
    the ExecutionStarted Input / ExecutionCompleted Result history blobs; nothing is uploaded twice."""
    big_input = '"' + "i" * 100_000 + '"'
    big_output = '"' + "o" * 100_000 + '"'
    execution_id = new_execution_id()

    async def body(storage: TaskHubStorage) -> None:
        container = storage.names.large_messages_container
        snapshot = await storage.load_history("layout")
        events = [
            HistoryEvent(EventType.OrchestratorStarted, timestamp=T0),
            HistoryEvent(
                EventType.ExecutionStarted,
                timestamp=T0,
                fields={"Name": "hello_orchestrator", "Version": "", "Input": big_input},
            ),
            HistoryEvent(
                EventType.ExecutionCompleted,
                event_id=0,
                timestamp=at(1),
                fields={"OrchestrationStatus": "Completed", "Result": big_output},
            ),
            HistoryEvent(EventType.OrchestratorCompleted, timestamp=at(1)),
        ]
        checkpoint = await storage.checkpoint_history("layout", execution_id, events, 0, snapshot.etag)
        assert set(checkpoint.blob_names) == {(1, "Input"), (2, "Result")}
        reread = await storage.load_history("layout")
        assert reread.blob_names == checkpoint.blob_names and reread.etag == checkpoint.etag

        completed = record(
            "layout", RuntimeStatus.Completed, execution_id=execution_id, input=big_input, output=big_output
        )
        blobs = {"Input": checkpoint.blob_names[(1, "Input")], "Output": checkpoint.blob_names[(2, "Result")]}
        await storage.update_instance(completed, blobs=blobs)

        row = await _raw.get_row(connection_string, storage.names.instances_table, "layout", "")
        for column, blob_name in blobs.items():
            assert row[column].endswith(f"/{container}/{blob_name}")
        assert "InputBlobName" not in row
        assert sorted(await _raw.blob_names(connection_string, container, "layout/")) == sorted(blobs.values())
        current = await storage.get_instance("layout")
        assert current is not None and (current.input, current.output) == (big_input, big_output)

    run_hub(body)


def test_query_filters_and_continuation_paging(run_hub: Any) -> None:
    statuses = [
        RuntimeStatus.Completed,
        RuntimeStatus.Running,
        RuntimeStatus.Failed,
        RuntimeStatus.Completed,
        RuntimeStatus.Pending,
        RuntimeStatus.Terminated,
        RuntimeStatus.Completed,
    ]

    async def body(storage: TaskHubStorage) -> None:
        for n, status in enumerate(statuses):
            prefix = "order" if n % 2 == 0 else "job"
            await storage.update_instance(record(f"{prefix}-{n}", status, created=at(n * 60)))

        seen: list[str] = []
        pages: list[int] = []
        token: str | None = None
        while True:
            page, token = await storage.query_instances(InstanceQuery(), top=3, continuation=token)
            pages.append(len(page))
            seen.extend(r.instance_id for r in page)
            if token is None:
                break
            assert isinstance(token, str)
        assert pages == [3, 3, 1]
        assert sorted(seen) == sorted(f"{'order' if n % 2 == 0 else 'job'}-{n}" for n in range(7))

        async def ids(query: InstanceQuery) -> list[str]:
            found, next_token = await storage.query_instances(query, top=100, continuation=None)
            assert next_token is None
            return sorted(r.instance_id for r in found)

        completed = frozenset({RuntimeStatus.Completed})
        assert await ids(InstanceQuery(runtime_statuses=completed)) == ["job-3", "order-0", "order-6"]
        assert await ids(
            InstanceQuery(runtime_statuses=frozenset({RuntimeStatus.Running, RuntimeStatus.Pending}))
        ) == ["job-1", "order-4"]
        assert await ids(InstanceQuery(created_from=at(120), created_to=at(240))) == [
            "job-3",
            "order-2",
            "order-4",
        ]
        assert await ids(InstanceQuery(instance_id_prefix="job")) == ["job-1", "job-3", "job-5"]
        assert await ids(
            InstanceQuery(instance_id_prefix="order-", runtime_statuses=completed, created_from=at(60))
        ) == ["order-6"]
        assert await ids(InstanceQuery(instance_id_prefix="nothing")) == []

        with pytest.raises(InvalidContinuationTokenError):
            await storage.query_instances(InstanceQuery(), top=3, continuation="not-a-token!")
        with pytest.raises(ValueError, match="top"):
            await storage.query_instances(InstanceQuery(), top=0, continuation=None)

    run_hub(body)


async def _seed_instance_with_everything(
    storage: TaskHubStorage, instance_id: str, status: RuntimeStatus
) -> None:
    """An instance with two executions of history (continue-as-new leftovers), history and message blobs."""
    first, second = new_execution_id(), new_execution_id()
    await storage.update_instance(record(instance_id, status, execution_id=second))
    old = [HistoryEvent(EventType.GenericEvent, fields={"Data": str(n)}) for n in range(5)]
    etag = await storage.append_history(instance_id, first, old, 0, None)
    big = HistoryEvent(EventType.EventRaised, fields={"Name": "big", "Input": "z" * 100_000})
    await storage.append_history(instance_id, second, [big], 0, etag)
    await storage.send_control(QueueMessage(instance_id, big))


def test_purge_one_removes_row_history_and_blobs(run_hub: Any, connection_string: str) -> None:
    async def body(storage: TaskHubStorage) -> None:
        await _seed_instance_with_everything(storage, "gone", RuntimeStatus.Completed)
        await _seed_instance_with_everything(storage, "kept", RuntimeStatus.Completed)
        history, container = storage.names.history_table, storage.names.large_messages_container
        assert len(await _raw.blob_names(connection_string, container, "gone/")) == 2

        assert await storage.purge_instance("gone") is True
        assert await storage.get_instance("gone") is None
        assert await _raw.query(connection_string, history, "PartitionKey eq 'gone'") == []
        assert await _raw.blob_names(connection_string, container, "gone/") == []
        assert (await storage.load_history("gone")).events == []
        assert await storage.purge_instance("gone") is False

        assert await storage.get_instance("kept") is not None
        assert (
            len(await _raw.query(connection_string, history, "PartitionKey eq 'kept'")) == 6
        )  # rows 0-4, sentinel
        assert len(await _raw.blob_names(connection_string, container, "kept/")) == 2

    run_hub(body)


def test_purge_by_filter_only_touches_terminal_instances(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        for status in RuntimeStatus:
            await _seed_instance_with_everything(storage, f"p-{status.value}", status)
        # Running is asked for but never purged; Completed is.
        asked = frozenset({RuntimeStatus.Completed, RuntimeStatus.Running})
        assert await storage.purge_instances(InstanceQuery(runtime_statuses=asked)) == 1
        assert await storage.get_instance("p-Completed") is None
        assert (
            await storage.purge_instances(InstanceQuery(runtime_statuses=frozenset({RuntimeStatus.Running})))
            == 0
        )
        assert await storage.purge_instances(InstanceQuery(created_from=at(3600))) == 0  # all created at T0
        assert await storage.purge_instances(InstanceQuery(created_from=T0 - timedelta(days=1))) == 3
        left, _ = await storage.query_instances(InstanceQuery(), top=100, continuation=None)
        assert sorted(r.runtime_status.value for r in left) == sorted(
            s.value for s in RuntimeStatus if not s.is_terminal
        )
        for survivor in left:
            assert (await storage.load_history(survivor.instance_id)).events

    run_hub(body)


def test_unchanged_large_input_is_not_uploaded_again(run_hub: Any, connection_string: str) -> None:
    big_input = '"' + "k" * 100_000 + '"'

    async def body(storage: TaskHubStorage) -> None:
        container = storage.names.large_messages_container
        started = await storage.create_instance(record("again", input=big_input), dedupe=RUNNING_STATES)
        for step in range(3):  # the runtime re-sends the input with every episode
            await storage.update_instance(
                replace(started, runtime_status=RuntimeStatus.Running, custom_status=str(step))
            )
        assert len(await _raw.blob_names(connection_string, container, "again/")) == 1
        await storage.update_instance(replace(started, input=big_input + " "))
        assert len(await _raw.blob_names(connection_string, container, "again/")) == 2

        await storage.update_instance(replace(started, runtime_status=RuntimeStatus.Completed))
        assert await storage.purge_instance("again")
        await storage.create_instance(record("again", input=big_input), dedupe=RUNNING_STATES)
        current = await storage.get_instance("again")
        assert current is not None and current.input == big_input
        assert len(await _raw.blob_names(connection_string, container, "again/")) == 1

    run_hub(body)


def test_oversized_custom_status_is_a_clear_error(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        huge = record("cs", RuntimeStatus.Running, custom_status='"' + "c" * 40_000 + '"')
        with pytest.raises(ValueError, match="CustomStatus is 80004 bytes"):
            await storage.update_instance(huge)
        assert await storage.get_instance("cs") is None

    run_hub(body)
