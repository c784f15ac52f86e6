"""devhost benchmark: activity round-trip latency, chain throughput, fan-out time and the CPU devhost and Azurite
spend per activity, against the targets.

Run `python -m bench.devhost_bench [--quick] [--baseline DIR] [--rounds N]`. It starts its own Azurite and a
devhost serving the conformance app (tests/devhost/conformance_app), measures, prints a rich table of target vs
measured, and stops both. With `--baseline DIR` (another checkout of this repo, e.g. a `git worktree` of main) it
runs the same measurements against that checkout's devhost too, alternating the two `--rounds` times on the same
Azurite, and prints both columns (medians over the rounds): a before/after comparison from one run on one machine.

Per-step latency is read from the History table (the gap between consecutive OrchestratorStarted rows of a
sequential chain: replay + checkpoint + dispatch + activity + completion + next episode), so client polling does
not distort it. Fan-out time is client wall time from the start request to the first status poll that reports
Completed (polled every 20 ms). CPU per activity is the CPU time (user + system) the devhost process and the
Azurite process used during the concurrent-chains phase, divided by the activities it ran: on a shared machine it
moves much less with the load of other processes than the latencies do. The "floor" rows time, one call at a time,
what every chain step must do whatever the host (bench/devhost_floor.py): against them the round-trip target reads
as what it is on this machine.
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

import psutil
from azure.data.tables import TableServiceClient
from rich.console import Console
from rich.table import Table

from bench import devhost_floor
from bench.devhost_launcher import CONFORMANCE_APP_DIR, DevhostConfig, DevhostProcess
from devhost.azurite import REPO_ROOT, AzuriteProcess, free_port

STEP_P50_TARGET_MS = 15.0
FAN_OUT_TARGET_S = 0.8


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
    value: float
    unit: str
    target: float | None = None
    """Pass when ``value <= target``."""

    def shown(self) -> str:
        return f"{self.value:.2f} {self.unit}" if self.value < 10 else f"{self.value:.1f} {self.unit}"

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.value <= self.target


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and its running children (devhost's worker) so far (0 when gone)."""
    if pid is None:
        return 0.0
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for member in family:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


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
    def __init__(self, devhost: DevhostProcess, storage: str, cfg: BenchConfig, azurite_pid: int | None) -> None:
        self.devhost = devhost
        self.storage = storage
        self.cfg = cfg
        self.azurite_pid = azurite_pid
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
            Row(f"activity round trip p50 (chain of {self.cfg.chain_steps}, {len(step_ms)} steps)", p50, "ms",
                STEP_P50_TARGET_MS),
            Row("activity round trip p95", p95, "ms"),
            Row("client wall time per step (p50 over chains)", statistics.median(wall_per_step_ms), "ms"),
        ]

    def chain_throughput(self) -> list[Row]:
        n = self.cfg.concurrent_chains
        devhost_cpu, azurite_cpu = cpu_seconds(self.devhost.pid), cpu_seconds(self.azurite_pid)
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(n, 16)) as pool:
            started = list(pool.map(lambda _: self.start("chain_n", {"steps": self.cfg.chain_steps}), range(n)))
            list(pool.map(lambda s: wait_completed(s["statusQueryGetUri"], timeout=300), started))
        wall = time.perf_counter() - began
        activities = n * self.cfg.chain_steps
        devhost_ms = (cpu_seconds(self.devhost.pid) - devhost_cpu) * 1000 / activities
        azurite_ms = (cpu_seconds(self.azurite_pid) - azurite_cpu) * 1000 / activities
        return [
            Row(f"orchestrations/s ({n} concurrent chains of {self.cfg.chain_steps})", n / wall, "/s"),
            Row("devhost CPU per activity, with its worker (concurrent chains, incl. status polls)", devhost_ms, "ms"),
            Row("Azurite CPU per activity (concurrent chains)", azurite_ms, "ms"),
        ]

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
            Row(f"fan-out of {self.cfg.fan_out_size} to completion p50 ({len(walls)} runs)", p50, "s",
                FAN_OUT_TARGET_S),
            Row("fan-out slowest run", max(walls), "s"),
            Row("fan-out CreatedTime -> CompletedTime p50 (server side)", statistics.median(server), "s"),
        ]

    def measure(self) -> list[Row]:
        self.run("chain_n", {"steps": 2})  # warm-up: first imports, table and queue clients
        self.run("fan_out", {"count": 10})
        return self.sequential_chain() + self.chain_throughput() + self.fan_out() + self.floor()

    def floor(self) -> list[Row]:
        """The parts of a chain step no host can skip, timed one call at a time (bench/devhost_floor.py)."""
        parse, put, transaction = devhost_floor.measure(self.storage)
        return [
            Row("floor: SDK parses an orchestration context (chain of 10, mid-way) p50", parse, "ms"),
            Row("floor: queue put (the work item) p50, Azure SDK on Azurite", put, "ms"),
            Row("floor: entity-group transaction (4 history rows + sentinel) p50", transaction, "ms"),
            Row("floor of a round trip (sum of the three)", parse + put + transaction, "ms"),
        ]


def render(columns: dict[str, list[list[Row]]], console: Console) -> bool:
    """Print one column per measured checkout (medians over its rounds); True when the last one met every target."""
    title = "devhost benchmark (conformance app on Azurite"
    rounds = max(len(v) for v in columns.values())
    table = Table(title=f"{title}; median of {rounds} round(s))" if rounds > 1 else f"{title})")
    table.add_column("metric")
    table.add_column("target", justify="right")
    for name in columns:
        table.add_column(name, justify="right")
    table.add_column("result", justify="center")
    merged = {name: _medians(runs) for name, runs in columns.items()}
    last = list(merged.values())[-1]
    for index, row in enumerate(last):
        target = "-" if row.target is None else f"<= {row.target:g} {row.unit}"
        cells = [merged[name][index].shown() for name in merged]
        verdict = "" if row.passed is None else ("[green]pass[/green]" if row.passed else "[red]FAIL[/red]")
        table.add_row(row.metric, target, *cells, verdict)
    console.print(table)
    return all(row.passed is not False for row in last)


def _medians(runs: list[list[Row]]) -> list[Row]:
    first = runs[0]
    return [
        Row(row.metric, statistics.median(run[index].value for run in runs), row.unit, row.target)
        for index, row in enumerate(first)
    ]


def parse_args(argv: list[str] | None) -> tuple[BenchConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench.devhost_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (about a minute per round)")
    parser.add_argument("--verbose", action="store_true", help="run devhost with --verbose (log in the temp dir)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also measure the devhost of this checkout (e.g. a worktree of main), side by side")
    parser.add_argument("--rounds", type=int, default=1, help="measure each checkout this many times (default 1)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.baseline is not None and not (args.baseline / "devhost" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline}: no devhost package there")
    cfg = (
        BenchConfig(chain_runs=3, chain_steps=10, concurrent_chains=10, fan_out_runs=3, fan_out_size=100,
                    verbose=args.verbose)
        if args.quick
        else BenchConfig(chain_runs=10, chain_steps=10, concurrent_chains=30, fan_out_runs=5, fan_out_size=100,
                         verbose=args.verbose)
    )
    return cfg, args


def measure_checkout(source: Path, azurite: AzuriteProcess, workdir: Path, cfg: BenchConfig,
                     console: Console) -> list[Row]:
    label = uuid.uuid4().hex[:8]
    devhost = DevhostProcess(
        DevhostConfig(
            app_dir=CONFORMANCE_APP_DIR,
            storage=azurite.connection_string,
            hub=f"bench{label}",
            log_path=workdir / f"devhost-{label}.log",
            verbose=cfg.verbose,
            extra_env={"CONFORMANCE_STATE_DIR": str(workdir / f"state-{label}")},
            source_dir=source,
        )
    )
    with devhost, console.status(f"measuring the devhost of {source}"):
        try:
            return Bench(devhost, azurite.connection_string, cfg, azurite.pid).measure()
        except Exception:
            console.print(devhost.log_tail())
            raise


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    console = Console(width=150)
    checkouts = {"this checkout": REPO_ROOT}
    if args.baseline is not None:
        checkouts = {f"baseline ({args.baseline.name})": args.baseline.resolve(), **checkouts}
    columns: dict[str, list[list[Row]]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="devhost-bench-") as tmp:
        workdir = Path(tmp)
        azurite = AzuriteProcess(data_dir=workdir / "azurite", ports=(free_port(), free_port(), free_port()))
        with azurite:
            try:
                for _ in range(args.rounds):
                    for name, source in checkouts.items():  # alternated, so load changes hit both alike
                        columns[name].append(measure_checkout(source, azurite, workdir, cfg, console))
            except Exception as exc:
                console.print(f"[red]benchmark failed:[/red] {exc}")
                return 2
    met = render(columns, console)
    if not met:
        console.print("[red]missed targets[/red] (last column)")
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
