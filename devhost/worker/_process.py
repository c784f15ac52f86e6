"""The worker process: loads the app and runs its functions for devhost, as the Python language worker does
for the Functions host (``python -m devhost.worker``, started by devhost itself).

It connects to the Unix socket devhost listens on, says whether the app loaded, then serves invocations
concurrently: async functions on its event loop, sync ones in its thread pool (the worker's conventions, carried
out by the same :class:`FunctionInvoker` devhost uses in process). The app's stdout and stderr are devhost's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devhost.functions import FunctionIndex, FunctionInvoker, InvocationError, exception_text, load_app
from devhost.functions._errors import AppLoadError
from devhost.logs import configure_logging

from . import _protocol as wire

log = logging.getLogger("devhost.worker")


class WorkerServer:
    """Answers one devhost's invocation requests on one connection."""

    def __init__(self, invoker: FunctionInvoker, writer: asyncio.StreamWriter) -> None:
        self._invoker = invoker
        self._index: FunctionIndex = invoker.index
        self._writer = writer
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader) -> None:
        while True:
            frame = await wire.read_frame(reader)
            if frame is None:
                return  # devhost went away: so does its worker
            task = asyncio.create_task(self._answer(frame))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, frame: dict[str, Any]) -> None:
        # Every request gets an answer, whatever the function raised (even a CancelledError of its own): an
        # unanswered one would leave devhost waiting for ever.
        answer: dict[str, Any] = {"id": frame["id"], "ok": False, "error": "WorkerStopping: the worker is stopping"}
        try:
            answer = {"id": frame["id"], "ok": True, "result": await self._run(frame)}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if not isinstance(exc, InvocationError):
                log.error("function failed:\n%s", "".join(traceback.format_exception(exc)).rstrip())
            answer = {"id": frame["id"], "ok": False, "error": exception_text(exc)}
        finally:
            self._writer.write(wire.encode_frame(answer))

    async def _run(self, frame: dict[str, Any]) -> Any:
        op = frame["op"]
        endpoint = wire.endpoint_from_wire(frame.get("endpoint"))
        if endpoint is not None:
            self._invoker.client_endpoint = endpoint
        if op == "orchestrator":
            # Sync, like every orchestrator function: in the pool, so the loop keeps serving.
            loop = asyncio.get_running_loop()
            raw = await loop.run_in_executor(
                self._invoker.executor, self._invoker.invoke_orchestrator, frame["name"], frame["context"]
            )
            if isinstance(raw, BaseException):
                return {"exception": str(raw), "type": type(raw).__name__}
            if isinstance(raw, bytes | bytearray):
                raw = raw.decode("utf-8", errors="replace")
            return {"value": raw if isinstance(raw, str) else None, "type": type(raw).__name__}
        if op == "activity":
            outcome = await self._invoker.invoke_activity(frame["name"], frame["input"], instance_id=frame["instance"])
            return wire.outcome_to_wire(outcome)
        info = self._index.get(frame["function"])
        if info is None:
            raise InvocationError(f"no function named '{frame['function']}'")
        if op == "http":
            response = await self._invoker.call_http(info, wire.http_request_from_wire(frame["request"]))
            return wire.http_response_to_wire(response)
        if op == "timer":
            await self._invoker.call_timer(info, past_due=frame["past_due"], last=wire.parse_iso(frame["last"]),
                                           next_=wire.parse_iso(frame["next"]))
            return None
        if op == "queue":
            await self._invoker.call_queue(info, wire.delivery_from_wire(frame["delivery"]))
            return None
        raise InvocationError(f"unknown operation '{op}'")


async def run(args: argparse.Namespace) -> int:
    reader, writer = await asyncio.open_unix_connection(args.connect, limit=wire.MAX_FRAME)
    try:
        index = load_app(Path(args.app), args.script_file, change_cwd=True)
    except AppLoadError as exc:
        writer.write(wire.encode_frame({"ready": False, "error": str(exc)}))
        await writer.drain()
        writer.close()
        return 1
    executor = ThreadPoolExecutor(max_workers=args.threads, thread_name_prefix="worker-fn")
    invoker = FunctionInvoker(index, executor=executor, function_directory=args.app)
    writer.write(wire.encode_frame({"ready": True}))
    await WorkerServer(invoker, writer).serve(reader)
    # devhost closed the connection (it stops, or it died): nothing the worker still runs can be delivered, so
    # end now rather than wait for sync functions that may never return.
    logging.shutdown()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--connect", required=True, help="devhost's Unix socket")
    parser.add_argument("--app", required=True)
    parser.add_argument("--script-file", default="function_app.py")
    parser.add_argument("--threads", type=int, default=8, help="the sync functions' thread pool")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--json-logs", action="store_true")
    parser.add_argument("--log-level", type=int, default=logging.INFO, help="a logging level number")
    args = parser.parse_args(argv)
    args.app = str(Path(args.app).resolve())  # before the app's load makes it the working directory
    configure_logging(verbose=args.verbose, json_lines=args.json_logs, level=args.log_level)
    # Ctrl-C reaches the whole process group: devhost stops first and then closes the connection, which ends
    # the worker; stopping on the signal itself would fail what devhost is still draining.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    except (ConnectionError, FileNotFoundError) as exc:
        print(f"devhost worker: cannot reach devhost at {args.connect}: {exc}", file=sys.stderr)
        return 1
