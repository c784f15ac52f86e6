# azure-functions-durable ships no type information, so its decorators are Any to mypy.
# mypy: disable-error-code="untyped-decorator"
"""An activity with a durable client binding (the app's create_run and checkpoint have one): it must work in a
worker that has served nothing else yet, e.g. one resuming orchestrations after a restart."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="name")
@app.durable_client_input(client_name="client")
async def hub_of(name: str, client: df.DurableOrchestrationClient) -> str:
    status_url = client.create_http_management_payload("probe")["statusQueryGetUri"]
    return f"{name} via {status_url}"
