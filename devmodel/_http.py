"""The aiohttp application: routes of the three protocols, API-key check, OpenAI-shaped errors, health, models.

Every route is served under ``/v1`` (OpenAI) and ``/openai/v1`` (Azure OpenAI v1 endpoint), so both kinds of
``base_url`` work. A Foundry project endpoint ``/api/projects/{project}`` serves the classic agents API
(``/assistants``, ``/threads``...), the new agents API (``/agents``...) and Responses under ``/openai/v1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from ._agents_api import AgentsApi
from ._chat_api import ChatApi
from ._errors import ApiError
from ._provider import Provider
from ._responses_api import ResponsesApi
from ._threads_api import ThreadsApi

log = logging.getLogger("devmodel")
PROVIDER_KEY: web.AppKey[Provider] = web.AppKey("devmodel_provider", Provider)
PURGE_INTERVAL_SECONDS = 30.0
_OPEN_PATHS = frozenset({"/health"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _auth_error(request: web.Request, expected: str) -> ApiError | None:
    bearer = request.headers.get("Authorization", "")
    given = bearer[7:].strip() if bearer.lower().startswith("bearer ") else request.headers.get("api-key")
    if not given:
        return ApiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                             "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the api-key header.")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        shown = f"{given[:3]}***{given[-4:]}" if len(given) > 8 else "***"
        return ApiError(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")
    return None


@web.middleware
async def _errors_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    provider = request.app[PROVIDER_KEY]
    try:
        expected = provider.config.api_key
        if expected and request.path not in _OPEN_PATHS and (error := _auth_error(request, expected)):
            raise error
        return await handler(request)
    except ApiError as exc:
        return exc.to_response()
    except web.HTTPNotFound:
        return ApiError(404, f"Invalid URL ({request.method} {request.path})").to_response()
    except web.HTTPMethodNotAllowed:
        return ApiError(405, f"Method not allowed ({request.method} {request.path})").to_response()
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return ApiError(500, "The server had an error while processing your request.",
                        error_type="server_error").to_response()


async def _health(request: web.Request) -> web.Response:
    provider = request.app[PROVIDER_KEY]
    return web.json_response({"status": "ok", "engine": provider.config.engine, "model": provider.engine.model_id})


async def _models(request: web.Request) -> web.Response:
    provider = request.app[PROVIDER_KEY]
    model = {"id": provider.engine.model_id, "object": "model", "created": provider.now(), "owned_by": "devmodel"}
    return web.json_response({"object": "list", "data": [model]})


async def _model(request: web.Request) -> web.Response:
    provider = request.app[PROVIDER_KEY]
    if request.match_info["id"] != provider.engine.model_id:
        raise ApiError(404, f"The model '{request.match_info['id']}' does not exist", code="model_not_found")
    return web.json_response({"id": provider.engine.model_id, "object": "model", "created": provider.now(),
                              "owned_by": "devmodel"})


async def _housekeeping(app: web.Application) -> AsyncIterator[None]:
    provider = app[PROVIDER_KEY]

    async def purge_forever() -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)
            provider.store.purge_expired()

    purger = asyncio.create_task(purge_forever())
    yield
    purger.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await purger
    await provider.jobs.aclose()
    await provider.queues.aclose()
    await provider.engine.aclose()
    if provider.webhooks is not None:
        await provider.webhooks.aclose()
    provider.store.close()


def create_app(provider: Provider) -> web.Application:
    """The devmodel HTTP application around a ready provider (engine loaded, store open)."""
    app = web.Application(middlewares=[_errors_and_auth], client_max_size=32 * 1024 * 1024)
    app[PROVIDER_KEY] = provider
    routes = [
        web.get("/v1/models", _models),
        web.get("/v1/models/{id}", _model),
        *ResponsesApi(provider).routes(),
        *ChatApi(provider).routes(),
        *ThreadsApi(provider).routes(),
    ]
    defs = [r for r in routes if isinstance(r, web.RouteDef)]
    azure = [web.route(r.method, "/openai" + r.path, r.handler) for r in defs]
    project = "/api/projects/{project}"
    foundry = [web.route(r.method, project + "/openai" + r.path, r.handler) for r in defs]
    foundry += [web.route(r.method, project + r.path.removeprefix("/v1"), r.handler) for r in defs
                if r.path.startswith(("/v1/assistants", "/v1/threads"))]
    foundry += AgentsApi(provider).routes(project)
    app.add_routes([web.get("/health", _health), *routes, *azure, *foundry])
    app.cleanup_ctx.append(_housekeeping)
    return app
