"""The aiohttp server of devhost: HTTP triggers under the route prefix, the management API, the SDK's RPC base."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from devhost.functions import WEBHOOK_PATH, FunctionInfo, FunctionInvoker, FunctionKind, ManagementEndpoint

from ._backend import DurableBackend
from ._keys import AuthKeys
from ._limits import JsonErrorAppRunner, RequestLimits, json_error
from ._management import ManagementApi
from ._routes import RouteTemplate

log = logging.getLogger("devhost.http")
RPC_PATH = "/durabletask"  # where the real extension's local RPC listener serves the same API


@dataclass(frozen=True)
class ServerOptions:
    task_hub: str
    route_prefix: str = "api"
    connection: str = "Storage"
    keys: AuthKeys = field(default_factory=lambda: AuthKeys("", "", "", enforce=False))
    limits: RequestLimits = field(default_factory=RequestLimits)


@dataclass(frozen=True)
class HttpFunctionRoute:
    info: FunctionInfo
    template: RouteTemplate
    methods: frozenset[str]
    auth_level: str


def _json_error(status: int, message: str) -> web.Response:
    return json_error(status, {401: "unauthorized", 404: "not_found"}.get(status, "error"), message)


class HostServer:
    """Build with the app's invoker and a durable backend; ``start(host, port)`` listens (``port=0`` = any free).

    Raises ``OSError`` from ``start`` when the port is taken.
    """

    def __init__(self, invoker: FunctionInvoker, backend: DurableBackend, options: ServerOptions) -> None:
        self._invoker = invoker
        self._options = options
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._routes = sorted(
            (
                HttpFunctionRoute(
                    info=info,
                    template=RouteTemplate(info.http.template),
                    methods=frozenset(info.http.methods),
                    auth_level=info.http.auth_level,
                )
                for info in invoker.http_functions()
                if info.http is not None
            ),
            key=lambda r: r.template.precedence,
        )
        self._management = ManagementApi(backend, self.management_endpoint)
        self.app = web.Application(client_max_size=100 * 1024 * 1024,  # the host's default request size limit
                                   middlewares=[self._limits_and_json_errors])
        # [\s\S]: a route parameter may hold an encoded newline (%0A), which '.' would not match.
        self.app.router.add_route("*", WEBHOOK_PATH + r"/{tail:[\s\S]*}", self._management_public)
        self.app.router.add_route("*", RPC_PATH + r"/{tail:[\s\S]*}", self._management_rpc)
        self.app.router.add_route("GET", "/admin/host/status", self._host_status)
        self.app.router.add_route("GET", "/admin/host/systemkeys", self._system_keys)
        self.app.router.add_route("GET", "/admin/host/systemkeys/{name}", self._system_keys)
        self.app.router.add_route("POST", "/admin/functions/{name}", self._run_function)
        self._admin_runs: set[asyncio.Task[None]] = set()
        self.app.router.add_route("*", r"/{tail:[\s\S]*}", self._dispatch_function)

    # -- lifecycle --------------------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        runner = JsonErrorAppRunner(self.app, limits=self._options.limits, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host = host
        server = site._server  # the asyncio Server: the only way to learn the port when 0 was asked for
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        self._invoker.client_endpoint = self.management_endpoint()

    async def stop(self) -> None:
        for task in list(self._admin_runs):
            task.cancel()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def origin(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def management_endpoint(self) -> ManagementEndpoint:
        keys = self._options.keys
        return ManagementEndpoint.for_origin(
            self.origin,
            self._options.task_hub,
            connection=self._options.connection,
            # The host hands the extension URLs with its own system key (durabletask_extension), never the
            # master key: a holder of these URLs controls the task hub's instances, not the host.
            code=keys.system_key if keys.enforce else None,
            # With keys enforced the SDK talks to the unauthenticated loopback RPC path, like the real extension.
            rpc_base_url=f"{self.origin}{RPC_PATH}/" if keys.enforce else None,
        )

    def function_urls(self) -> list[tuple[str, tuple[str, ...], str]]:
        """(function name, methods, URL) of every HTTP function, for the startup banner."""
        prefix = f"/{self._options.route_prefix}" if self._options.route_prefix else ""
        return [
            (r.info.name, tuple(sorted(r.methods)), f"{self.origin}{prefix}/{r.template.template}")
            for r in self._routes
        ]

    @web.middleware
    async def _limits_and_json_errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Kestrel's request line and header totals first; aiohttp's own HTTP errors (a body over
        client_max_size, a method the management routes lack) as JSON like devhost's other answers."""
        refused = self._options.limits.check(request)
        if refused is not None:
            return refused
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return json_error(exc.status, "http_error", exc.text or exc.reason)
        return response

    # -- management -------------------------------------------------------------------------------------------
    async def _management_public(self, request: web.Request) -> web.StreamResponse:
        keys = self._options.keys
        if keys.enforce and not keys.allows("system", _presented_key(request)):
            return web.Response(status=401)
        return await self._management.handle(request)

    async def _management_rpc(self, request: web.Request) -> web.StreamResponse:
        peer = request.remote or ""
        try:
            loopback = ipaddress.ip_address(peer).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return web.Response(status=404)
        return await self._management.handle(request)

    async def _host_status(self, request: web.Request) -> web.StreamResponse:
        keys = self._options.keys
        if keys.enforce and not keys.allows("admin", _presented_key(request)):
            return web.Response(status=401)
        return web.json_response({"state": "Running", "version": "devhost", "functions": len(self._routes)})

    async def _system_keys(self, request: web.Request) -> web.StreamResponse:
        """The host's ``KeysController`` system-key routes (master key only): how an operator or a test learns
        the Durable extension's key."""
        keys = self._options.keys
        if keys.enforce and not keys.allows("admin", _presented_key(request)):
            return web.Response(status=401)
        found = keys.system_keys()
        name = request.match_info.get("name")
        if name is None:
            return web.json_response({"keys": [{"name": n, "value": v} for n, v in found.items()]})
        if name.lower() not in found:
            return _json_error(404, f"no system key named {name!r}")
        return web.json_response({"name": name.lower(), "value": found[name.lower()]})

    async def _run_function(self, request: web.Request) -> web.StreamResponse:
        """``POST /admin/functions/{name}`` with ``{"input": ...}``: run a non-HTTP function now, as the host's
        admin API does (master key; 202 at once, the function runs in the background). devhost runs timer
        functions this way; other kinds get a JSON 400."""
        keys = self._options.keys
        if keys.enforce and not keys.allows("admin", _presented_key(request)):
            return web.Response(status=401)
        try:
            invocation = json.loads(await request.read() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            invocation = None
        if not isinstance(invocation, dict):
            return web.Response(status=400)  # the host's [FromBody] FunctionInvocation was null
        info = self._invoker.index.get(request.match_info["name"])
        if info is None:
            return web.Response(status=404)
        if info.kind is not FunctionKind.TIMER:
            return _json_error(400, f"devhost runs only timer functions on demand; '{info.name}' is {info.kind.value}")
        task = asyncio.create_task(self._invoker.call_timer(info, past_due=False, last=None, next_=None))
        self._admin_runs.add(task)
        task.add_done_callback(self._admin_run_done)
        return web.Response(status=202)

    def _admin_run_done(self, task: asyncio.Task[None]) -> None:
        self._admin_runs.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("function run through the admin API failed", exc_info=task.exception())

    # -- HTTP triggers ----------------------------------------------------------------------------------------
    def _relative_path(self, path: str) -> str | None:
        prefix = self._options.route_prefix
        if not prefix:
            return path or "/"
        head = "/" + prefix.lower()
        lowered = path.lower()
        if lowered == head:
            return "/"
        if lowered.startswith(head + "/"):
            return path[len(head):] or "/"
        return None

    async def _dispatch_function(self, request: web.Request) -> web.StreamResponse:
        relative = self._relative_path(_routing_path(request))
        if relative is None:
            return _json_error(404, f"no function handles {request.path}")
        for route in self._routes:
            params = route.template.match(relative)
            if params is None:
                continue
            if route.methods and request.method.upper() not in route.methods:
                # The Functions host answers 404, not 405, for a known route with another method
                # (Azure/azure-functions-host issue 10098); devhost keeps that behaviour.
                continue
            if not self._options.keys.allows(route.auth_level, _presented_key(request)):
                return _json_error(401, f"function '{route.info.name}' needs a {route.auth_level} key "
                                        "(?code=... or the x-functions-key header)")
            return await self._invoke(route, request, params)
        return _json_error(404, f"no function handles {request.method} {request.path}")

    async def _invoke(self, route: HttpFunctionRoute, request: web.Request, params: dict[str, str]) -> web.Response:
        body = await request.read()
        http_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers={k: v for k, v in request.headers.items()},
            params={k: v for k, v in request.query.items()},
            route_params=params,
            body=body,
        )
        try:
            response = await self._invoker.call_http(route.info, http_request)
        except Exception:
            log.exception("function %s failed", route.info.name)
            return web.Response(status=500)
        return to_aiohttp_response(response)


def _routing_path(request: web.Request) -> str:
    """The path routes match against, decoded like ASP.NET Core's: every escape except %2F, so an encoded slash
    stays inside its segment (a route parameter's value) instead of splitting it."""
    raw = request.raw_path.split("?", 1)[0]
    return "/".join(unquote(re.sub("%2[fF]", "%252F", segment)) for segment in raw.split("/"))


def _presented_key(request: web.Request) -> str | None:
    # The header wins over ?code= (the host's AuthenticationLevelHandler).
    return request.headers.get("x-functions-key") or request.query.get("code")


def to_aiohttp_response(response: func.HttpResponse) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in response.headers.items():
        headers.add(name, value)
    if "content-type" not in headers:
        mimetype = response.mimetype
        headers["Content-Type"] = f"{mimetype}; charset={response.charset}" if mimetype.startswith("text/") else mimetype
    return web.Response(status=int(response.status_code), body=response.get_body(), headers=headers)


