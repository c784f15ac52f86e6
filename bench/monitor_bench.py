"""Benchmark of the web monitor and the conversation list on the local stack (devhost + Azurite + devmodel
scripted engine): how long each page and GET /api/conversations take to serve, as a browser or the CLI sees it.

    .venv/bin/python -m bench.monitor_bench [--conversations 40] [--requests 30]

Setup: N conversations, each with one seed-002 lamp turn (four parallel tool calls), plus one conversation with
five turns. Then each route is requested sequentially (one client, as a person browsing) and its latency
reported as p50/p95/max, with the response size."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

from devhost.azurite import AzuriteProcess, free_port
from tests.app.stack import HttpClient, devhost_app, devmodel

LAMPS = "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."


def run_turn(http: HttpClient, conversation_id: str, content: str) -> None:
    accepted = http.send(conversation_id, content)
    assert accepted.status == 202, accepted
    status, _ = http.wait(accepted.body["statusQueryGetUri"], timeout=300)
    assert status["runtimeStatus"] == "Completed", status


def timed_get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = response.read()
        assert response.status == 200, url
    return time.perf_counter() - started, len(body)


def measure(url: str, count: int) -> dict[str, float]:
    timed_get(url)  # warm: first use of a route builds clients and templates
    samples = [timed_get(url) for _ in range(count)]
    seconds = sorted(s for s, _ in samples)
    return {"p50": statistics.median(seconds), "p95": seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))],
            "max": seconds[-1], "bytes": samples[-1][1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the monitor's pages and GET /api/conversations.")
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args(argv)
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        with AzuriteProcess(data_dir=logs / "azurite", ports=(free_port(), free_port(), free_port()),
                            in_memory=True) as azurite, \
                devmodel(logs) as model, devhost_app(azurite.connection_string, logs, model) as stack:
            http = stack.http
            console.print(f"setting up {args.conversations} lamp conversations and one with 5 turns …")
            ids = [http.new_conversation() for _ in range(args.conversations)]
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda cid: run_turn(http, cid, LAMPS), ids))
            long_id = http.new_conversation()
            for _ in range(5):
                run_turn(http, long_id, LAMPS)
            api = stack.api
            routes = {
                "GET /api/conversations?top=20": f"{api}/conversations?top=20",
                "monitor: conversation list (20)": f"{api}/monitor",
                "monitor: conversation, 1 turn": f"{api}/monitor/conversations/{ids[0]}",
                "monitor: conversation, 5 turns": f"{api}/monitor/conversations/{long_id}",
                "monitor: turn page (lamp turn)": f"{api}/monitor/conversations/{ids[0]}/turns/1",
                "monitor: turn live fragment": f"{api}/monitor/conversations/{ids[0]}/turns/1?fragment=1",
            }
            results = {name: measure(url, args.requests) for name, url in routes.items()}
    table = Table(title=f"Monitor and list latency (devhost + Azurite, {args.requests} sequential requests each)")
    for column in ("route", "p50 ms", "p95 ms", "max ms", "KiB"):
        table.add_column(column, justify="left" if column == "route" else "right")
    for name, r in results.items():
        table.add_row(name, f"{r['p50'] * 1000:.0f}", f"{r['p95'] * 1000:.0f}", f"{r['max'] * 1000:.0f}",
                      f"{r['bytes'] / 1024:.1f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
