"""The SDK's DurableOrchestrationClient, inside an HTTP-triggered function, talking to devhost's server."""

from __future__ import annotations

import asyncio
import json

from devhost.model import RuntimeStatus

from .harness import HUB, running_host


def test_binding_payload_shape() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            endpoint = host.server.management_endpoint()
            payload = json.loads(endpoint.binding_json())
            base = f"{host.server.origin}/runtime/webhooks/durabletask"
            assert payload["taskHubName"] == HUB and payload["connectionName"] is None
            assert payload["rpcBaseUrl"] == base + "/"
            assert payload["baseUrl"] == base
            assert payload["creationUrls"]["createNewInstancePostUri"] == (
                f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?")
            assert payload["managementUrls"]["id"] == "INSTANCEID"
            assert payload["managementUrls"]["statusQueryGetUri"] == (
                f"{base}/instances/INSTANCEID?taskHub={HUB}&connection=Storage")
            assert "rewindPostUri" in payload["managementUrls"]
            assert payload["httpBaseUrl"] is None and payload["requiredQueryStringParameters"] == ""

    asyncio.run(scenario())


def test_starter_function_end_to_end() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            # client.start_new + create_check_status_response inside the app, through devhost's RPC base.
            async with host.session.post("/api/orchestrators/hello_orchestrator/e2e", json="Tokyo") as response:
                assert response.status == 202
                body = await response.json()
                assert response.headers["Location"] == body["statusQueryGetUri"]
            assert body["id"] == "e2e"
            assert body["statusQueryGetUri"].startswith(f"{host.server.origin}/runtime/webhooks/durabletask/")
            stored = host.fake.instances["e2e"]
            # The SDK df_dumps the input then JSON-encodes that text again (spec 2.10): a JSON string literal.
            assert stored.input == '"\\"Tokyo\\""'
            # The check-status URL the app returned works against devhost.
            async with host.session.get(body["statusQueryGetUri"]) as response:
                assert response.status == 202
                assert (await response.json())["runtimeStatus"] == "Pending"

            # client.get_status with history, via another function.
            host.fake.add("seen", "hello_orchestrator", RuntimeStatus.Completed, output='"Hello Tokyo"')
            async with host.session.get("/api/status/seen") as response:
                status = await response.json()
            assert status == {"found": True, "name": "hello_orchestrator", "runtimeStatus": "Completed",
                              "output": "Hello Tokyo", "historyEvents": []}
            async with host.session.get("/api/status/nobody") as response:
                assert response.status == 404
                assert await response.json() == {"found": False}

            # client.raise_event: the SDK double-encodes the payload (spec 2.10).
            host.fake.add("waiting", "hello_orchestrator", RuntimeStatus.Running)
            async with host.session.post("/api/events/waiting/Approval", json={"ok": True}) as response:
                assert response.status == 202
            assert host.fake.calls[-1] == ("raise_event", "waiting", "Approval", '"{\\"ok\\": true}"')

            # An unknown orchestrator makes client.start_new raise (400 + ExceptionMessage): the function fails.
            async with host.session.post("/api/orchestrators/nope") as response:
                assert response.status == 500

    asyncio.run(scenario())
