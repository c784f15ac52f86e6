"""devhost's HTTP surface (aiohttp): HTTP-triggered functions under the route prefix, the Durable Functions
management API at ``/runtime/webhooks/durabletask`` (spec §5) and the SDK's RPC base.

``HostServer(invoker, backend, ServerOptions(...))`` serves an app; ``DurableBackend`` is what the runtime
implements; ``status_payload`` / ``history_events`` build the status JSON exactly as the extension does.
"""

from ._backend import DurableBackend, InstanceQuery
from ._keys import AuthKeys
from ._management import ManagementApi, error_response
from ._routes import RouteTemplate, RouteTemplateError
from ._server import RPC_PATH, HostServer, ServerOptions, to_aiohttp_response
from ._status import format_status_time, history_events, parse_token, status_payload

__all__ = [
    "RPC_PATH",
    "AuthKeys",
    "DurableBackend",
    "HostServer",
    "InstanceQuery",
    "ManagementApi",
    "RouteTemplate",
    "RouteTemplateError",
    "ServerOptions",
    "error_response",
    "format_status_time",
    "history_events",
    "parse_token",
    "status_payload",
    "to_aiohttp_response",
]
