"""Queue round trip of the app's tools served to Foundry agents: message in (input queue) to answer out (output
queue), with function_app.py on devhost over Azurite, and the same round trip inside an agent run (devmodel as the
agent service: a threads run whose weather tool is an azure_function tool).

    .venv/bin/python -m bench.queue_bench [--repeat 40] [--burst 16]

Rows:
- back to back: one call at a time, the next put as soon as the answer is read (the trigger keeps polling fast);
- after 3 s idle: the trigger has backed off towards maxPollingInterval (host.json: 2 s) between polls;
- burst: N calls put at once, each one's time from its put to its answer;
- agent run: a threads run with the azure_function weather tool, create to completed (scripted model, no latency).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import statistics
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, QueueServiceClient
from openai import OpenAI
from rich.console import Console
from rich.table import Table

from devhost.azurite import AzuriteProcess, connection_string, free_port
from tests.app.stack import devhost_app, devmodel


@dataclass
class Series:
    name: str
    seconds: list[float]

    def pct(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class RoundTrips:
    def __init__(self, conn: str, prefix: str) -> None:
        self.inp = QueueClient.from_connection_string(conn, f"{prefix}-get-weather-input")
        self.out = QueueClient.from_connection_string(conn, f"{prefix}-get-weather-output")
        for queue in (self.inp, self.out):  # infra creates them in Azure; the app creates the output on first use
            with contextlib.suppress(ResourceExistsError):
                queue.create_queue()

    def put(self, correlation_id: str) -> float:
        body = json.dumps({"location": "Seattle, WA", "CorrelationId": correlation_id}).encode()
        started = time.perf_counter()
        self.inp.send_message(base64.b64encode(body).decode())
        return started

    def collect(self, started: dict[str, float], timeout: float = 60.0) -> list[float]:
        """Read answers until every put CorrelationId is answered; time = answer read - put."""
        took: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(took) < len(started) and time.monotonic() < deadline:
            got = False
            for message in self.out.receive_messages(max_messages=32):
                got = True
                answer = json.loads(base64.b64decode(message.content))
                cid = answer["CorrelationId"]
                if cid in started and cid not in took:
                    took[cid] = time.perf_counter() - started[cid]
                self.out.delete_message(message)
            if not got:
                time.sleep(0.005)
        if len(took) < len(started):
            raise TimeoutError(f"{len(started) - len(took)} calls unanswered after {timeout}s")
        return list(took.values())

    def one(self) -> float:
        cid = uuid.uuid4().hex
        return self.collect({cid: self.put(cid)})[0]


def agent_runs(model_url: str, conn: str, prefix: str, repeat: int) -> list[float]:
    endpoint = str(QueueServiceClient.from_connection_string(conn).url).rstrip("/")

    def binding(queue: str) -> dict[str, Any]:
        return {"type": "storage_queue", "storage_queue": {"queue_service_endpoint": endpoint, "queue_name": queue}}

    tool = {"type": "azure_function", "azure_function": {
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
            "location": {"type": "string"}}}},
        "input_binding": binding(f"{prefix}-get-weather-input"),
        "output_binding": binding(f"{prefix}-get-weather-output")}}
    client = OpenAI(base_url=model_url, api_key="local-dev-key", max_retries=0)
    times: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        agent = client.beta.assistants.create(model="devmodel", tools=[tool])  # type: ignore[list-item]
        for _ in range(repeat):
            thread = client.beta.threads.create(messages=[{"role": "user",
                                                           "content": "What is the weather in Seattle, WA?"}])
            started = time.perf_counter()
            run = client.beta.threads.runs.create(thread.id, assistant_id=agent.id)
            while run.status in ("queued", "in_progress"):
                time.sleep(0.01)
                run = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
            if run.status != "completed":
                raise RuntimeError(f"agent run ended {run.status}: {run.last_error}")
            times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Queue round trip of the app's azure_function tools on devhost.")
    parser.add_argument("--repeat", type=int, default=40, help="round trips per row (default 40)")
    parser.add_argument("--burst", type=int, default=16, help="calls put at once in the burst row (default 16)")
    parser.add_argument("--idle-repeat", type=int, default=8, help="round trips after 3 s idle (default 8)")
    args = parser.parse_args(argv)
    if min(args.repeat, args.burst, args.idle_repeat) < 1:
        parser.error("--repeat, --burst and --idle-repeat must be >= 1")
    console = Console(width=120)
    work = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    ports = (free_port(), free_port(), free_port())
    prefix = "qb" + uuid.uuid4().hex[:6]
    series: list[Series] = []
    with AzuriteProcess(data_dir=work / "azurite", ports=ports):
        conn = connection_string("127.0.0.1", ports)
        settings = {"ASSISTANT_STORAGE_PREFIX": "b" + uuid.uuid4().hex[:8], "ASSISTANT_TOOL_QUEUE_PREFIX": prefix}
        with devmodel(work, extra_args=["--queue-storage", conn]) as model, \
                devhost_app(conn, work, model, settings=settings):
            trips = RoundTrips(conn, prefix)
            for _ in range(3):  # warm-up: table seeding, ledger table, client pools
                trips.one()
            console.print(f"back to back: {args.repeat} round trips")
            series.append(Series("back to back", [trips.one() for _ in range(args.repeat)]))
            console.print(f"after 3 s idle: {args.idle_repeat} round trips")
            idle = []
            for _ in range(args.idle_repeat):
                time.sleep(3)
                idle.append(trips.one())
            series.append(Series("after 3 s idle", idle))
            console.print(f"burst: {args.repeat} rounds of {args.burst} calls")
            burst: list[float] = []
            for _ in range(max(1, args.repeat // args.burst)):
                started = {cid: trips.put(cid) for cid in (uuid.uuid4().hex for _ in range(args.burst))}
                burst += trips.collect(started)
            series.append(Series(f"burst of {args.burst}", burst))
            console.print(f"agent runs: {args.idle_repeat} threads runs through devmodel")
            series.append(Series("agent run (create → completed)", agent_runs(model.base_url, conn, prefix,
                                                                             args.idle_repeat)))
    table = Table(title="Tool queue round trip on devhost + Azurite (message in → answer out)")
    for column in ("series", "n", "p50 ms", "p95 ms", "mean ms", "max ms"):
        table.add_column(column, justify="left" if column == "series" else "right")
    for s in series:
        table.add_row(s.name, str(len(s.seconds)), f"{s.pct(0.5) * 1000:.0f}", f"{s.pct(0.95) * 1000:.0f}",
                      f"{statistics.mean(s.seconds) * 1000:.0f}", f"{max(s.seconds) * 1000:.0f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
