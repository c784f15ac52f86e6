"""The management API (/runtime/webhooks/durabletask) over real HTTP against the in-memory FakeBackend."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from devhost.model import EventType, HistoryEvent, RuntimeStatus

from .harness import HUB, running_host

BASE = "/runtime/webhooks/durabletask"
T0 = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_start_returns_202_check_status_payload_and_headers() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            origin = host.server.origin
            async with host.session.post(f"{BASE}/orchestrators/hello_orchestrator/my-id", json={"a": 1}) as response:
                assert response.status == 202
                body = await response.json()
                assert response.headers["Retry-After"] == "10"
                assert response.headers["Location"] == body["statusQueryGetUri"]
            base = f"{origin}{BASE}/instances/my-id"
            query = f"taskHub={HUB}&connection=Storage"
            assert body == {
                "id": "my-id",
                "statusQueryGetUri": f"{base}?{query}",
                "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{query}",
                "terminatePostUri": f"{base}/terminate?reason={{text}}&{query}",
                "purgeHistoryDeleteUri": f"{base}?{query}",
                "restartPostUri": f"{base}/restart?{query}",
                "suspendPostUri": f"{base}/suspend?reason={{text}}&{query}",
                "resumePostUri": f"{base}/resume?reason={{text}}&{query}",
            }
            assert host.fake.instances["my-id"].input == '{"a":1}'  # stored compact
            # Generated ids are Guid.ToString("N").
            async with host.session.post(f"{BASE}/orchestrators/hello_orchestrator") as response:
                generated = (await response.json())["id"]
                assert len(generated) == 32 and all(c in "0123456789abcdef" for c in generated)
            assert host.fake.instances[generated].input is None

    asyncio.run(scenario())


def test_start_errors_use_the_extension_shapes() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            post = host.session.post
            async with post(f"{BASE}/orchestrators/no_such_function") as response:
                assert response.status == 400
                body = await response.json()
                assert body["Message"] == "One or more of the arguments submitted is incorrect"
                assert body["ExceptionMessage"].startswith(
                    "The function 'no_such_function' doesn't exist, is disabled, or is not an orchestrator function.")
            async with post(f"{BASE}/orchestrators/hello_orchestrator", data="{not json",
                            headers={"Content-Type": "application/json"}) as response:
                assert response.status == 400
                assert (await response.json())["Message"] == "Invalid JSON content"
            async with post(f"{BASE}/orchestrators/hello_orchestrator/dup") as response:
                assert response.status == 202
            async with post(f"{BASE}/orchestrators/hello_orchestrator/dup") as response:
                assert response.status == 500
                assert (await response.json())["ExceptionMessage"] == (
                    "An Orchestration instance with the status Pending already exists.")
            async with post(f"{BASE}/orchestrators/hello_orchestrator/@bad") as response:
                assert response.status == 400
            async with host.session.get(f"{BASE}/orchestrators/hello_orchestrator") as response:
                assert response.status == 404  # start is POST only
            async with host.session.get(f"{BASE}/nothing-here") as response:
                assert response.status == 404

    asyncio.run(scenario())


def test_start_and_wait_for_completion() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            host.fake.complete_after_polls = 2
            host.fake.completion_output = '{"answer":42}'
            url = f"{BASE}/orchestrators/hello_orchestrator/waited?timeout=5&pollingInterval=0.01"
            async with host.session.post(url) as response:
                assert response.status == 200
                assert await response.json() == {"answer": 42}
            host.fake.complete_after_polls = 10_000
            url = f"{BASE}/orchestrators/hello_orchestrator/slow?timeout=0.05&pollingInterval=0.01"
            async with host.session.post(url) as response:
                assert response.status == 202
                assert (await response.json())["id"] == "slow"

    asyncio.run(scenario())


def test_get_status_codes_headers_and_payload() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            fake = host.fake
            fake.add("running", "hello_orchestrator", RuntimeStatus.Running, input='"{\\"a\\": 1}"',
                     custom_status='{"step":2}', created=T0)
            fake.add("done", "hello_orchestrator", RuntimeStatus.Completed, input='{"a":1}', output='"Hello"',
                     custom_status="null", created=T0)
            fake.add("failed", "hello_orchestrator", RuntimeStatus.Failed,
                     output="Orchestrator function 'hello_orchestrator' failed: boom", created=T0)
            fake.add("terminated", "hello_orchestrator", RuntimeStatus.Terminated, output="stop please", created=T0)
            get = host.session.get
            async with get(f"{BASE}/instances/running?taskHub={HUB}") as response:
                assert response.status == 202
                assert response.headers["Retry-After"] == "5"
                assert response.headers["Location"] == f"{host.server.origin}{BASE}/instances/running?taskHub={HUB}"
                assert await response.json() == {
                    "name": "hello_orchestrator", "instanceId": "running", "runtimeStatus": "Running",
                    "input": '{"a": 1}', "customStatus": {"step": 2}, "output": None,
                    "createdTime": "2026-11-21T10:00:00Z", "lastUpdatedTime": "2026-11-21T10:00:00Z",
                }
            async with get(f"{BASE}/instances/done?showInput=false") as response:
                assert response.status == 200
                body = await response.json()
                assert (body["input"], body["output"], body["customStatus"]) == (None, "Hello", None)
                assert "historyEvents" not in body
            async with get(f"{BASE}/instances/failed") as response:
                assert response.status == 200
                assert (await response.json())["output"] == "Orchestrator function 'hello_orchestrator' failed: boom"
            async with get(f"{BASE}/instances/failed?returnInternalServerErrorOnFailure=true") as response:
                assert response.status == 500
            async with get(f"{BASE}/instances/terminated") as response:
                assert (await response.json())["output"] == "stop please"  # not JSON: raw text
            async with get(f"{BASE}/instances/unknown") as response:
                assert response.status == 404
                assert await response.read() == b""  # the SDK turns an empty 404 into a falsy status

    asyncio.run(scenario())


def _history() -> list[HistoryEvent]:
    return [
        HistoryEvent(EventType.OrchestratorStarted, timestamp=_at(1)),
        HistoryEvent(EventType.ExecutionStarted, is_played=True, timestamp=_at(0), fields={
            "Name": "hello_orchestrator", "Version": "", "Input": '"Tokyo"', "Tags": None,
            "OrchestrationInstance": {"InstanceId": "h", "ExecutionId": "e1"}, "ParentInstance": None,
            "Generation": 0}),
        HistoryEvent(EventType.TaskScheduled, event_id=0, timestamp=_at(1), fields={
            "Name": "say_hello", "Version": "", "Input": '"Tokyo"'}),
        HistoryEvent(EventType.TimerCreated, event_id=1, timestamp=_at(1), fields={"FireAt": _at(5)}),
        HistoryEvent(EventType.OrchestratorCompleted, timestamp=_at(1)),
        HistoryEvent(EventType.OrchestratorStarted, timestamp=_at(6)),
        HistoryEvent(EventType.TaskCompleted, timestamp=_at(2), fields={"TaskScheduledId": 0,
                                                                        "Result": '"Hello Tokyo"'}),
        HistoryEvent(EventType.TimerFired, timestamp=_at(5), fields={"TimerId": 1, "FireAt": _at(5)}),
        HistoryEvent(EventType.EventRaised, timestamp=_at(6), fields={"Name": "Approval", "Input": '{"ok":true}'}),
        HistoryEvent(EventType.ExecutionCompleted, event_id=2, timestamp=_at(6), fields={
            "OrchestrationStatus": "Completed", "Result": '"Hello Tokyo"'}),
        HistoryEvent(EventType.OrchestratorCompleted, timestamp=_at(6)),
    ]


def test_history_events_transformation() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            host.fake.add("h", "hello_orchestrator", RuntimeStatus.Completed, input='"Tokyo"', output='"Hello Tokyo"')
            host.fake.histories["h"] = _history()
            async with host.session.get(f"{BASE}/instances/h?showHistory=true") as response:
                events = (await response.json())["historyEvents"]
            assert events == [
                {"EventType": "ExecutionStarted", "Timestamp": "2026-11-21T10:00:00.1234560Z", "Input": '"Tokyo"',
                 "Generation": 0, "FunctionName": "hello_orchestrator"},
                {"EventType": "TimerCreated", "Timestamp": "2026-11-21T10:00:01.1234560Z",
                 "FireAt": "2026-11-21T10:00:05.1234560Z"},
                {"EventType": "TaskCompleted", "Timestamp": "2026-11-21T10:00:02.1234560Z",
                 "ScheduledTime": "2026-11-21T10:00:01.1234560Z", "FunctionName": "say_hello", "Input": '"Tokyo"'},
                {"EventType": "TimerFired", "Timestamp": "2026-11-21T10:00:05.1234560Z",
                 "FireAt": "2026-11-21T10:00:05.1234560Z"},
                {"EventType": "EventRaised", "Timestamp": "2026-11-21T10:00:06.1234560Z", "Name": "Approval",
                 "Input": '{"ok":true}'},
                {"EventType": "ExecutionCompleted", "Timestamp": "2026-11-21T10:00:06.1234560Z",
                 "OrchestrationStatus": "Completed"},
            ]
            url = f"{BASE}/instances/h?showHistory=true&showHistoryOutput=true&showInput=false"
            async with host.session.get(url) as response:
                body = await response.json()
            assert body["input"] is None
            by_type = {e["EventType"]: e for e in body["historyEvents"]}
            assert by_type["TaskCompleted"]["Result"] == "Hello Tokyo"  # parsed JSON
            assert by_type["ExecutionCompleted"]["Result"] == "Hello Tokyo"
            assert all("Input" not in e for e in body["historyEvents"])
            # Pending instances have no history to show.
            host.fake.add("p", "hello_orchestrator", RuntimeStatus.Pending)
            host.fake.histories["p"] = _history()
            async with host.session.get(f"{BASE}/instances/p?showHistory=true") as response:
                assert "historyEvents" not in await response.json()

    asyncio.run(scenario())


def test_list_filters_paging_and_continuation_header() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            for i in range(5):
                host.fake.add(f"job-{i}", "hello_orchestrator",
                              RuntimeStatus.Completed if i % 2 else RuntimeStatus.Running, created=_at(i * 60))
            host.fake.add("other", "hello_orchestrator", RuntimeStatus.Running, created=_at(0))
            get = host.session.get
            async with get(f"{BASE}/instances?instanceIdPrefix=job-&top=2") as response:
                assert response.status == 200
                page1 = [s["instanceId"] for s in await response.json()]
                token = response.headers["x-ms-continuation-token"]
            async with get(f"{BASE}/instances?instanceIdPrefix=job-&top=2",
                           headers={"x-ms-continuation-token": token}) as response:
                page2 = [s["instanceId"] for s in await response.json()]
                token2 = response.headers["x-ms-continuation-token"]
            async with get(f"{BASE}/instances?instanceIdPrefix=job-&top=2",
                           headers={"x-ms-continuation-token": token2}) as response:
                page3 = [s["instanceId"] for s in await response.json()]
                assert "x-ms-continuation-token" not in response.headers
            assert page1 + page2 + page3 == [f"job-{i}" for i in range(5)]
            async with get(f"{BASE}/instances/?runtimeStatus=Running,Bogus") as response:
                assert sorted(s["instanceId"] for s in await response.json()) == ["job-0", "job-2", "job-4", "other"]
            since = (_at(120)).strftime("%Y-%m-%dT%H:%M:%SZ")
            async with get(f"{BASE}/instances?createdTimeFrom={since}&runtimeStatus=Completed") as response:
                assert [s["instanceId"] for s in await response.json()] == ["job-3"]
            async with get(f"{BASE}/instances?createdTimeFrom=yesterday") as response:
                assert response.status == 400

    asyncio.run(scenario())


def test_raise_event_rules() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            host.fake.add("live", "hello_orchestrator", RuntimeStatus.Running)
            host.fake.add("done", "hello_orchestrator", RuntimeStatus.Completed)
            post = host.session.post
            async with post(f"{BASE}/instances/live/raiseEvent/Approval", json={"ok": True}) as response:
                assert response.status == 202
            assert host.fake.calls[-1] == ("raise_event", "live", "Approval", '{"ok":true}')
            async with post(f"{BASE}/instances/live/raiseEvent/Approval", data="yes",
                            headers={"Content-Type": "text/plain"}) as response:
                assert response.status == 400
                assert (await response.json())["Message"] == "Only application/json request content is supported"
            async with post(f"{BASE}/instances/live/raiseEvent/Approval", data="{oops",
                            headers={"Content-Type": "application/json"}) as response:
                assert response.status == 400
            async with post(f"{BASE}/instances/done/raiseEvent/Approval", json=1) as response:
                assert response.status == 410
            async with post(f"{BASE}/instances/ghost/raiseEvent/Approval", json=1) as response:
                assert response.status == 404

    asyncio.run(scenario())


def test_terminate_suspend_resume_restart_rewind() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            fake = host.fake
            fake.add("a", "hello_orchestrator", RuntimeStatus.Running, input='"x"')
            post = host.session.post
            async with post(f"{BASE}/instances/a/suspend?reason=pause") as response:
                assert response.status == 202
            assert fake.status_of("a") is RuntimeStatus.Suspended
            async with post(f"{BASE}/instances/a/resume?reason=go") as response:
                assert response.status == 202
            async with post(f"{BASE}/instances/a/terminate?reason=stop%20now") as response:
                assert response.status == 202
            assert fake.calls[-1] == ("terminate", "a", "stop now")
            async with post(f"{BASE}/instances/a/terminate") as response:
                assert response.status == 410
            async with post(f"{BASE}/instances/zzz/terminate") as response:
                assert response.status == 404
            async with post(f"{BASE}/instances/a/rewind") as response:
                assert response.status == 410
            async with post(f"{BASE}/instances/a/restart?restartWithNewInstanceId=false") as response:
                assert response.status == 202
                assert (await response.json())["id"] == "a"
            assert fake.status_of("a") is RuntimeStatus.Pending
            async with post(f"{BASE}/instances/zzz/restart") as response:
                assert response.status == 400
                assert (await response.json())["ExceptionMessage"] == (
                    "InstanceId does not match a valid orchestration instance.")
            async with post(f"{BASE}/instances/a/frobnicate") as response:
                assert response.status == 400
                assert await response.json() == {"Message": "No such API"}

    asyncio.run(scenario())


def test_purge_by_id_and_by_filter() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            fake = host.fake
            fake.add("old-done", "hello_orchestrator", RuntimeStatus.Completed, created=_at(0))
            fake.add("old-running", "hello_orchestrator", RuntimeStatus.Running, created=_at(0))
            fake.add("one", "hello_orchestrator", RuntimeStatus.Failed, created=_at(0))
            delete = host.session.delete
            async with delete(f"{BASE}/instances/one") as response:
                assert response.status == 200
                assert await response.json() == {"instancesDeleted": 1}
            async with delete(f"{BASE}/instances/one") as response:
                assert response.status == 404
            async with delete(f"{BASE}/instances") as response:
                assert response.status == 400
                assert (await response.json())["Message"] == "Please provide value for 'createdTimeFrom' parameter."
            since = (_at(-60)).isoformat()
            async with delete(f"{BASE}/instances", params={"createdTimeFrom": since}) as response:
                assert response.status == 200
                assert await response.json() == {"instancesDeleted": 1}  # only terminal instances go
            async with delete(f"{BASE}/instances", params={"createdTimeFrom": since}) as response:
                assert response.status == 404
            assert list(fake.instances) == ["old-running"]

    asyncio.run(scenario())


def test_entities_are_reported_unsupported() -> None:
    async def scenario() -> None:
        async with running_host() as host, host.session.get(f"{BASE}/entities/counter/k") as response:
            assert response.status == 501
            assert "not supported" in json.dumps(await response.json())

    asyncio.run(scenario())
