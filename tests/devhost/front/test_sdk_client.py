"""Every management call of the SDK's DurableOrchestrationClient against devhost's routes (FakeBackend behind)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest
from azure.durable_functions import DurableOrchestrationClient, OrchestrationRuntimeStatus

from devhost.model import RuntimeStatus

from .harness import running_host

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_sdk_client_operations() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            fake = host.fake
            client = DurableOrchestrationClient(host.server.management_endpoint().binding_json())

            instance_id = await client.start_new("hello_orchestrator", "sdk-1", {"a": 1})
            assert instance_id == "sdk-1"
            with pytest.raises(Exception, match="doesn't exist, is disabled, or is not an orchestrator"):
                await client.start_new("missing_orchestrator")

            status = await client.get_status("sdk-1", show_input=True)
            assert status.runtime_status is OrchestrationRuntimeStatus.Pending
            assert status.input_ == '{"a": 1}'  # double-encoded by the SDK (spec 2.10)
            missing = await client.get_status("nobody")
            assert not missing

            fake.add("old", "hello_orchestrator", RuntimeStatus.Completed, created=T0, output='"x"')
            fake.add("older", "hello_orchestrator", RuntimeStatus.Failed, created=T0 - timedelta(hours=1))
            everyone = await client.get_status_all()
            assert sorted(s.instance_id for s in everyone) == ["old", "older", "sdk-1"]
            completed = await client.get_status_by(runtime_status=[OrchestrationRuntimeStatus.Completed])
            assert [s.instance_id for s in completed] == ["old"]
            recent = await client.get_status_by(created_time_from=T0 - timedelta(minutes=1))
            assert sorted(s.instance_id for s in recent) == ["old", "sdk-1"]

            await client.suspend("sdk-1", "pause")
            assert fake.status_of("sdk-1") is RuntimeStatus.Suspended
            await client.resume("sdk-1", "go")
            await client.raise_event("sdk-1", "Approval", "yes")
            assert fake.last_call() == ("raise_event", "sdk-1", "Approval", '"\\"yes\\""')
            await client.terminate("sdk-1", "enough said")
            assert fake.last_call() == ("terminate", "sdk-1", "enough said")
            await client.terminate("sdk-1", "again")  # 410 is fine for the SDK
            with pytest.raises(Exception, match="is gone"):
                await client.raise_event("sdk-1", "Approval", 1)
            with pytest.raises(Exception, match="No instance with ID nobody found"):
                await client.raise_event("nobody", "Approval", 1)
            with pytest.raises(Exception, match="No instance with ID 'nobody' found"):
                await client.terminate("nobody", "x")

            restarted = await client.restart("sdk-1", restart_with_new_instance_id=False)
            # The .NET handler answers with the check-status payload, so the SDK returns a dict (known mismatch).
            assert isinstance(restarted, dict) and restarted["id"] == "sdk-1"

            purged = await client.purge_instance_history("old")
            assert purged.instances_deleted == 1
            assert (await client.purge_instance_history("old")).instances_deleted == 0
            by_filter = await client.purge_instance_history_by(created_time_from=T0 - timedelta(days=1))
            assert by_filter.instances_deleted == 1  # "older" (Failed); sdk-1 is Pending again
            assert set(fake.instances) == {"sdk-1"}

            with pytest.raises(Exception, match="Rewind is not supported by devhost"):
                await client.rewind("sdk-1", "try again")

            # wait_for_completion... polls get_status; the fake completes the instance on the 2nd poll.
            fake.complete_after_polls = 2
            fake.completion_output = '{"answer":42}'
            request = func.HttpRequest("POST", f"{host.server.origin}/api/x", body=b"")
            response = await client.wait_for_completion_or_create_check_status_response(
                request, "sdk-1", timeout_in_milliseconds=5000, retry_interval_in_milliseconds=10)
            assert response.status_code == 200
            assert json.loads(response.get_body()) == {"answer": 42}

    asyncio.run(scenario())
