"""devmodel benchmark: scripted-engine request overhead and llama-engine speed.

Run `python -m bench.devmodel_bench [--requests N] [--skip-llama]`. It starts its own devmodel servers on free
ports, measures through the official `openai` SDK (so figures include HTTP and SDK parsing), prints a rich table
and stops them.

Scripted engine (zero latency): wall time per call, p50/p95, for Responses create (sync) and retrieve, a background
Responses create polled to completion, Chat Completions create, and a thread run create + retrieve.
Llama engine: model load time (in-process), decode speed (tokens/s of a plain answer), time to first tool call
(a fresh server, sync Responses create with the seed weather question: prompt, decision, grammar decoding),
and the server's resident memory after that call.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psutil
from openai import OpenAI
from rich.console import Console
from rich.table import Table

from devhost.azurite import free_port
from devmodel import DevModelProcess, GenerationRequest, ToolChoice, ToolSpec, Turn

WEATHER: Any = {"type": "function", "name": "get_weather", "description": "Get the weather in a location.",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                               "required": ["location"]}}


@dataclass
class Row:
    metric: str
    measured: str
    note: str = ""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def scripted_rows(requests: int, log_dir: Path) -> list[Row]:
    rows: list[Row] = []
    with DevModelProcess(port=free_port(), args=["--seed", "1"], log_path=log_dir / "scripted.log") as server:
        client = OpenAI(base_url=server.base_url, api_key="bench", max_retries=0)
        for _ in range(20):  # warm-up: connections, imports, first-request paths
            client.responses.create(model="m", input="weather in Oslo", tools=[WEATHER])
        created: list[str] = []
        create_ms = [timed(lambda: created.append(
            client.responses.create(model="m", input="weather in Oslo", tools=[WEATHER]).id)) for _ in range(requests)]
        retrieve_ms = [timed(partial(client.responses.retrieve, response_id)) for response_id in created]

        def background_to_completed() -> None:
            response = client.responses.create(model="m", input="hello", background=True)
            while response.status not in ("completed", "failed", "cancelled", "incomplete"):
                response = client.responses.retrieve(response.id)

        background_ms = [timed(background_to_completed) for _ in range(requests)]
        chat_ms = [timed(lambda: client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hello"}])) for _ in range(requests)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assistant = client.beta.assistants.create(model="m")

            def run_create_retrieve() -> None:
                thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
                run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
                client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)

            run_ms = [timed(run_create_retrieve) for _ in range(requests)]
        pairs = [c + r for c, r in zip(create_ms, retrieve_ms, strict=True)]
        for name, samples in [
            ("Responses create (sync, 1 tool call)", create_ms), ("Responses retrieve", retrieve_ms),
            ("Responses create + retrieve", pairs), ("Background create -> completed (polled)", background_ms),
            ("Chat Completions create", chat_ms), ("Thread + run create + run retrieve (3 calls)", run_ms),
        ]:
            p50, p95 = percentiles(samples)
            rows.append(Row(f"scripted: {name}", f"p50 {p50:.1f} ms / p95 {p95:.1f} ms", f"n={len(samples)}"))
    return rows


def llama_rows(log_dir: Path, repeats: int) -> list[Row]:
    from devmodel._llama import LlamaEngine, LlamaSettings

    process = psutil.Process()
    before = process.memory_info().rss
    engine = LlamaEngine(LlamaSettings(seed=1, max_answer_tokens=128))
    rows = [Row("llama: model load (in-process)", f"{engine.load_seconds * 1000:.0f} ms", engine.model_path.name),
            Row("llama: RSS added by the loaded model", f"{(process.memory_info().rss - before) / 2**20:.0f} MB")]
    tool = ToolSpec(WEATHER["name"], WEATHER["description"], WEATHER["parameters"])
    plain = GenerationRequest(turns=(Turn("user", "Tell me about the sea."),))
    call = GenerationRequest(turns=(Turn("user", "What is the weather in Paris?"),), tools=(tool,),
                             tool_choice=ToolChoice(mode="required"))
    for name, request in (("plain answer", plain), ("grammar-constrained tool call", call)):
        speeds, tokens = [], 0
        for _ in range(repeats):
            engine.generate_blocking(request)
            stats = engine.last_stats
            assert stats is not None
            speeds.append(stats.completion_tokens / stats.seconds)
            tokens = stats.completion_tokens
        rows.append(Row(f"llama: {name}", f"median {statistics.median(speeds):.0f} / best {max(speeds):.0f} tokens/s",
                        f"{tokens} tokens incl. prompt processing, n={repeats}"))

    with DevModelProcess(port=free_port(), args=["--engine", "llama", "--seed", "1"],
                         log_path=log_dir / "llama.log") as server:
        client = OpenAI(base_url=server.base_url, api_key="bench", max_retries=0, timeout=300)
        started = time.perf_counter()
        response = client.responses.create(model="m", input="What is the weather in Paris?", tools=[WEATHER])
        first_call_ms = (time.perf_counter() - started) * 1000
        called = [item.name for item in response.output if item.type == "function_call"]
        rows.append(Row("llama: time to first tool call (fresh server, HTTP)", f"{first_call_ms:.0f} ms",
                        f"tool_choice=auto -> {called or 'answered without a call'}"))
        assert server.pid is not None
        rss = psutil.Process(server.pid).memory_info().rss
        rows.append(Row("llama: server RSS after the first call", f"{rss / 2**20:.0f} MB"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="samples per scripted measurement (default 200)")
    parser.add_argument("--skip-llama", action="store_true", help="only the scripted engine")
    parser.add_argument("--llama-repeats", type=int, default=5, help="generations per llama speed figure (default 5)")
    args = parser.parse_args()
    if args.requests < 1 or args.llama_repeats < 1:
        parser.error("--requests and --llama-repeats must be at least 1")
    console = Console()
    with tempfile.TemporaryDirectory(prefix="devmodel-bench-") as tmp:
        rows = scripted_rows(args.requests, Path(tmp))
        if args.skip_llama:
            pass
        elif importlib.util.find_spec("llama_cpp") is None:
            rows.append(Row("llama", "skipped", "llama_cpp not installed: bash scripts/bootstrap.sh"))
        else:
            rows += llama_rows(Path(tmp), args.llama_repeats)
    table = Table(title=f"devmodel benchmark ({psutil.cpu_count()} CPUs, load avg {psutil.getloadavg()[0]:.1f})")
    table.add_column("metric")
    table.add_column("measured", justify="right")
    table.add_column("note")
    for row in rows:
        table.add_row(row.metric, row.measured, row.note)
    console.print(table)


if __name__ == "__main__":
    main()
