"""``python -m devmodel serve``: the command line."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ._azure_functions import parse_account
from ._config import ServerConfig
from ._scenario import Latency, ScenarioError
from ._types import EngineUnavailableError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devmodel", description="A local OpenAI-compatible provider.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the Responses, Chat Completions and threads/runs APIs")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8199)
    serve.add_argument("--engine", choices=["scripted", "llama"], default="scripted",
                       help="scripted: a FAKE following a scenario file; llama: a real small model on CPU")
    serve.add_argument("--scenario", type=Path, help="scripted engine: scenario JSON (default: bundled seeds.json)")
    serve.add_argument("--model", type=Path, help="llama engine: a GGUF file (default: bundled SmolLM2-135M)")
    serve.add_argument("--api-key", help="require this key (Authorization: Bearer KEY or api-key: KEY)")
    serve.add_argument("--seed", type=int, help="make ids, jitter, probabilistic faults and sampling reproducible")
    serve.add_argument("--latency", help="scripted engine: seconds per model turn, SECONDS or LOW:HIGH")
    serve.add_argument("--state", help="sqlite:PATH keeps state in a SQLite file (default: memory)")
    serve.add_argument("--retention-seconds", type=float, default=600.0,
                       help="how long background responses stay retrievable (default 600)")
    serve.add_argument("--run-expires-seconds", type=float, default=600.0,
                       help="threads/runs: a run not finished by then becomes expired (default 600)")
    serve.add_argument("--max-tool-rounds", type=int, default=1,
                       help="llama engine: tool rounds per user message before it must answer (default 1)")
    serve.add_argument("--threads", type=int, help="llama engine: CPU threads (default: all cores but one)")
    serve.add_argument("--webhook-url", help="POST a signed webhook here when a background response ends")
    serve.add_argument("--webhook-secret", help="the webhook endpoint's signing secret (whsec_...)")
    serve.add_argument("--queue-storage",
                       help="azure_function tools: connection string of the queues' account (default: Azurite's)")
    serve.add_argument("--azure-function-timeout-seconds", type=float, default=60.0,
                       help="azure_function tools: a run fails when no answer arrives in this time (default 60)")
    serve.add_argument("--queue-message-encoding", choices=["base64", "none"], default="base64",
                       help="azure_function tools: encoding of input messages (default base64, as the service)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Turn parsed flags into a config; raises ValueError with a message fit for the user."""
    state_path = None
    if args.state:
        scheme, _, path = args.state.partition(":")
        if scheme != "sqlite" or not path:
            raise ValueError(f"--state must look like sqlite:PATH, got {args.state!r}")
        state_path = Path(path)
    for name in ("port", "retention_seconds", "run_expires_seconds", "max_tool_rounds",
                 "azure_function_timeout_seconds"):
        if getattr(args, name) < (1 if name in ("port", "max_tool_rounds") else 0):
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.scenario is not None and not args.scenario.is_file():
        raise ValueError(f"--scenario: no such file: {args.scenario}")
    if args.queue_storage:
        parse_account(args.queue_storage)
    if args.model is not None and not args.model.is_file():
        raise ValueError(f"--model: no such file: {args.model}")
    if bool(args.webhook_url) != bool(args.webhook_secret):
        raise ValueError("--webhook-url and --webhook-secret go together")
    if args.webhook_url and not args.webhook_url.startswith(("http://", "https://")):
        raise ValueError(f"--webhook-url must be an http(s) URL, got {args.webhook_url!r}")
    if args.webhook_secret and not args.webhook_secret.startswith("whsec_"):
        raise ValueError("--webhook-secret must start with whsec_ (a Standard Webhooks secret)")
    return ServerConfig(
        host=args.host, port=args.port, engine=args.engine, scenario_path=args.scenario, model_path=args.model,
        api_key=args.api_key, seed=args.seed, latency=Latency.parse(args.latency) if args.latency else None,
        state_path=state_path, retention_seconds=args.retention_seconds, run_expires_seconds=args.run_expires_seconds,
        max_tool_rounds=args.max_tool_rounds, threads=args.threads, queue_storage=args.queue_storage,
        webhook_url=args.webhook_url, webhook_secret=args.webhook_secret,
        azure_function_timeout_seconds=args.azure_function_timeout_seconds,
        queue_message_encoding=args.queue_message_encoding,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from ._server import serve  # after flag parsing, so --help stays fast

    try:
        config = config_from_args(args)
        serve(config)
    except (ValueError, ScenarioError, EngineUnavailableError) as exc:
        print(f"devmodel: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"devmodel: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
