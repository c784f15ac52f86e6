"""Crash run of the app: conversations of several messages while devhost is SIGKILLed and restarted at seeded
random moments. Every turn must complete exactly once and in order, with no phantom tool calls; provider runs
beyond the turns' own (a crash inside a step's residual window) are counted.

    .venv/bin/python -m bench.app_crash [--conversations 30] [--messages 2] [--kills 6] [--seed 7]

Used by tests/app/test_crash.py in a bounded form."""

from __future__ import annotations

import argparse
import itertools
import json
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.app_proxy import Exchange, RecordingProxy
from bench.devhost_launcher import DevhostConfig, DevhostProcess
from devhost.azurite import REPO_ROOT, AzuriteProcess, free_port
from tests.app.stack import SEED_SCENARIOS, HttpClient, Webhook, devmodel

# One tool round each: two provider responses per turn (the tool call, the answer).
MESSAGES = ["What is the weather in Seattle, WA?", "What is the weather in Tokyo?", "What is the weather in London?",
            "What is the weather in Amsterdam?"]
RESPONSES_PER_TURN = 2
MODEL_LATENCY = "0.8:1.6"


@dataclass
class ProviderCalls:
    creates: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, ex: Exchange) -> None:
        if ex.method == "POST" and ex.path == "/v1/responses" and ex.status == 200:
            with self.lock:
                self.creates["responses"] += 1


@dataclass
class CrashResult:
    turns: int
    completed_in_order: int
    provider_responses: int
    expected_responses: int
    kills: int
    phantom_calls: int
    problems: list[str]
    seconds: float

    @property
    def extra_runs(self) -> int:
        return self.provider_responses - self.expected_responses

    @property
    def extra_per_100_turns(self) -> float:
        return 100.0 * self.extra_runs / max(1, self.turns)


def _post_until_accepted(http: HttpClient, cid: str, content: str, message_id: str, deadline: float) -> None:
    """A client that retries its POST (same messageId) while the host is down: the app dedupes it."""
    while time.monotonic() < deadline:
        try:
            resp = http.send(cid, content, message_id)
        except OSError:
            resp = None
        if resp is not None and resp.status == 202:
            return
        time.sleep(0.3)
    raise TimeoutError(f"message {message_id} of {cid} was never accepted")


def _transcript(http: HttpClient, cid: str) -> dict[str, Any] | None:
    try:
        resp = http.request("GET", f"/conversations/{cid}")
    except OSError:
        return None
    return resp.body if resp.status == 200 and isinstance(resp.body, dict) else None


def crash_run(work: Path, conversations: int, messages: int, kills: int, seed: int,
              console: Console | None = None) -> CrashResult:
    rng = random.Random(seed)
    started = time.monotonic()
    calls = ProviderCalls()
    with AzuriteProcess(data_dir=work / "azurite", ports=(free_port(), free_port(), free_port()),
                        in_memory=True) as azurite:
        port = free_port()
        webhook = Webhook(port)
        hub = "crash" + uuid.uuid4().hex[:8]
        with devmodel(work, scenario=SEED_SCENARIOS, latency=MODEL_LATENCY, webhook=webhook) as model:
            proxy = RecordingProxy(model.base_url.removesuffix("/v1"), free_port(), calls.hook).start()
            env = {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": hub,
                   "ASSISTANT_BASE_URL": f"http://127.0.0.1:{proxy.port}/v1",
                   "ASSISTANT_STORAGE_PREFIX": "c" + uuid.uuid4().hex[:10], "ASSISTANT_WEBHOOK_SECRET": webhook.secret}
            host = DevhostProcess(DevhostConfig(app_dir=REPO_ROOT, storage=azurite.connection_string, hub=hub,
                                                log_path=work / "devhost-crash.log", port=port, extra_env=env))
            try:
                host.start()
                http = HttpClient(host.api_url)
                cids = [http.new_conversation() for _ in range(conversations)]
                deadline = time.monotonic() + 600
                sender = ThreadPoolExecutor(8)
                for m in range(messages):
                    for i, cid in enumerate(cids):
                        content = MESSAGES[(i + m) % len(MESSAGES)]
                        sender.submit(_post_until_accepted, http, cid, content, f"m{m + 1}", deadline)
                for kill in range(kills):
                    time.sleep(rng.uniform(1.0, 4.0))
                    host.kill()
                    if console is not None:
                        console.print(f"SIGKILL {kill + 1}/{kills}")
                    time.sleep(rng.uniform(0.0, 0.5))
                    host.start()
                sender.shutdown(wait=True)
                records = _wait_for_all(http, cids, messages, deadline)
            finally:
                host.stop()
                proxy.stop()
    return _judge(records, conversations, messages, calls, host.starts - 1, time.monotonic() - started)


def _wait_for_all(http: HttpClient, cids: list[str], messages: int, deadline: float) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(records) < len(cids):
        for cid in cids:
            if cid in records:
                continue
            body = _transcript(http, cid)
            if body is not None and body["turnsFinished"] >= messages:
                records[cid] = body
        time.sleep(0.5)
    return records


def _judge(records: dict[str, dict[str, Any]], conversations: int, messages: int, calls: ProviderCalls,
           kills: int, seconds: float) -> CrashResult:
    problems: list[str] = []
    in_order = phantom = 0
    for cid, body in records.items():
        turns = body["turns"]
        statuses = [(t["turn"], t["status"]) for t in turns]
        if statuses != [(n, "completed") for n in range(1, messages + 1)]:
            problems.append(f"{cid}: turns {statuses}")
            continue
        if any(a["timings"]["runCreatedAt"] < b["timings"]["finishedAt"] for b, a in itertools.pairwise(turns)):
            problems.append(f"{cid}: a turn started before the previous one finished")
            continue
        in_order += len(turns)
        phantom += sum(max(0, len(t["toolCalls"]) - 1) for t in turns)  # each scenario makes exactly one call
    missing = conversations - len(records)
    if missing:
        problems.append(f"{missing} conversations never finished")
    turns = conversations * messages
    return CrashResult(turns=turns, completed_in_order=in_order, provider_responses=calls.creates["responses"],
                       expected_responses=turns * RESPONSES_PER_TURN, kills=kills, phantom_calls=phantom,
                       problems=problems, seconds=seconds)


def print_result(console: Console, result: CrashResult) -> None:
    table = Table(title=f"Crash run: {result.turns} turns, {result.kills} SIGKILLs of the host")
    table.add_column("metric")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    table.add_row("turns completed once, in order", f"{result.completed_in_order} / {result.turns}", "all")
    table.add_row("phantom tool calls in transcripts", str(result.phantom_calls), "0")
    table.add_row("provider responses (expected)", f"{result.provider_responses} ({result.expected_responses})", "")
    table.add_row("extra provider runs per 100 turns", f"{result.extra_per_100_turns:.1f}", "<= 1")
    table.add_row("wall time", f"{result.seconds:.0f} s", "")
    console.print(table)
    for problem in result.problems[:10]:
        console.print(f"[red]{problem}[/red]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SIGKILL devhost while conversations run; nothing lost or doubled.")
    parser.add_argument("--conversations", type=int, default=30)
    parser.add_argument("--messages", type=int, default=2)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if min(args.conversations, args.messages, args.kills + 1) < 1:
        parser.error("--conversations and --messages must be >= 1, --kills >= 0")
    console = Console(width=120)
    result = crash_run(Path(tempfile.mkdtemp(prefix="app-crash-")), args.conversations, args.messages, args.kills,
                       args.seed, console)
    print_result(console, result)
    console.print(json.dumps({"extra_runs": result.extra_runs, "problems": len(result.problems)}))
    return 0 if not result.problems and result.phantom_calls == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
