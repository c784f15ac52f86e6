"""``python -m foundry_agents``: create or update the app's agent, list, show and delete the agents it manages, and
clean up what a conversation created at the provider."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError
from rich.console import Console
from rich.table import Table

from durable_assistant.config import ConfigError
from foundry_agents._backends import AgentInfo, Backend, Connection, open_backend
from foundry_agents._definition import DEFAULT_NAME, ApiKind, ToolMode, desired_agent

LOCAL_ENDPOINT = "http://127.0.0.1:8199/api/projects/local"


class UsageError(Exception):
    """Bad input: exit 2 with the message."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m foundry_agents", description=__doc__)
    parser.add_argument("--endpoint", default=os.environ.get("FOUNDRY_PROJECT_ENDPOINT") or LOCAL_ENDPOINT,
                        help="Foundry project endpoint (env FOUNDRY_PROJECT_ENDPOINT; default: local devmodel)")
    parser.add_argument("--api", choices=["classic", "agents"], default="classic",
                        help="classic: threads/runs agents (azure-ai-agents); agents: versioned agents "
                             "run through Responses (azure-ai-projects)")
    parser.add_argument("--auth", choices=["key", "entra"],
                        default=os.environ.get("FOUNDRY_AUTH") or "key",
                        help="key: --api-key as a bearer key (devmodel); entra: DefaultAzureCredential")
    parser.add_argument("--api-key", default=os.environ.get("FOUNDRY_API_KEY")
                        or os.environ.get("ASSISTANT_API_KEY") or "local-dev-key")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser("sync", help="create or update the agent from the app's settings and tools")
    sync.add_argument("--name", default=DEFAULT_NAME)
    sync.add_argument("--tools", choices=["function", "azure_function"], default="azure_function",
                      help="azure_function: the service calls the app's queue functions; function: the app "
                           "runs tools itself after requires_action")
    sync.add_argument("--model", help="model deployment (default: ASSISTANT_MODEL)")
    commands.add_parser("list", help="agents created by this tool")
    show = commands.add_parser("show", help="one agent (name, or asst_ id for classic)")
    show.add_argument("agent")
    delete = commands.add_parser("delete", help="delete an agent this tool created")
    delete.add_argument("agent")
    delete.add_argument("--force", action="store_true", help="also delete an agent this tool did not create")
    cleanup = commands.add_parser("cleanup", help="delete what conversations created at the provider")
    cleanup.add_argument("--conversation", action="append", default=[],
                         help="an app conversation id (its turns' provider ids are read from --app)")
    cleanup.add_argument("--app", default=os.environ.get("DURABLE_ASSISTANT_API") or "http://127.0.0.1:7071/api",
                         help="the app's HTTP API base (env DURABLE_ASSISTANT_API)")
    cleanup.add_argument("--app-key", default=os.environ.get("DURABLE_ASSISTANT_KEY"),
                         help="function key for the app's API (env DURABLE_ASSISTANT_KEY)")
    cleanup.add_argument("--thread", action="append", default=[], help="a thread id to delete (classic)")
    cleanup.add_argument("--response", action="append", default=[], help="a response id to delete")
    return parser


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(soft_wrap=True)
    environ = os.environ if env is None else env
    connection = Connection(args.endpoint, args.api_key if args.auth == "key" else None)
    try:
        backend = open_backend(args.api, connection)
        try:
            return _run(args, backend, environ, console)
        finally:
            backend.close()
    except (UsageError, ConfigError, ValueError) as exc:
        print(f"foundry_agents: {exc}", file=sys.stderr)
        return 2
    except (HttpResponseError, ServiceRequestError, OSError) as exc:
        print(f"foundry_agents: the provider failed: {_first_line(exc)}", file=sys.stderr)
        return 1


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _run(args: argparse.Namespace, backend: Backend, env: Mapping[str, str], console: Console) -> int:
    if args.command == "sync":
        tool_mode: ToolMode = args.tools
        api: ApiKind = args.api
        spec = desired_agent(env, name=args.name, api=api, tool_mode=tool_mode, model=args.model)
        outcome, agent = backend.sync(spec)
        _emit(console, args.json, {"outcome": outcome, **_summary(agent)},
              f"{outcome}: agent [bold]{agent.name}[/] id={agent.id}"
              + (f" version={agent.version}" if agent.version else "")
              + f" ({len(agent.tools)} {tool_mode} tools)")
        return 0
    if args.command == "list":
        agents = backend.managed_agents()
        if args.json:
            print(json.dumps([_summary(a) for a in agents], indent=2))
        else:
            table = Table("name", "id", "version", "model", "tools")
            for a in agents:
                table.add_row(a.name, a.id, a.version or "-", a.model, ", ".join(a.tools))
            console.print(table)
        return 0
    if args.command == "show":
        agent = _require(backend, args.agent)
        _emit(console, args.json, agent.raw, json.dumps(agent.raw, indent=2))
        return 0
    if args.command == "delete":
        agent = _require(backend, args.agent)
        if not agent.managed and not args.force:
            raise UsageError(f"agent {agent.name!r} ({agent.id}) was not created by this tool; add --force")
        backend.delete(agent)
        _emit(console, args.json, {"deleted": agent.id}, f"deleted agent {agent.name} ({agent.id})")
        return 0
    assert args.command == "cleanup"
    return _cleanup(args, backend, console)


def _require(backend: Backend, name_or_id: str) -> AgentInfo:
    agent = backend.find(name_or_id)
    if agent is None:
        raise UsageError(f"no agent {name_or_id!r} at {backend.api} endpoint")
    return agent


def _summary(agent: AgentInfo) -> dict[str, Any]:
    return {"id": agent.id, "name": agent.name, "version": agent.version, "model": agent.model,
            "tools": agent.tools, "metadata": agent.metadata}


def _emit(console: Console, as_json: bool, data: Any, text: str) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        console.print(text, markup=not text.lstrip().startswith("{"))


def conversation_provider_ids(app: str, conversation_id: str, key: str | None) -> list[str]:
    """Every provider object id the app recorded for a conversation's turns (GET /api/conversations/{id})."""
    request = urllib.request.Request(f"{app.rstrip('/')}/conversations/{conversation_id}",
                                     headers={"x-functions-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise UsageError(f"conversation {conversation_id!r}: the app answered {exc.code}") from None
    ids: list[str] = []
    for turn in body.get("turns", []):
        for pid in turn.get("providerIds", []):
            if pid not in ids:
                ids.append(pid)
    return ids


def _cleanup(args: argparse.Namespace, backend: Backend, console: Console) -> int:
    threads, responses = list(args.thread), list(args.response)
    for conversation in args.conversation:
        for pid in conversation_provider_ids(args.app, conversation, args.app_key):
            if pid.startswith("thread_"):
                threads.append(pid)
            elif pid.startswith("resp_"):
                responses.append(pid)
            # run ids go with their thread; chat completions are not stored at the provider
    if not threads and not responses and not args.conversation:
        raise UsageError("nothing to clean up: give --conversation, --thread or --response")
    report = {"threads": {t: backend.delete_thread(t) for t in dict.fromkeys(threads)},
              "responses": {r: backend.delete_response(r) for r in dict.fromkeys(responses)}}
    deleted = sum(v for group in report.values() for v in group.values())
    missing = sum(not v for group in report.values() for v in group.values())
    _emit(console, args.json, report, f"deleted {deleted} provider objects ({missing} already gone)")
    return 0
