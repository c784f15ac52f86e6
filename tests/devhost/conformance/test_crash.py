"""SIGKILL devhost at seeded random moments while 50 orchestrations mix activities and timers; nothing may be lost
or duplicated (architecture doc "Durability"; spec 6.4/6.5/7.5)."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ._http import TERMINAL, call, status_url
from ._tables import OC, OS, Expected, assert_history, assert_well_formed, describe_partition, event_rows
from .conftest import Conformance

INSTANCES = 50
KILLS = 6
SEED = 20261121


def expected_total(k: int) -> int:
    return sum(k * 10 + step for step in (0, 1, 2, 10, 11, 12))


def scheduled(event_id: int) -> Expected:
    return ("TaskScheduled", event_id, {"Name": "crash_add"})


def done(task_id: int, value: int) -> Expected:
    return ("TaskCompleted", -1, {"TaskScheduledId": task_id, "Result": str(value)})


def sequential_part(k: int) -> list[Expected]:
    """Episodes 1-7: three activity+timer steps (ids 0..5), then the fan-out of three (ids 6, 7, 8)."""
    rows: list[Expected] = [OS, ("ExecutionStarted", -1, {"Name": "crash_mix"}), scheduled(0), OC]
    for step in range(3):
        activity, timer = step * 2, step * 2 + 1
        rows += [OS, done(activity, k * 10 + step), ("TimerCreated", timer, {}), OC]
        rows += [OS, ("TimerFired", -1, {"TimerId": timer})]
        rows += [scheduled(timer + 1), OC] if step < 2 else [scheduled(6), scheduled(7), scheduled(8), OC]
    return rows


def all_terminal(conformance: Conformance, ids: list[str]) -> dict[str, dict[str, Any]]:
    finished: dict[str, dict[str, Any]] = {}
    for instance_id in ids:
        result = call("GET", status_url(conformance.webhooks, instance_id))
        if result.status == 200 and result.json()["runtimeStatus"] in TERMINAL:
            finished[instance_id] = result.json()
    return finished


@pytest.mark.slow
def test_sigkill_restarts_lose_and_duplicate_nothing(conformance: Conformance) -> None:
    rng = random.Random(SEED)
    # Started side by side: one by one they take long enough on a busy machine for the first ones to finish.
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda k: conformance.start_id("crash_mix", {"k": k}), range(INSTANCES)))

    for kill in range(KILLS):
        # The first kill comes early: an instance needs only ~3 s (three 1 s timers fired on time), and all of
        # them must not be done before it.
        time.sleep(rng.uniform(0.2, 0.8) if kill == 0 else rng.uniform(0.5, 2.5))
        if kill == 0:
            # Guard against a vacuous test: the first crash must hit orchestrations in flight.
            assert len(all_terminal(conformance, ids)) < len(ids), "everything finished before the first SIGKILL"
        conformance.devhost.kill()
        time.sleep(rng.uniform(0.0, 0.5))
        conformance.devhost.start()
    assert conformance.devhost.starts == KILLS + 1

    deadline = time.monotonic() + 180
    finished: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(finished) < len(ids):
        finished = all_terminal(conformance, ids)
        time.sleep(0.5)
    missing = [i for i in ids if i not in finished]
    assert not missing, f"{len(missing)} instances never finished, e.g. {missing[:3]}\n{conformance.log_tail()}"

    for k, instance_id in enumerate(ids):
        status = finished[instance_id]
        fresh = call("GET", status_url(conformance.webhooks, instance_id)).json()
        context = (
            f"instance k={k} {instance_id}; status now: {fresh['runtimeStatus']} output={fresh.get('output')!r}\n"
            f"{describe_partition(conformance.tables, instance_id)}"
        )
        assert status["runtimeStatus"] == "Completed", context
        assert status["output"] == {"k": k, "total": expected_total(k)}, f"output {status['output']!r}; {context}"

        _, history = assert_well_formed(conformance.tables, instance_id)
        assert_history(history, sequential_part(k), prefix=True)
        tail = event_rows(history)[len(sequential_part(k)):]
        fan_in = {r["TaskScheduledId"]: r["Result"] for r in tail if r["EventType"] == "TaskCompleted"}
        assert fan_in == {6 + j: str(k * 10 + 10 + j) for j in range(3)}, (k, fan_in)
        assert {r["EventType"] for r in tail} <= {
            "OrchestratorStarted", "TaskCompleted", "ExecutionCompleted", "OrchestratorCompleted",
        }, [r["EventType"] for r in tail]
        final = [r for r in tail if r["EventType"] == "ExecutionCompleted"]
        assert [(r["EventId"], r["OrchestrationStatus"]) for r in final] == [(9, "Completed")]
