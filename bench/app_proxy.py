"""A recording reverse proxy for the app benchmark: sits in front of devmodel (to time provider runs and
the app's first look at each finished run) or Azurite (to count storage operations)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from yarl import URL


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    started: float
    finished: float
    request_body: bytes
    response_body: bytes
    delivered: bool = True
    """False when the client had gone before the answer was complete (a stream it stopped following)."""


Hook = Callable[[Exchange], None]
Fault = Callable[[str, str], int | None]
"""(method, path) -> an HTTP status to answer instead of forwarding (an injected fault), or None."""
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass
class RecordingProxy:
    """Forward every request on 127.0.0.1:``port`` to ``target`` and call ``hook`` with each exchange."""

    target: str
    port: int
    hook: Hook
    fault: Fault | None = None
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _ready: threading.Event = field(default_factory=threading.Event, init=False)

    def start(self) -> RecordingProxy:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"proxy on {self.port} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        session: aiohttp.ClientSession | None = None

        async def handle(request: web.Request) -> web.StreamResponse:
            nonlocal session
            if session is None:
                session = aiohttp.ClientSession(auto_decompress=False,
                                                connector=aiohttp.TCPConnector(limit=200))
            body = await request.read()
            started = time.monotonic()
            injected = self.fault(request.method, request.path) if self.fault is not None else None
            if injected is not None:
                error = b"<?xml version='1.0' encoding='utf-8'?><Error><Code>InternalError</Code>" \
                        b"<Message>injected fault</Message></Error>"
                self.hook(Exchange(request.method, request.path, injected, started, time.monotonic(), body, error))
                return web.Response(status=injected, body=error, content_type="application/xml")
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
            # Forward byte-exact: Shared Key signatures cover the path and several headers, so no re-encoding
            # of the URL and no headers the client did not send (aiohttp would add Content-Type etc.).
            present = {k.lower() for k in request.headers}
            skip = {h for h in ("Content-Type", "User-Agent", "Accept", "Accept-Encoding") if h.lower() not in present}
            url = URL(self.target + request.raw_path, encoded=True)
            async with session.request(request.method, url, data=body or None, headers=headers,
                                       skip_auto_headers=skip, allow_redirects=False) as upstream:
                payload = await upstream.read()
                out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
                status = upstream.status
            gone = request.transport is None or request.transport.is_closing()
            self.hook(Exchange(request.method, request.path, status, started, time.monotonic(), body, payload,
                               delivered=not gone))
            return web.Response(status=status, body=payload, headers=out_headers)

        async def serve() -> web.AppRunner:
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            return runner

        runner = loop.run_until_complete(serve())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        if session is not None:
            loop.run_until_complete(session.close())
        loop.close()
