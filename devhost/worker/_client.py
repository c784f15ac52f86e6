"""devhost's side of the worker process: start it, send it invocations, restart it when it dies.

:class:`WorkerInvoker` is a :class:`FunctionInvoker` whose calls run in the worker process instead of devhost's,
as the Functions host runs the app in a separate language worker. devhost keeps its own index of the app (loaded
the same way) for routing and triggers; only invocations cross the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.functions as func

from devhost.functions import FunctionIndex, FunctionInfo, FunctionInvoker, InvocationError, QueueDelivery
from devhost.runtime import ActivityOutcome

from . import _protocol as wire

log = logging.getLogger("devhost.worker")

START_TIMEOUT = 120.0
"""How long a worker may take to load the app, and how long an invocation waits for a worker being replaced."""
DEVHOST_ROOT = str(Path(__file__).resolve().parents[2])
RESTART_DELAY = 1.0


class WorkerStartError(Exception):
    """The worker process could not load the app or did not come up."""


class WorkerFunctionError(Exception):
    """A function failed in the worker; the message is the worker's ``"<ExceptionType>: <message>"``."""


class RemoteOrchestratorError(Exception):
    """What the orchestrator wrapper raised in the worker (its text carries the ``$OutOfProcData$`` state)."""


class WorkerInvoker(FunctionInvoker):
    """Runs every invocation in a worker process (``python -m devhost.worker``)."""

    def __init__(
        self,
        index: FunctionIndex,
        *,
        app_dir: Path,
        script_file: str,
        threads: int,
        log_args: list[str] | None = None,
        function_directory: str = "",
    ) -> None:
        super().__init__(index, function_directory=function_directory)
        self._app_dir = app_dir
        self._script_file = script_file
        self._threads = threads
        self._log_args = log_args or []
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket_dir: str | None = None
        self._socket_path = ""
        self._ready: asyncio.Event | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker and wait until it has loaded the app; raises WorkerStartError if it cannot."""
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._socket_dir = tempfile.mkdtemp(prefix="devhost-worker-")
        self._socket_path = os.path.join(self._socket_dir, "worker.sock")
        self._server = await asyncio.start_unix_server(self._accept, path=self._socket_path, limit=wire.MAX_FRAME)
        reader = await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(reader), name="devhost-worker")

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self._end_process()
        self._fail_pending("devhost is stopping")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_result((reader, writer))
        else:
            writer.close()  # not the worker we are waiting for

    async def _spawn(self) -> asyncio.StreamReader:
        """Start a worker and wait for its hello; any failure ends it and raises WorkerStartError."""
        try:
            return await self._spawn_once()
        except WorkerStartError:
            raise
        except (OSError, TimeoutError, ValueError, wire.ProtocolError) as exc:
            await self._end_process()
            raise WorkerStartError(f"the worker process did not start: {type(exc).__name__}: {exc}") from exc

    async def _spawn_once(self) -> asyncio.StreamReader:
        assert self._loop is not None and self._ready is not None
        self._connected = self._loop.create_future()
        # devhost's own package must be importable from the app's folder, where the worker runs.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (DEVHOST_ROOT, env.get("PYTHONPATH")) if p)
        process = self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devhost.worker", "--connect", self._socket_path, "--app", str(self._app_dir),
            "--script-file", self._script_file, "--threads", str(self._threads), *self._log_args, env=env,
        )
        connected = self._connected
        exited: asyncio.Future[Any] = asyncio.ensure_future(process.wait())
        done, _ = await asyncio.wait({connected, exited}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if connected not in done:
            exited.cancel()
            await self._end_process()
            code = process.returncode
            raise WorkerStartError(f"the worker process exited with code {code} before it connected"
                                   if code is not None else "the worker process did not connect")
        exited.cancel()
        reader, writer = connected.result()
        hello = await asyncio.wait_for(wire.read_frame(reader), START_TIMEOUT)
        if hello is None or not hello.get("ready"):
            await self._end_process()
            reason = (hello or {}).get("error") or "the worker process ended while loading the app"
            raise WorkerStartError(str(reason))
        self._writer = writer
        self._ready.set()
        return reader

    async def _end_process(self) -> None:
        if self._ready is not None:
            self._ready.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _supervise(self, reader: asyncio.StreamReader) -> None:
        """Route answers to their requests; when the worker dies, fail what it held and start another."""
        while True:
            try:
                while (frame := await wire.read_frame(reader)) is not None:
                    future = self._pending.pop(int(frame["id"]), None)
                    if future is not None and not future.done():
                        future.set_result(frame)
            except (wire.ProtocolError, ValueError, KeyError, TypeError, ConnectionError) as exc:
                log.error("the worker process broke the protocol: %s", exc)
            if self._stopping:
                return
            code = self._process.returncode if self._process is not None else None
            log.error("the worker process exited (code %s); invocations in flight fail, starting a new one", code)
            self._fail_pending("the worker process exited during the invocation")
            await self._end_process()
            while not self._stopping:
                await asyncio.sleep(RESTART_DELAY)
                try:
                    reader = await self._spawn()
                    break
                except Exception as exc:  # keep trying: a supervisor that gives up would fail every later call
                    log.error("could not restart the worker process: %s", exc)

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(WorkerFunctionError(f"WorkerExited: {reason}"))

    async def _request(self, op: str, **fields: Any) -> Any:
        if self._loop is None or self._ready is None or self._stopping:
            raise WorkerFunctionError("WorkerUnavailable: the worker process is not running")
        if not self._ready.is_set():
            # Being replaced: wait for the new one, as the host holds invocations until its worker is back.
            try:
                await asyncio.wait_for(self._ready.wait(), START_TIMEOUT)
            except TimeoutError:
                raise WorkerFunctionError("WorkerUnavailable: no worker process came up") from None
        if self._writer is None:
            raise WorkerFunctionError("WorkerUnavailable: the worker process is not running")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending[request_id] = future
        self._writer.write(wire.encode_frame({"id": request_id, "op": op, **fields}))
        answer = await future
        if not answer["ok"]:
            raise WorkerFunctionError(answer["error"])
        return answer["result"]

    def _endpoint(self) -> dict[str, Any] | None:
        return wire.endpoint_to_wire(self.client_endpoint)

    # -- FunctionInvoker ---------------------------------------------------------------------------------------

    def invoke_orchestrator(self, name: str, context_json: str) -> object:
        """Called from an episode thread: the request goes through devhost's loop."""
        if self.index.orchestrator(name) is None:
            raise InvocationError(f"no orchestrator function named '{name}'")
        assert self._loop is not None
        # A worker that dies here raises WorkerFunctionError out of the episode: its messages are retried, as
        # when devhost itself fails an episode, instead of failing the orchestration.
        result = asyncio.run_coroutine_threadsafe(
            self._request("orchestrator", name=name, context=context_json), self._loop
        ).result()
        if "exception" in result:
            return RemoteOrchestratorError(result["exception"])
        value = result.get("value")
        if value is not None:
            return value
        # Not a string: an instance of a stand-in class of the same name, so the engine's message names the type.
        return type(str(result["type"]), (), {})()

    async def invoke_activity(self, name: str, input_text: str | None, *, instance_id: str) -> ActivityOutcome:
        if self.index.activity(name) is None:
            raise InvocationError(f"no activity function named '{name}'")
        try:
            result = await self._request("activity", name=name, input=input_text, instance=instance_id,
                                         endpoint=self._endpoint())
        except WorkerFunctionError as exc:
            return ActivityOutcome(succeeded=False, error=str(exc))
        return wire.outcome_from_wire(result)

    async def call_http(self, info: FunctionInfo, request: func.HttpRequest) -> func.HttpResponse:
        result = await self._request("http", function=info.name, request=wire.http_request_to_wire(request),
                                     endpoint=self._endpoint())
        return wire.http_response_from_wire(result)

    async def call_timer(self, info: FunctionInfo, *, past_due: bool, last: datetime | None,
                         next_: datetime | None) -> None:
        await self._request("timer", function=info.name, past_due=past_due, last=wire.iso(last),
                            next=wire.iso(next_), endpoint=self._endpoint())

    async def call_queue(self, info: FunctionInfo, delivery: QueueDelivery) -> None:
        await self._request("queue", function=info.name, delivery=wire.delivery_to_wire(delivery),
                            endpoint=self._endpoint())
