"""Benchmark of the durable assistant app on the local stack (devhost + Azurite + devmodel scripted engine
with fixed latency), side by side with the seed's plain polling loop (retrieve, sleep 1 s, repeat).

Measures, with provider webhooks (devmodel signs and posts each background response's end, as run.sh wires it)
and without (durable timers alone): end-to-end turn latency vs the provider's own time, reaction delay after the
provider finishes (p50/p95), the longest activity during a 12 s model run, history events and provider reads
of a 60 s run with one round of 3 parallel tools, storage operations per turn (app and host), and turns/s with
50 concurrent conversations.

    .venv/bin/python -m bench.app_bench [--repeat 5] [--concurrency 50] [--skip-long]

Three passes: webhooks on and webhooks off with devhost straight on Azurite, then storage calls per turn with
devhost behind a recording proxy (which slows every storage call, so it would distort the latencies).

Provider time comes from the scripted engine's fixed latency per model turn (it sleeps exactly that long
after a create/submit arrives); a recording proxy in front of devmodel stamps when each request arrived and
when the app first read a finished run."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from azure.data.tables import TableClient
from openai import OpenAI
from rich.console import Console
from rich.table import Table

from bench.app_proxy import Exchange, RecordingProxy
from devhost.azurite import AzuriteProcess, connection_string, free_port
from durable_assistant.config import Settings
from durable_assistant.services import Services
from durable_assistant.storage_clients import StorageClients
from durable_assistant.tools import ToolContext, default_registry
from tests.app.stack import SEED_SCENARIOS, HttpClient, Webhook, devhost_app, devmodel

FIVE_S_LATENCY = 2.5  # two model turns (tool call, answer) = 5 s of provider time
# Variants 0-4 shift the model latency by 0, 50 ... 200 ms per turn, so the runs' ends fall at different phases
# of the app's 0.25 s status reads (a latency that is an exact multiple of it would flatter the reaction time).
FIVE_S_VARIANTS = 5
FIVE_S_STEP = 0.05
SIXTY_S_LATENCY = 30.0
TWELVE_S_LATENCY = 12.0
LOAD_LATENCY = 1.0
TERMINAL = {"completed", "failed", "cancelled", "incomplete", "expired"}

SCENARIOS = [
    *({"name": f"bench_five_{i}", "match": f"(?i)^bench five {i}",
       "latency_seconds": FIVE_S_LATENCY + i * FIVE_S_STEP,
       "rounds": [{"tool_calls": [{"name": "get_weather", "arguments": {"location": "Seattle, WA"}}]}],
       "answer": "{{tool:get_weather}}"} for i in range(FIVE_S_VARIANTS)),
    {"name": "bench_sixty", "match": "(?i)^bench sixty", "latency_seconds": SIXTY_S_LATENCY,
     "rounds": [{"tool_calls": [
         {"name": "get_customer_info", "arguments": {"customerId": "CUST001", "includeHistory": True}},
         {"name": "analyze_metrics", "arguments": {"metric": "sales", "timeframe": "last_month"}},
         {"name": "get_weather", "arguments": {"location": "Tokyo"}}]}],
     "answer": "Done: {{tools}}"},
    {"name": "bench_twelve", "match": "(?i)^bench twelve", "latency_seconds": TWELVE_S_LATENCY,
     "answer": "Twelve seconds of thought."},
    {"name": "bench_load", "match": "(?i)^bench load", "latency_seconds": LOAD_LATENCY,
     "rounds": [{"tool_calls": [{"name": "get_weather", "arguments": {"location": "London"}}]}],
     "answer": "{{tool:get_weather}}"},
]


def latency_for(message: str) -> float:
    text = message.lower()
    if "bench five" in text:
        variant = text.split("bench five", 1)[1].strip()[:1]
        return FIVE_S_LATENCY + (int(variant) if variant.isdigit() else 0) * FIVE_S_STEP
    if "twelve" in text:
        return TWELVE_S_LATENCY
    return SIXTY_S_LATENCY if "sixty" in text else LOAD_LATENCY


def five(i: int) -> str:
    return f"bench five {i % FIVE_S_VARIANTS}"


@dataclass
class ModelTimeline:
    """Per provider run: when its create/submit arrived (+ latency = when it finished) and when the client
    first read it finished."""

    started: dict[str, float] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    first_seen_done: dict[str, float] = field(default_factory=dict)
    reads: Counter[str] = field(default_factory=Counter)
    """Status reads (GET, streamed or not) per response."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, ex: Exchange) -> None:
        if ex.status != 200 or not ex.path.startswith("/v1/responses"):
            return
        if ex.method == "GET":
            with self.lock:
                self.reads[ex.path.removeprefix("/v1/responses/")] += 1
        body = _response_object(ex.response_body)
        if body is None:
            return
        rid, status = body.get("id"), body.get("status")
        if not isinstance(rid, str):
            return
        with self.lock:
            if ex.method == "POST" and ex.path == "/v1/responses":
                self.started[rid] = ex.started
                self.latency[rid] = latency_for(json.dumps(json.loads(ex.request_body).get("input")))
                if "function_call_output" in ex.request_body.decode(errors="ignore"):
                    # A submit: the scripted engine answers the follow-up with the scenario's latency too.
                    self.latency[rid] = self._latency_of_chain(ex.request_body)
            if status in TERMINAL and ex.delivered and rid in self.started and rid not in self.first_seen_done:
                self.first_seen_done[rid] = ex.finished

    def _latency_of_chain(self, request_body: bytes) -> float:
        previous = json.loads(request_body).get("previous_response_id")
        return self.latency.get(previous, LOAD_LATENCY)

    def reactions(self, run_ids: set[str] | None = None) -> list[float]:
        with self.lock:
            return [self.first_seen_done[r] - (self.started[r] + self.latency[r]) for r in self.first_seen_done
                    if run_ids is None or r in run_ids]

    def snapshot(self) -> set[str]:
        with self.lock:
            return set(self.started)

    def reads_of(self, run_ids: set[str]) -> int:
        with self.lock:
            return sum(self.reads[r] for r in run_ids)


def _response_object(raw: bytes) -> dict[str, Any] | None:
    """The Response object of a JSON body, or of the last event of a streamed GET (server-sent events: the
    app follows a background response's stream, whose last event carries the finished response)."""
    text = raw.decode(errors="ignore")
    if text.startswith("event:"):
        data = [line[len("data:"):] for line in text.splitlines() if line.startswith("data:")]
        if not data:
            return None
        event = json.loads(data[-1])
        response = event.get("response") if isinstance(event, dict) else None
        return response if isinstance(response, dict) else None
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


@dataclass
class StorageCounter:
    app_prefix: str
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook_for(self, service: str) -> Any:
        def hook(ex: Exchange) -> None:
            owner = "app" if self.app_prefix in ex.path.lower() else "host"
            # Receives from a queue are polls: time-driven (host.json's polling intervals), not per episode.
            kind = "queue-poll" if service == "queue" and ex.method == "GET" and "/messages" in ex.path else service
            with self.lock:
                self.counts[f"{owner}:{kind}"] += 1
        return hook

    def total(self) -> Counter[str]:
        with self.lock:
            return Counter(self.counts)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class TurnMeasure:
    e2e: float
    provider: float
    history_events: int | None = None
    storage: Counter[str] = field(default_factory=Counter)
    longest_activity: float | None = None
    reads: int | None = None


def longest_activity(http: HttpClient, status_url: str) -> float:
    """Seconds from an activity's scheduling to its completion, the longest of the turn (status API history)."""
    events = http.request("GET", status_url + "&showHistory=true").body["historyEvents"]

    def at(value: str) -> float:
        return datetime.fromisoformat(value.rstrip("Z")[:26]).timestamp()

    return max((at(e["Timestamp"]) - at(e["ScheduledTime"]) for e in events
                if e["EventType"] == "TaskCompleted"), default=0.0)


def history_rows(conn: str, hub: str, instance_id: str) -> int:
    """Rows of the instance's current execution in the task hub's History table (what DFM shows)."""
    table = TableClient.from_connection_string(conn, f"{hub}History")
    rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": instance_id})
    return sum(1 for row in rows if "EventType" in row)


def durable_turn(http: HttpClient, content: str, model_turns: int, storage: StorageCounter,
                 history: Callable[[str], int], timeline: ModelTimeline | None = None) -> TurnMeasure:
    cid = http.new_conversation()
    before = storage.total()
    start = time.monotonic()
    resp = http.send(cid, content)
    status, _ = http.wait(resp.body["statusQueryGetUri"], timeout=600, interval=0.05)
    e2e = time.monotonic() - start
    ops = storage.total() - before
    assert status["runtimeStatus"] == "Completed", status
    # The turn's own runs (another turn may run side by side): the provider ids its record lists.
    record = http.request("GET", f"/conversations/{cid}").body["turns"][0]
    reads = timeline.reads_of(set(record["providerIds"])) if timeline is not None else None
    return TurnMeasure(e2e, model_turns * latency_for(content), history(resp.body["id"]), ops,
                       longest_activity(http, resp.body["durableManagement"]["statusQueryGetUri"]), reads)


def polling_loop_turn(client: OpenAI, registry: Any, ctx: ToolContext, content: str) -> float:
    """The seed's approach: create, then retrieve + sleep(1) until done; tools inline, one after another."""
    start = time.monotonic()
    response = client.responses.create(model="devmodel", input=[{"role": "user", "content": content}],
                                       background=True, store=True, tools=[
                                           {"type": "function", "name": s.name, "description": s.description,
                                            "parameters": s.parameters, "strict": False}
                                           for s in registry.specs()])
    while True:
        while response.status in ("queued", "in_progress"):
            time.sleep(1)
            response = client.responses.retrieve(response.id)
        calls = [o for o in response.output if o.type == "function_call"]
        if response.status != "completed" or not calls:
            break
        outputs: list[Any] = [{"type": "function_call_output", "call_id": c.call_id,
                    "output": registry.run(c.name, c.arguments, ctx).output} for c in calls]
        response = client.responses.create(model="devmodel", input=outputs, previous_response_id=response.id,
                                           background=True, store=True)
    return time.monotonic() - start


def cpu_of(marker: str) -> float:
    """CPU seconds (user + system) so far of the processes whose command line contains ``marker``, with their
    children (devhost's worker process)."""
    total = 0.0
    for process in psutil.process_iter(["cmdline"]):
        if marker not in " ".join(process.info["cmdline"] or []):
            continue
        try:
            for member in (process, *process.children(recursive=True)):
                times = member.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


@dataclass
class LoadMeasure:
    turns_per_second: float
    devhost_cpu: float
    """CPU seconds per turn of devhost and its worker process."""
    azurite_cpu: float


def measured_load(http: HttpClient, n: int, hub: str, azurite_port: int) -> LoadMeasure:
    devhost_before, azurite_before = cpu_of(hub), cpu_of(f"--blobPort {azurite_port}")
    rate = durable_load(http, n)
    return LoadMeasure(rate, (cpu_of(hub) - devhost_before) / n,
                       (cpu_of(f"--blobPort {azurite_port}") - azurite_before) / n)


def durable_load(http: HttpClient, n: int) -> float:
    cids = [http.new_conversation() for _ in range(n)]
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        urls = list(pool.map(lambda c: http.send(c, "bench load").body["statusQueryGetUri"], cids))
    pending = set(urls)
    while pending:
        for url in list(pending):
            body = http.request("GET", url).body
            if body.get("runtimeStatus") in ("Completed", "Failed", "Terminated"):
                assert body["runtimeStatus"] == "Completed", body
                pending.discard(url)
        time.sleep(0.1)
    return n / (time.monotonic() - start)


def loop_load(client: OpenAI, registry: Any, ctx: ToolContext, n: int) -> float:
    start = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda _: polling_loop_turn(client, registry, ctx, "bench load"), range(n)))
    return n / (time.monotonic() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the durable assistant app against a plain polling loop.")
    parser.add_argument("--repeat", type=int, default=5, help="5 s turns per mode (default 5)")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent conversations (default 50)")
    parser.add_argument("--skip-long", action="store_true", help="skip the 12 s and 60 s runs")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.concurrency < 1:
        parser.error("--repeat and --concurrency must be >= 1")
    console = Console(width=140)
    work = Path(tempfile.mkdtemp(prefix="app-bench-"))
    book = json.loads(SEED_SCENARIOS.read_text())
    book["scenarios"] = SCENARIOS + book["scenarios"]
    scenario = work / "bench-scenarios.json"
    scenario.write_text(json.dumps(book))

    az_ports = (free_port(), free_port(), free_port())
    proxy_ports = (free_port(), free_port(), free_port())
    prefix = "b" + uuid.uuid4().hex[:8]
    storage = StorageCounter(prefix)
    timeline = ModelTimeline()
    proxies: list[RecordingProxy] = []
    hooked_port = free_port()
    webhook = Webhook(hooked_port)
    with AzuriteProcess(data_dir=work / "azurite", ports=az_ports):
        try:
            for port, proxy_port, service in zip(az_ports, proxy_ports, ("blob", "queue", "table"), strict=True):
                proxies.append(RecordingProxy(f"http://127.0.0.1:{port}", proxy_port,
                                              storage.hook_for(service)).start())
            counted = connection_string("127.0.0.1", proxy_ports)
            direct = connection_string("127.0.0.1", az_ports)
            # The Durable management URLs in each 202: longest_activity reads the instance's history.
            settings = {"ASSISTANT_STORAGE_PREFIX": prefix, "ASSISTANT_EXPOSE_DURABLE_URLS": "true"}
            with devmodel(work, scenario=scenario, webhook=webhook) as hooked_model, \
                    devmodel(work, scenario=scenario, seed=8) as plain_model:  # other ids than the first
                urls = {}
                for name, model in (("hooked", hooked_model), ("plain", plain_model)):
                    model_port = free_port()
                    proxies.append(RecordingProxy(model.base_url.removesuffix("/v1"), model_port,
                                                  timeline.hook).start())
                    urls[name] = f"http://127.0.0.1:{model_port}/v1"
                # Timings with devhost straight on Azurite: a recording proxy would add its own latency to each
                # of the storage calls of a turn. Storage calls are counted in a third pass through it.
                results: dict[str, Any] = {}
                with devhost_app(direct, work, hooked_model, model_base_url=urls["hooked"], settings=settings,
                                 webhook=webhook) as stack:
                    history = functools.partial(history_rows, direct, stack.hub)
                    results["hooked"] = timed_pass("webhooks", stack.http, storage, timeline, args, console, history)
                    console.print(f"durable app (webhooks): {args.concurrency} concurrent conversations")
                    results["durable_load"] = measured_load(stack.http, args.concurrency, stack.hub, az_ports[0])
                with devhost_app(direct, work, plain_model, model_base_url=urls["plain"], settings=settings) as stack:
                    history = functools.partial(history_rows, direct, stack.hub)
                    results["plain"] = timed_pass("timers only", stack.http, storage, timeline, args, console,
                                                  history)
                with devhost_app(counted, work, hooked_model, model_base_url=urls["hooked"], settings=settings,
                                 webhook=webhook) as stack:
                    history = functools.partial(history_rows, direct, stack.hub)
                    results["counted"] = counted_pass(stack.http, storage, args, console, history)
                results.update(loop_pass(direct, prefix, urls["plain"], timeline, args, console))
                results["window"] = residual_window(direct, prefix)
        finally:
            for proxy in proxies:
                proxy.stop()
    print_table(console, results, args)
    return 0


def timed_pass(label: str, http: HttpClient, storage: StorageCounter, timeline: ModelTimeline,
               args: argparse.Namespace, console: Console, history: Callable[[str], int]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    durable_turn(http, five(0), 2, storage, history)  # first use: table seeding, client pools
    console.print(f"durable app ({label}): {args.repeat} x 5 s turns (one tool round)")
    seen = timeline.snapshot()
    turns = [durable_turn(http, five(i), 2, storage, history) for i in range(args.repeat)]
    results.update(turns=turns, reactions=timeline.reactions(timeline.snapshot() - seen))
    if not args.skip_long:
        console.print(f"durable app ({label}): a 12 s run and a 60 s run with 3 parallel tools, side by side")
        with ThreadPoolExecutor(2) as pool:
            twelve = pool.submit(durable_turn, http, "bench twelve", 1, storage, history)
            sixty = pool.submit(durable_turn, http, "bench sixty", 2, storage, history, timeline)
            results.update(twelve=twelve.result(), sixty=sixty.result())
    return results


def residual_window(conn: str, prefix: str, samples: int = 60) -> list[float]:
    """Seconds a step's journal write takes after the provider answered (the window in which a crash makes a
    retried step create a second run): write-once blobs on Azurite, as create_run/submit_outputs do."""
    settings = Settings.from_env({"AzureWebJobsStorage": conn, "ASSISTANT_STORAGE_PREFIX": prefix})
    turns = Services(settings).turns
    turns.ensure()
    durations = []
    for i in range(samples):
        journal = turns.journal(f"window-{uuid.uuid4().hex[:8]}", i + 1, "create")
        start = time.perf_counter()
        asyncio.run(journal.record("response", f"resp_{i}"))
        durations.append(time.perf_counter() - start)
    return durations


def loop_pass(conn: str, prefix: str, model_url: str, timeline: ModelTimeline, args: argparse.Namespace,
              console: Console) -> dict[str, Any]:
    settings = Settings.from_env({"AzureWebJobsStorage": conn, "ASSISTANT_STORAGE_PREFIX": prefix})
    ctx = ToolContext(StorageClients(settings.storage, settings.storage_prefix), "bench-loop")
    registry = default_registry()
    client = OpenAI(base_url=model_url, api_key="local-dev-key", max_retries=0)
    console.print(f"plain polling loop: {args.repeat} x 5 s turns")
    seen = timeline.snapshot()
    loop_turns = [TurnMeasure(polling_loop_turn(client, registry, ctx, five(i)), 2 * latency_for(five(i)))
                  for i in range(args.repeat)]
    console.print(f"plain polling loop: {args.concurrency} concurrent conversations")
    return {"loop": {"turns": loop_turns, "reactions": timeline.reactions(timeline.snapshot() - seen)},
            "loop_load": loop_load(client, registry, ctx, args.concurrency)}


def counted_pass(http: HttpClient, storage: StorageCounter, args: argparse.Namespace, console: Console,
                 history: Callable[[str], int]) -> list[TurnMeasure]:
    """The same turns with every storage call going through the recording proxy: calls per turn."""
    durable_turn(http, five(0), 2, storage, history)  # first use of this host
    console.print(f"durable app (webhooks), storage calls counted: {args.repeat} x 5 s turns")
    return [durable_turn(http, five(i), 2, storage, history) for i in range(args.repeat)]


def print_table(console: Console, results: dict[str, Any], args: argparse.Namespace) -> None:
    hooked, plain, loop = results["hooked"], results["plain"], results["loop"]

    def ratio(turns: list[TurnMeasure]) -> str:
        return f"{statistics.median(t.e2e / t.provider for t in turns):.3f}"

    def e2e(turns: list[TurnMeasure]) -> str:
        return f"{statistics.median(t.e2e for t in turns):.2f} s"

    def reaction(values: list[float], q: float) -> str:
        return f"{pct(values, q):.3f} s"

    def of(pass_: dict[str, Any], key: str, attr: str, fmt: str = "{}") -> str:
        measure = pass_.get(key)
        value = getattr(measure, attr) if measure is not None else None
        return fmt.format(value) if value is not None else "skipped"

    ops = Counter[str]()
    for t in results["counted"]:
        ops.update(t.storage)
    n = len(results["counted"])
    app_ops = sum(v for k, v in ops.items() if k.startswith("app:")) / n
    host_ops = sum(v for k, v in ops.items() if k.startswith("host:")) / n
    detail = ", ".join(f"{k} {v / n:.0f}" for k, v in sorted(ops.items()))
    table = Table(title=f"Durable assistant vs plain polling loop (scripted devmodel, {args.repeat} turns each)")
    table.add_column("metric")
    table.add_column("webhooks", justify="right")
    table.add_column("timers only", justify="right")
    table.add_column("plain loop (sleep 1 s)", justify="right")
    table.add_column("target", justify="right")
    table.add_row("end-to-end, 5 s run + 1 tool round (median)", e2e(hooked["turns"]), e2e(plain["turns"]),
                  e2e(loop["turns"]), "")
    table.add_row("end-to-end / provider time (median)", ratio(hooked["turns"]), ratio(plain["turns"]),
                  ratio(loop["turns"]), "<= 1.10 (webhooks)")
    for q, target in ((0.5, "<= 0.3 s (webhooks)"), (0.95, "<= 1 s (webhooks)")):
        table.add_row(f"reaction after the run ends p{int(q * 100)}", reaction(hooked["reactions"], q),
                      reaction(plain["reactions"], q), reaction(loop["reactions"], q), target)
    table.add_row("longest activity during a 12 s model run", of(hooked, "twelve", "longest_activity", "{:.2f} s"),
                  of(plain, "twelve", "longest_activity", "{:.2f} s"), "n/a", "<= 2 s")
    table.add_row("history events per 5 s turn (median)",
                  f"{statistics.median(t.history_events or 0 for t in hooked['turns']):.0f}",
                  f"{statistics.median(t.history_events or 0 for t in plain['turns']):.0f}", "n/a", "")
    table.add_row("history events, 60 s run + 3 parallel tools", of(hooked, "sixty", "history_events"),
                  of(plain, "sixty", "history_events"), "n/a", "<= 60 / <= 100")
    table.add_row("provider reads during the 60 s run", of(hooked, "sixty", "reads"), of(plain, "sixty", "reads"),
                  "60", "<= 15 (timers only)")
    window = results["window"]
    table.add_row("residual window: journal write after the provider answers p50 / p95",
                  f"{pct(window, 0.5) * 1000:.1f} / {pct(window, 0.95) * 1000:.1f} ms", "", "n/a", "")
    table.add_row("storage ops per 5 s turn: app", f"{app_ops:.0f}", "", "0", "")
    table.add_row("storage ops per 5 s turn: host (devhost)", f"{host_ops:.0f}", "", "0", "<= 80")
    table.add_row("  of which queue polls (control, work items, tool-queue triggers)",
                  f"{ops['host:queue-poll'] / n:.0f}", "", "0", "")
    load: LoadMeasure = results["durable_load"]
    table.add_row(f"turns/s, {args.concurrency} concurrent conversations (1 s + 1 s run)",
                  f"{load.turns_per_second:.2f}", "", f"{results['loop_load']:.2f}", "")
    table.add_row("  CPU per turn under that load: devhost with its worker / Azurite",
                  f"{load.devhost_cpu * 1000:.0f} / {load.azurite_cpu * 1000:.0f} ms", "", "", "")
    cores = psutil.cpu_count() or 1
    table.add_row(f"  turns/s if those {cores} cores did nothing else", f"{cores / (load.devhost_cpu + load.azurite_cpu):.2f}",
                  "", "", "")
    console.print(table)
    console.print(f"storage ops per turn by owner:service (webhooks): {detail}")


if __name__ == "__main__":
    raise SystemExit(main())
