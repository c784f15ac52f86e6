"""Start devhost's HTTP server on a free port around a sample app, for tests that talk real HTTP to it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from azure.durable_functions.models.utils import http_utils

from devhost.functions import FunctionIndex, FunctionInvoker, FunctionKind, load_app
from devhost.http import AuthKeys, DurableBackend, HostServer, ServerOptions

from .fakes import FakeBackend

APPS = Path(__file__).parent / "apps"
HUB = "FrontHub"


@dataclass
class RunningHost:
    server: HostServer
    backend: DurableBackend
    session: aiohttp.ClientSession
    index: FunctionIndex

    @property
    def fake(self) -> FakeBackend:
        assert isinstance(self.backend, FakeBackend)
        return self.backend


def orchestrator_names(index: FunctionIndex) -> frozenset[str]:
    return frozenset(f.durable_name for f in index.of_kind(FunctionKind.ORCHESTRATOR) if f.durable_name)


@contextlib.asynccontextmanager
async def running_host(
    app: str = "full",
    *,
    backend: DurableBackend | None = None,
    keys: AuthKeys | None = None,
    route_prefix: str = "api",
) -> AsyncIterator[RunningHost]:
    index = load_app(APPS / app)
    invoker = FunctionInvoker(index, function_directory=str(APPS / app))
    backend = backend or FakeBackend(orchestrators=orchestrator_names(index))
    server = HostServer(invoker, backend, ServerOptions(
        task_hub=HUB, route_prefix=route_prefix, keys=keys or AuthKeys("function-key", "master-key", "system-key", enforce=False),
    ))
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(server.origin) as session:
            yield RunningHost(server, backend, session, index)
    finally:
        await server.stop()
        # The durable SDK keeps one global client session; each test runs its own event loop.
        await http_utils._close_session()
