"""Composition root of the Durable Assistant function app (Python v2 programming model).

Registers the turn orchestration and its activities (blueprints) and the HTTP API under /api. Route
functions are thin: validation and bodies live in durable_assistant.api, turn logic in the orchestration.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities.turn_activities import bp as activities_bp
from durable_assistant import api, lifecycle, steps
from durable_assistant.config import ConfigError, retention_schedule
from durable_assistant.contracts import CANCEL_EVENT, RUN_ENDED_EVENT, TURN_ORCHESTRATION
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
    if result.status == 204:
        return func.HttpResponse(status_code=204, headers=result.headers)
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
    turn = api.TurnRef(conversation_id, record.seq, record.instance_id)
    # The Durable management URLs carry the extension's system key: only for a trusted front end or operator.
    management = client.get_client_response_links(req, record.instance_id) \
        if services.settings.expose_durable_urls else None
    return _respond(api.accepted_response(turn, record.message_id, _turn_links(req, turn), management))


def _turn_links(req: func.HttpRequest, turn: api.TurnRef) -> api.TurnLinks:
    # Echo a key only when the caller sent it as ?code= itself (a header key stays out of URLs).
    return api.TurnLinks.for_request(req.url, turn.conversation_id, turn.turn, req.params.get("code"))


async def get_turn_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """One turn's Durable status, scoped to its own instance (no management URL, no system key)."""
    try:
        conversation_id, raw_turn = req.route_params.get("conversationId", ""), req.route_params.get("turn", "")
        turn = api.turn_ref(conversation_id, raw_turn)
        status = api.TurnStatus.from_sdk(await client.get_status(turn.instance_id))
        if status is None:  # say why: unknown conversation, a turn it never accepted, or not started / purged
            services = await asyncio.to_thread(_services)
            turn = await asyncio.to_thread(api.find_turn, services, conversation_id, raw_turn)
        return _respond(api.turn_status_response(turn, status, _turn_links(req, turn)))
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:
        return _server_error(exc)


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
        outcome = await api.accept_webhook(services, req.get_body(), dict(req.headers))
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


# Runtime statuses in which a turn can no longer act on an event.
_ENDED = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


async def cancel_turn(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Ask a running turn to stop: it cancels its run at the provider, records itself as cancelled and releases
    the conversation. Asking twice is harmless."""
    try:
        services = await asyncio.to_thread(_services)
        request = api.cancel_request(services, req.get_body(), req.headers)
        target = await asyncio.to_thread(api.find_turn, services, req.route_params.get("conversationId", ""),
                                         req.route_params.get("turn", ""))
        status = await client.get_status(target.instance_id)
        runtime = status.runtime_status.value if status is not None and status.runtime_status else None
        if runtime is None:
            raise api.ApiError(409, "turn_not_started", f"turn {target.turn} has not started; send its message "
                               "again (same messageId) to start it, then cancel it")
        if runtime in _ENDED:
            output = status.output if status is not None and isinstance(status.output, dict) else {}
            raise api.ApiError(409, "turn_finished", f"turn {target.turn} already ended ({runtime})",
                               runtimeStatus=runtime, turnStatus=output.get("status"))
        await client.raise_event(target.instance_id, CANCEL_EVENT, request.to_json())
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:
        return _server_error(exc)
    return _respond(api.ApiResponse(202, {
        "conversationId": target.conversation_id, "turn": target.turn, "instanceId": target.instance_id,
        "status": "cancelling", "statusQueryGetUri": _turn_links(req, target).status}))


def list_approvals(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return _respond(api.list_approvals(_services(), req.route_params.get("conversationId", ""), req.params))
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:
        return _server_error(exc)


async def decide_approval(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Approve or deny one waiting tool call; the decision is stored first, then the turn is woken."""
    try:
        services = await asyncio.to_thread(_services)
        result, event = await asyncio.to_thread(
            api.decide_approval, services, req.route_params.get("conversationId", ""),
            req.route_params.get("approvalId", ""), req.get_body(), req.headers)
        try:
            await client.raise_event(event.instance_id, event.name, event.payload)
        except Exception as exc:  # the turn ended meanwhile; its settle step reads the stored decision anyway
            log.info("approval decided but %s could not be woken: %s", event.instance_id, exc)
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:
        return _server_error(exc)
    return _respond(result)


# -- conversation lifecycle: DELETE and the retention sweep (logic in durable_assistant.lifecycle) ---------------
async def delete_conversation(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    try:
        services = await asyncio.to_thread(_services)
        return _respond(await api.delete_conversation(services, lifecycle.DurableTurnInstances(client),
                                                      req.route_params.get("conversationId", ""), req.params))
    except api.ApiError as exc:
        return _respond(exc.response())
    except Exception as exc:
        return _server_error(exc)


async def retention_sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    services = await asyncio.to_thread(_services)
    await lifecycle.sweep(services, lifecycle.DurableTurnInstances(client), datetime.now(UTC))


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
app.route(route="conversations/{conversationId}/turns/{turn}", methods=["GET"])(
    app.durable_client_input(client_name="client")(app.function_name("get_turn_status")(get_turn_status)))
app.route(route="webhooks/openai", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)(
    app.durable_client_input(client_name="client")(app.function_name("provider_webhook")(provider_webhook)))
app.route(route="conversations/{conversationId}/turns/{turn}/cancel", methods=["POST"])(
    app.durable_client_input(client_name="client")(app.function_name("cancel_turn")(cancel_turn)))
app.route(route="conversations/{conversationId}/approvals", methods=["GET"])(
    app.function_name("list_approvals")(list_approvals))
app.route(route="conversations/{conversationId}/approvals/{approvalId}", methods=["POST"])(
    app.durable_client_input(client_name="client")(app.function_name("decide_approval")(decide_approval)))
app.route(route="tools", methods=["GET"])(app.function_name("list_tools")(list_tools))
app.route(route="tools/{name}", methods=["POST"])(app.function_name("run_tool_http")(run_tool))
app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(
    app.function_name("openapi")(openapi))
app.route(route="conversations/{conversationId}", methods=["DELETE"])(
    app.durable_client_input(client_name="client")(app.function_name("delete_conversation")(delete_conversation)))
# The app-setting expression when ASSISTANT_RETENTION_SCHEDULE is set (the host resolves it); the daily default
# otherwise, since an expression naming a missing setting keeps the host from loading the function.
app.timer_trigger(arg_name="timer", schedule="%ASSISTANT_RETENTION_SCHEDULE%" if os.environ.get(
    "ASSISTANT_RETENTION_SCHEDULE") else retention_schedule())(
    app.durable_client_input(client_name="client")(app.function_name("retention_sweep")(retention_sweep)))
