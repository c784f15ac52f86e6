"""The web monitor's HTTP functions (a blueprint registered by function_app.py) and the conversation list API.

Pages, all under the app's function auth level (open them with ``?code=<function key>`` where keys are
enforced; links carry the key on):
- GET /api/monitor                                              conversations, newest first, paged
- GET /api/monitor/conversations/{conversationId}               its turns
- GET /api/monitor/conversations/{conversationId}/turns/{turn}  timeline, customStatus, tool calls
Add ``?fragment=1`` for the live part of a page only (what the page's script fetches every second).

- GET /api/conversations?top=&continuationToken=                JSON page of conversations (durable_assistant.api)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_assistant import api
from durable_assistant.services import Services, get_services
from durable_assistant.store import InvalidContinuationTokenError
from monitor import reads
from monitor.render import Links, render

log = logging.getLogger("durable_assistant.monitor")

bp = df.Blueprint()

_storage_ready = threading.Event()


def _services() -> Services:
    services = get_services()
    if not _storage_ready.is_set():
        services.ensure_storage()  # idempotent; a fresh account has no tables to list yet
        _storage_ready.set()
    return services


def _html(body: str, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(body, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={"Cache-Control": "no-store"})


def _error_page(links: Links, status: int, title: str, message: str) -> func.HttpResponse:
    return _html(render("error.html", links, title=title, message=message), status)


def _json(result: api.ApiResponse) -> func.HttpResponse:
    return func.HttpResponse(result.text(), status_code=result.status, headers=result.headers,
                             mimetype="application/json", charset="utf-8")


async def monitor_conversations(req: func.HttpRequest) -> func.HttpResponse:
    links = Links(req.url, req.params)
    try:
        top = api.page_size(req.params)
        services = await asyncio.to_thread(_services)
        listed = await asyncio.to_thread(reads.list_page, services, top, req.params.get("continuationToken"))
    except api.ApiError as exc:
        return _error_page(links, exc.status, "Bad request", str(exc))
    except InvalidContinuationTokenError:
        return _error_page(links, 400, "Bad request", "that continuation token was not made by this monitor")
    except Exception:
        log.exception("monitor: listing conversations failed")
        return _error_page(links, 500, "Monitor error", "listing conversations failed; see the app's log")
    return _html(render("conversations.html", links, title="Conversations", page=listed.page,
                        first_messages=listed.first_messages, top=req.params.get("top")))


async def monitor_conversation(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    links = Links(req.url, req.params)
    conversation_id = req.route_params.get("conversationId", "")
    try:
        services = await asyncio.to_thread(_services)
        view = await reads.conversation(services, client, conversation_id)
    except reads.NotFound as exc:
        return _error_page(links, 404, "Not found", str(exc))
    except Exception:
        log.exception("monitor: reading conversation %s failed", conversation_id)
        return _error_page(links, 500, "Monitor error", "reading the conversation failed; see the app's log")
    context: dict[str, Any] = {"title": f"Conversation {conversation_id}", "conv": view.conv, "turns": view.turns,
                               "approvals": view.approvals, "live": any(not t.finished for t in view.turns)}
    fragment = req.params.get("fragment") == "1"
    return _html(render("_conversation_live.html" if fragment else "conversation.html", links, **context))


async def monitor_turn(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    links = Links(req.url, req.params)
    conversation_id = req.route_params.get("conversationId", "")
    seq = req.route_params.get("turn", "")
    if not seq.isdigit():
        return _error_page(links, 404, "Not found", f"{seq!r} is not a turn number")
    try:
        services = await asyncio.to_thread(_services)
        view = await reads.turn(services, client, conversation_id, int(seq))
    except reads.NotFound as exc:
        return _error_page(links, 404, "Not found", str(exc))
    except Exception:
        log.exception("monitor: reading turn %s of %s failed", seq, conversation_id)
        return _error_page(links, 500, "Monitor error", "reading the turn failed; see the app's log")
    fragment = req.params.get("fragment") == "1"
    return _html(render("_turn_live.html" if fragment else "turn.html", links,
                        title=f"Turn {seq} of {conversation_id}", view=view))


async def list_conversations(req: func.HttpRequest) -> func.HttpResponse:
    try:
        services = await asyncio.to_thread(_services)
        return _json(await asyncio.to_thread(api.list_conversations, services, req.params))
    except api.ApiError as exc:
        return _json(exc.response())
    except Exception:
        log.exception("listing conversations failed")
        return _json(api.ApiResponse(500, {"error": {"code": "internal", "message": "listing failed"}}))


# Registered by call so mypy keeps the handlers typed (the decorators are untyped).
bp.route(route="monitor", methods=["GET"])(bp.function_name("monitor_conversations")(monitor_conversations))
bp.route(route="monitor/conversations/{conversationId}", methods=["GET"])(
    bp.durable_client_input(client_name="client")(bp.function_name("monitor_conversation")(monitor_conversation)))
bp.route(route="monitor/conversations/{conversationId}/turns/{turn}", methods=["GET"])(
    bp.durable_client_input(client_name="client")(bp.function_name("monitor_turn")(monitor_turn)))
bp.route(route="conversations", methods=["GET"])(bp.function_name("list_conversations")(list_conversations))
