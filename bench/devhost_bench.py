"""devhost benchmark: activity round-trip latency, chain throughput and fan-out time, against the targets.

Run `python -m bench.devhost_bench [--quick]`. It starts its own Azurite and a devhost serving the conformance app
(tests/devhost/conformance_app), measures, prints a rich table of target vs measured, and stops both.

Per-step latency is read from the History table (the gap between consecutive OrchestratorStarted rows of a
sequential chain: replay + checkpoint + dispatch + activity + completion message + next episode), so client
polling does not distort it. Fan-out time is client wall time from the start request to the first status poll
that reports Completed (polled every 20 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.data.tables import TableServiceClient
from rich.console import Console
from rich.table import Table

from bench.devhost_launcher import CONFORMANCE_APP_DIR, DevhostConfig, DevhostProcess
from devhost.azurite import AzuriteProcess, free_port

STEP_P50_TARGET_MS = 50.0
FAN_OUT_TARGET_S = 2.0


@dataclass
class BenchConfig:
    chain_runs: int
    chain_steps: int
    concurrent_chains: int
    fan_out_runs: int
    fan_out_size: int
    verbose: bool


@dataclass
class Row:
    metric: str
    measured: str
    target: str = "-"
    passed: bool | None = None


def post_json(url: str, body: Any) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


def wait_completed(status_uri: str, timeout: float = 120.0, interval: float = 0.02) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(status_uri, timeout=30) as resp:
            status: dict[str, Any] = json.loads(resp.read())
        if status.get("runtimeStatus") in ("Completed", "Failed", "Terminated"):
            if status["runtimeStatus"] != "Completed":
                raise RuntimeError(f"orchestration ended {status['runtimeStatus']}: {status.get('output')}")
            return status
        time.sleep(interval)
    raise TimeoutError(f"not completed after {timeout:.0f}s: {status_uri}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class Bench:
    def __init__(self, devhost: DevhostProcess, storage: str, cfg: BenchConfig) -> None:
        self.devhost = devhost
        self.cfg = cfg
        service = TableServiceClient.from_connection_string(storage)
        self.history = service.get_table_client(f"{devhost.config.hub}History")
        self.instances = service.get_table_client(f"{devhost.config.hub}Instances")

    def start(self, orchestrator: str, payload: Any) -> dict[str, Any]:
        return post_json(f"{self.devhost.api_url}/orchestrators/{orchestrator}", payload)

    def run(self, orchestrator: str, payload: Any) -> tuple[str, float]:
        began = time.perf_counter()
        started = self.start(orchestrator, payload)
        wait_completed(started["statusQueryGetUri"])
        return started["id"], time.perf_counter() - began

    def episode_starts(self, instance_id: str) -> list[datetime]:
        rows = self.history.query_entities(
            f"PartitionKey eq '{instance_id}' and EventType eq 'OrchestratorStarted'"
        )
        return [r["_Timestamp"] for r in sorted(rows, key=lambda r: r["RowKey"])]

    def sequential_chain(self) -> list[Row]:
        step_ms: list[float] = []
        wall_per_step_ms: list[float] = []
        for _ in range(self.cfg.chain_runs):
            instance_id, wall = self.run("chain_n", {"steps": self.cfg.chain_steps})
            starts = self.episode_starts(instance_id)
            step_ms += [(b - a).total_seconds() * 1000 for a, b in zip(starts, starts[1:], strict=False)]
            wall_per_step_ms.append(wall * 1000 / self.cfg.chain_steps)
        p50, p95 = statistics.median(step_ms), percentile(step_ms, 0.95)
        return [
            Row(
                f"activity round trip p50 (chain of {self.cfg.chain_steps}, {len(step_ms)} steps)",
                f"{p50:.1f} ms", f"<= {STEP_P50_TARGET_MS:.0f} ms", p50 <= STEP_P50_TARGET_MS,
            ),
            Row("activity round trip p95", f"{p95:.1f} ms"),
            Row("client wall time per step (p50 over chains)", f"{statistics.median(wall_per_step_ms):.1f} ms"),
        ]

    def chain_throughput(self) -> list[Row]:
        n = self.cfg.concurrent_chains
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(n, 16)) as pool:
            started = list(pool.map(lambda _: self.start("chain_n", {"steps": self.cfg.chain_steps}), range(n)))
            list(pool.map(lambda s: wait_completed(s["statusQueryGetUri"], timeout=300), started))
        wall = time.perf_counter() - began
        return [Row(f"orchestrations/s ({n} concurrent chains of {self.cfg.chain_steps})", f"{n / wall:.2f} /s")]

    def server_duration(self, instance_id: str) -> float:
        """CreatedTime -> CompletedTime of the Instances row, in seconds."""
        row = self.instances.get_entity(partition_key=instance_id, row_key="")
        return float((row["CompletedTime"] - row["CreatedTime"]).total_seconds())

    def fan_out(self) -> list[Row]:
        runs = [self.run("fan_out", {"count": self.cfg.fan_out_size}) for _ in range(self.cfg.fan_out_runs)]
        walls = [wall for _, wall in runs]
        server = [self.server_duration(instance_id) for instance_id, _ in runs]
        p50 = statistics.median(walls)
        return [
            Row(
                f"fan-out of {self.cfg.fan_out_size} to completion p50 ({len(walls)} runs)",
                f"{p50:.2f} s", f"<= {FAN_OUT_TARGET_S:.0f} s", p50 <= FAN_OUT_TARGET_S,
            ),
            Row("fan-out slowest run", f"{max(walls):.2f} s"),
            Row("fan-out CreatedTime -> CompletedTime p50 (server side)", f"{statistics.median(server):.2f} s"),
        ]


def render(rows: list[Row], console: Console) -> None:
    table = Table(title="devhost benchmark (conformance app on Azurite)")
    table.add_column("metric")
    table.add_column("target", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("result", justify="center")
    for row in rows:
        verdict = "" if row.passed is None else ("[green]pass[/green]" if row.passed else "[red]FAIL[/red]")
        table.add_row(row.metric, row.target, row.measured, verdict)
    console.print(table)


def parse_args(argv: list[str] | None) -> tuple[BenchConfig, bool]:
    parser = argparse.ArgumentParser(prog="python -m bench.devhost_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (about a minute)")
    parser.add_argument("--verbose", action="store_true", help="run devhost with --verbose (log in the temp dir)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    cfg = (
        BenchConfig(chain_runs=3, chain_steps=10, concurrent_chains=10, fan_out_runs=3, fan_out_size=100,
                    verbose=args.verbose)
        if args.quick
        else BenchConfig(chain_runs=10, chain_steps=10, concurrent_chains=30, fan_out_runs=5, fan_out_size=100,
                         verbose=args.verbose)
    )
    return cfg, args.strict


def main(argv: list[str] | None = None) -> int:
    cfg, strict = parse_args(argv)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="devhost-bench-") as tmp:
        workdir = Path(tmp)
        azurite = AzuriteProcess(data_dir=workdir / "azurite", ports=(free_port(), free_port(), free_port()))
        with azurite:
            devhost = DevhostProcess(
                DevhostConfig(
                    app_dir=CONFORMANCE_APP_DIR,
                    storage=azurite.connection_string,
                    hub=f"bench{uuid.uuid4().hex[:8]}",
                    log_path=workdir / "devhost.log",
                    verbose=cfg.verbose,
                    extra_env={"CONFORMANCE_STATE_DIR": str(workdir / "state")},
                )
            )
            try:
                with devhost:
                    bench = Bench(devhost, azurite.connection_string, cfg)
                    with console.status("warming up"):
                        bench.run("chain_n", {"steps": 2})
                        bench.run("fan_out", {"count": 10})
                    rows: list[Row] = []
                    with console.status("sequential chains"):
                        rows += bench.sequential_chain()
                    with console.status("concurrent chains"):
                        rows += bench.chain_throughput()
                    with console.status("fan-out"):
                        rows += bench.fan_out()
            except Exception as exc:
                console.print(f"[red]benchmark failed:[/red] {exc}")
                console.print(devhost.log_tail())
                return 2
    render(rows, console)
    missed = [r.metric for r in rows if r.passed is False]
    if missed:
        console.print(f"[red]missed targets:[/red] {', '.join(missed)}")
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
