"""Composition root of the Durable Assistant function app (Python v2 programming model).

Registers the turn orchestration and its activities (blueprints) and the HTTP API under /api. Route
functions are thin: validation and bodies live in durable_assistant.api, turn logic in the orchestration.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities.turn_activities import bp as activities_bp
from durable_assistant import api, steps
from durable_assistant.config import ConfigError
from durable_assistant.contracts import RUN_ENDED_EVENT, TURN_ORCHESTRATION
from durable_assistant.services import Services, get_services
from monitor.monitor_routes import bp as monitor_bp
from orchestrations.turn_orchestration import bp as turn_bp
from tool_queues import bp as tool_queues_bp

log = logging.getLogger("durable_assistant")

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(turn_bp)
app.register_functions(activities_bp)
app.register_functions(monitor_bp)  # web monitor pages and GET /api/conversations (monitor/)
app.register_functions(tool_queues_bp)

_storage_ready = threading.Event()


def _services() -> Services:
    services = get_services()
    if not _storage_ready.is_set():
        services.ensure_storage()  # idempotent; once per process
        _storage_ready.set()
    return services


def _respond(result: api.ApiResponse) -> func.HttpResponse:
    return func.HttpResponse(result.text(), status_code=result.status, headers=result.headers,
                             mimetype="application/json", charset="utf-8")


def _server_error(exc: Exception) -> func.HttpResponse:
    if isinstance(exc, ConfigError):
        return _respond(api.ApiResponse(500, {"error": {"code": "configuration", "message": str(exc)}}))
    log.exception("request failed")
    return _respond(api.ApiResponse(500, {"error": {"code": "internal", "message": type(exc).__name__}}))


def create_conversation(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return _respond(api.create_conversation(_services(), req.get_body()))
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:
        return _server_error(exc)


def get_conversation(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return _respond(api.get_conversation(_services(), req.route_params.get("conversationId", "")))
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:
        return _server_error(exc)


async def post_message(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    conversation_id = req.route_params.get("conversationId", "")
    try:
        services = await asyncio.to_thread(_services)
        accepted = await asyncio.to_thread(api.accept_message, services, conversation_id, req.get_body())
        await _ensure_started(client, accepted)
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:  # always answer with JSON
        return _server_error(exc)
    record = accepted.record
    response = client.create_check_status_response(req, record.instance_id)
    body = json.loads(response.get_body())
    body.update({"conversationId": conversation_id, "turn": record.seq, "messageId": record.message_id})
    headers = {k: v for k, v in response.headers.items() if k.lower() in ("location", "retry-after")}
    return _respond(api.ApiResponse(202, body, headers))


async def _ensure_started(client: df.DurableOrchestrationClient, accepted: api.AcceptedMessage) -> None:
    """Start the turn unless it already exists: a retried POST (same messageId) finds the same instance, and a
    retry also repairs a crash between recording the message and starting its orchestration."""
    instance_id = accepted.record.instance_id
    status = None if accepted.record.created else await client.get_status(instance_id)
    if status is not None and status.runtime_status:
        return
    try:
        await client.start_new(TURN_ORCHESTRATION, instance_id, accepted.turn_input.to_json())
    except Exception:
        # A concurrent retry of the same message may have started it first; anything else is a real error.
        existing = await client.get_status(instance_id)
        if not existing or not existing.runtime_status:
            raise


async def provider_webhook(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """A provider's signed webhook (Standard Webhooks): a background response ended, so wake its turn now
    instead of at its next durable-timer read. The signature is the authentication (anonymous route)."""
    try:
        services = await asyncio.to_thread(_services)
        outcome = await asyncio.to_thread(api.accept_webhook, services, req.get_body(), dict(req.headers))
        if outcome.action == "unknown" and outcome.run_id is not None:
            # Created by a step that crashed before journaling it, or not ours at all.
            fate = await steps.adopt_orphan(services, outcome.run_id)
            outcome = dataclasses.replace(outcome, action="ignored" if fate == "unknown" else fate)
        if outcome.action == "wake" and outcome.instance_id is not None:
            try:
                await client.raise_event(outcome.instance_id, RUN_ENDED_EVENT,
                                         {"runId": outcome.run_id, "type": outcome.event_type})
            except Exception as exc:  # the turn already ended (or was purged): its timer covered the run
                log.info("webhook for %s: could not wake %s: %s", outcome.run_id, outcome.instance_id, exc)
        return _respond(outcome.response())
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:
        return _server_error(exc)


def list_tools(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return _respond(api.list_tools(get_services()))
    except Exception as exc:  # always answer with JSON
        return _server_error(exc)


def run_tool(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return _respond(api.run_tool_directly(_services(), req.route_params.get("name", ""), req.get_body()))
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:
        return _server_error(exc)


def openapi(req: func.HttpRequest) -> func.HttpResponse:
    try:
        services = get_services()
    except Exception as exc:  # always answer with JSON
        return _server_error(exc)
    doc: dict[str, Any] = api.openapi_document(services.tools.specs(), services.settings.max_message_chars)
    return _respond(api.ApiResponse(200, doc))


# Registered by call so mypy keeps the handlers typed (the decorators are untyped).
app.route(route="conversations", methods=["POST"])(app.function_name("create_conversation")(create_conversation))
app.route(route="conversations/{conversationId}", methods=["GET"])(
    app.function_name("get_conversation")(get_conversation))
app.route(route="conversations/{conversationId}/messages", methods=["POST"])(
    app.durable_client_input(client_name="client")(app.function_name("post_message")(post_message)))
app.route(route="webhooks/openai", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)(
    app.durable_client_input(client_name="client")(app.function_name("provider_webhook")(provider_webhook)))
app.route(route="tools", methods=["GET"])(app.function_name("list_tools")(list_tools))
app.route(route="tools/{name}", methods=["POST"])(app.function_name("run_tool_http")(run_tool))
app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(
    app.function_name("openapi")(openapi))
