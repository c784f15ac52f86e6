"""``python -m devhost start``: run a function app like ``func start``, with the durable state in Azure Storage.

Composition (one event loop): config -> app loader -> storage (Azurite unless told otherwise) -> durable runtime ->
HTTP server -> timer/queue triggers. Exit code 1 with a clear message when the app does not load, the port is
taken or the storage is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from devhost import azurite, hub_guard
from devhost.config import ConfigError, HostConfig, load_config
from devhost.functions import (
    AppLoadError,
    FunctionIndex,
    FunctionInvoker,
    TriggerConfigError,
    TriggerHost,
    load_app,
)
from devhost.http import AuthKeys, HostServer, RouteTemplateError, ServerOptions
from devhost.logs import configure_logging
from devhost.worker import WorkerInvoker, WorkerStartError

log = logging.getLogger("devhost")
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"


class StartupError(Exception):
    """devhost cannot start; the message says why (printed, exit code 1)."""


@dataclass(frozen=True)
class StartOptions:
    app_dir: Path
    host: str = "127.0.0.1"
    port: int | None = None  # None: local.settings Host.LocalHttpPort, else 7071
    storage: str | None = None
    hub: str | None = None
    verbose: bool = False
    enforce_keys: bool | None = None  # None: DEVHOST_ENFORCE_KEYS
    json_logs: bool = False
    allow_shared_hub: bool = False  # run the deployed task hub on a real storage account anyway
    in_process: bool = False  # run the app's functions in devhost's own process instead of a worker process


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="run the function app in the current (or --app) folder")
    start.add_argument("--app", type=Path, default=Path("."), help="function app folder (default: .)")
    start.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    start.add_argument("--port", type=int, default=None,
                       help="port (default: local.settings.json Host.LocalHttpPort, else 7071)")
    start.add_argument("--storage", default=None,
                       help="Azure Storage connection string (default: the AzureWebJobsStorage setting; "
                            f"'{DEVELOPMENT_STORAGE}' or none means Azurite)")
    start.add_argument("--hub", default=None, help="task hub name (overrides host.json)")
    start.add_argument("--allow-shared-hub", action="store_true",
                       help="allow a real (non-emulator) storage account with the deployed app's task hub name "
                            "(refused by default: the real host cannot read devhost's queue messages)")
    start.add_argument("--in-process", action="store_true",
                       help="run the app's functions in devhost's own process (one process; by default they run "
                            "in a worker process, as the Functions host runs them in a language worker)")
    start.add_argument("--verbose", action="store_true", help="debug logging")
    start.add_argument("--json-logs", action="store_true", help="log JSON lines instead of key=value")
    start.add_argument("--enforce-keys", "--enableAuth", dest="enforce_keys", action="store_const", const=True,
                       default=None,
                       help="check function/admin keys like Azure does (func start does not, and neither does "
                            "devhost by default; also DEVHOST_ENFORCE_KEYS=1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = StartOptions(
        app_dir=args.app, host=args.host, port=args.port, storage=args.storage, hub=args.hub,
        verbose=args.verbose, enforce_keys=args.enforce_keys, json_logs=args.json_logs,
        allow_shared_hub=args.allow_shared_hub, in_process=args.in_process,
    )
    try:
        return asyncio.run(serve(options))
    except StartupError as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like aiohttp's listener
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another host running?)"
            ) from None


def _resolve_storage(explicit: str | None, config: HostConfig) -> tuple[str, azurite.AzuriteProcess | None]:
    """The connection string to use, starting Azurite when the app asks for development storage."""
    value = (explicit or config.storage_connection_string or "").strip()
    if value and value.rstrip(";").lower() != DEVELOPMENT_STORAGE.lower():
        return value, None
    if all(azurite.is_listening("127.0.0.1", p) for p in azurite.DEFAULT_PORTS):
        log.info("using the Azurite already listening on 127.0.0.1:10000-10002")
        return azurite.connection_string(), None
    data_dir = config.app_dir / ".local" / "azurite"
    log.info("starting Azurite with data in %s", data_dir)
    try:
        process = azurite.AzuriteProcess(data_dir=data_dir).start()
    except azurite.AzuriteError as exc:
        raise StartupError(str(exc)) from None
    return process.connection_string, process


async def serve(options: StartOptions, *, stop: asyncio.Event | None = None) -> int:
    """Run devhost until SIGINT/SIGTERM (or ``stop`` is set). Raises ``StartupError`` for startup failures."""
    from devhost.runtime import DurableRuntime, RuntimeOptions
    from devhost.storage import StorageError, TaskHubStorage

    console = Console(highlight=False, soft_wrap=True)
    try:
        config = load_config(options.app_dir, hub_override=options.hub)
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    configure_logging(verbose=options.verbose, json_lines=options.json_logs, level=config.log_level)
    port = options.port if options.port is not None else (config.local_http_port or 7071)
    _check_port_free(options.host, port)
    try:
        keys = AuthKeys.from_settings(os.environ, enforce=options.enforce_keys)
    except ValueError as exc:
        raise StartupError(str(exc)) from None

    try:
        index = load_app(config.app_dir, config.script_file, change_cwd=True)
    except AppLoadError as exc:
        raise StartupError(f"the function app failed to load:\n{exc}") from None

    connection_string, azurite_process = _resolve_storage(options.storage, config)
    try:
        hub_guard.check_hub(connection_string, config.hub_name, app_dir=config.app_dir, environ=os.environ,
                            allow_shared=options.allow_shared_hub)
    except hub_guard.SharedHubError as exc:
        raise StartupError(str(exc)) from None
    # The app's own code (and queue triggers) read AzureWebJobsStorage: point it at the storage actually used.
    os.environ[config.connection_name] = connection_string
    threads = max(config.max_concurrent_activity_functions, 4)
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="devhost-fn")
    storage = TaskHubStorage(connection_string, config.hub_name, partition_count=config.partition_count)
    in_process = options.in_process or not hasattr(asyncio, "start_unix_server")
    if in_process and not options.in_process:
        log.info("no Unix sockets on this platform: the app's functions run in devhost's process")
    invoker = (
        FunctionInvoker(index, executor=executor, function_directory=str(config.app_dir))
        if in_process
        else WorkerInvoker(index, app_dir=config.app_dir, script_file=config.script_file, threads=threads,
                           log_args=_worker_log_args(options, config), function_directory=str(config.app_dir))
    )
    runtime: DurableRuntime | None = None
    server: HostServer | None = None
    triggers: TriggerHost | None = None
    try:
        try:
            await asyncio.wait_for(storage.open(), timeout=60)
        except (StorageError, TimeoutError, OSError) as exc:
            raise StartupError(f"storage is unreachable: {exc}") from None
        if isinstance(invoker, WorkerInvoker):
            try:
                await invoker.start()
            except WorkerStartError as exc:
                raise StartupError(f"the function app failed to load in the worker process:\n{exc}") from None
        runtime = DurableRuntime(storage, invoker, RuntimeOptions(
            partition_count=storage.partition_count,
            control_queue_visibility_timeout=config.control_queue_visibility_timeout,
            work_item_visibility_timeout=config.work_item_queue_visibility_timeout,
            max_queue_polling_interval=config.max_queue_polling_interval,
            max_concurrent_activities=config.max_concurrent_activity_functions,
            max_concurrent_orchestrations=config.max_concurrent_orchestrator_functions,
        ))
        try:
            server = HostServer(invoker, runtime.client, ServerOptions(
                task_hub=config.hub_name, route_prefix=config.route_prefix, keys=keys,
            ))
            triggers = TriggerHost(invoker, resolve_connection=_connection_resolver(connection_string),
                                   queue_options=config.queues)
        except (RouteTemplateError, TriggerConfigError) as exc:
            raise StartupError(f"the function app failed to load: {exc}") from None
        try:
            await server.start(options.host, port)
        except OSError as exc:
            raise StartupError(f"cannot listen on {options.host}:{port}: {exc.strerror or exc}") from None
        await runtime.start()
        triggers.start()
        _print_banner(console, server, config, keys, index)

        stop_event = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop_event.set)
        await stop_event.wait()
        log.info("shutting down")
        return 0
    finally:
        if triggers is not None:
            await triggers.stop()
        if server is not None:
            await server.stop()
        if runtime is not None:
            await runtime.stop()
        if isinstance(invoker, WorkerInvoker):
            await invoker.stop()
        await storage.close()
        await _close_sdk_session()
        executor.shutdown(wait=False, cancel_futures=True)
        if azurite_process is not None:
            azurite_process.stop()


def _worker_log_args(options: StartOptions, config: HostConfig) -> list[str]:
    """The worker logs like devhost: same format, same level."""
    args = ["--log-level", str(config.log_level)]
    if options.verbose:
        args.append("--verbose")
    if options.json_logs:
        args.append("--json-logs")
    return args


async def _close_sdk_session() -> None:
    """The durable SDK keeps one global aiohttp session for client calls; close it with the loop (§1.6)."""
    http_utils = sys.modules.get("azure.durable_functions.models.utils.http_utils")
    close = getattr(http_utils, "_close_session", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


def _connection_resolver(storage_connection: str) -> Callable[[str], str | None]:
    """App-setting name -> connection string (``UseDevelopmentStorage=true`` means the storage devhost uses)."""

    def resolve(setting: str) -> str | None:
        value = os.environ.get(setting) or os.environ.get(f"{setting}__connectionString")
        if value is not None and value.rstrip(";").lower() == DEVELOPMENT_STORAGE.lower():
            return storage_connection
        return value

    return resolve


def _print_banner(
    console: Console, server: HostServer, config: HostConfig, keys: AuthKeys, index: FunctionIndex
) -> None:
    console.print(f"devhost: {len(index)} functions from {config.app_dir}; task hub [bold]{config.hub_name}[/]")
    console.print(f"Listening on [bold]{server.origin}[/] (management API: {server.origin}/runtime/webhooks/durabletask)")
    urls = server.function_urls()
    if urls:
        console.print("\nFunctions:\n")
        for name, methods, url in sorted(urls, key=lambda u: u[0].lower()):
            shown = ",".join(methods) if methods else "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS"
            console.print(f"        {name}: [{shown}] {url}", markup=False)
        console.print()
    for setting in config.settings_skipped:
        console.print(f"Skipping '{setting}' from local settings as it's already defined in current environment "
                      "variables.", markup=False)
    for info in index.with_unsupported_bindings():
        console.print(f"warning: function '{info.name}' uses bindings devhost does not provide "
                      f"({', '.join(info.unsupported_bindings)}): output values are dropped and inputs fail",
                      markup=False)
    if keys.enforce:
        for which in keys.generated:
            key = {"function": keys.function_key, "master": keys.master_key, "system": keys.system_key}[which]
            console.print(f"Generated {which} key (set DEVHOST_{which.upper()}_KEY to fix it): {key}", markup=False)
    else:
        console.print("Keys are not enforced (like func start); use --enforce-keys to require them.")
