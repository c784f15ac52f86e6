"""The OpenAPI 3.1 document served at GET /api/openapi.json (tool argument schemas included).

It is precise enough to generate requests from (tests/app/test_fuzz.py runs schemathesis on it): every parameter
and body has its bounds, every route lists the statuses it answers, and each tool has its own path with its own
argument schema.
"""

from __future__ import annotations

from typing import Any

from durable_assistant import json_limits
from durable_assistant.api._http import body_limit_for
from durable_assistant.api._listing import MAX_PAGE_SIZE, MAX_TOKEN_CHARS
from durable_assistant.api._openapi_control import control_paths, control_schemas
from durable_assistant.api._openapi_lifecycle import delete_operation, lifecycle_schemas
from durable_assistant.api._openapi_parts import error_response as _err
from durable_assistant.api._openapi_parts import json_response as _json
from durable_assistant.api._openapi_parts import keyed as _keyed
from durable_assistant.api._openapi_parts import limits as _limits
from durable_assistant.api._webhooks import WEBHOOK_MAX_BYTES
from durable_assistant.tools import ToolSpec

_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


def _tool_paths(tools: list[ToolSpec], body_bytes: int) -> dict[str, Any]:
    ran = {"type": "object", "required": ["success", "data"], "properties": {
        "success": {"const": True}, "data": {},
        "truncated": {"const": True, "description": "present when the output was cut to the output cap"},
        "truncatedFields": {"type": "array", "items": {"$ref": "#/components/schemas/TruncatedField"}}}}
    refused = {"type": "object", "required": ["success", "error"], "properties": {
        "success": {"const": False}, "error": {"type": "string"}}}
    responses = _keyed(_limits(body_bytes) | {
        "200": _json(ran, "Tool output {success: true, data}"),
        "400": _err("`invalid_arguments` (error.schema holds the tool's schema), `invalid_json` or "
                    "`json_too_deep`"),
        "422": _json(refused, "The tool reported a problem (unknown customer, lamp, place ...): "
                              "{success: false, error}")})
    paths: dict[str, Any] = {
        f"/tools/{t.name}": {"post": {
            "operationId": f"run_tool_{t.name}",
            "summary": f"Run {t.name} directly: {t.description}",
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/tool_{t.name}"}}}},
            "responses": responses}}
        for t in tools}
    paths["/tools/{name}"] = {"post": {
        "operationId": "run_tool",
        "summary": "Run a tool by name; a name that is not one of the tools above is 404 `unknown_tool`",
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": _ID_PATTERN}}],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": responses | {"404": _err("`unknown_tool` (error.tools lists the tools)")}}}
    return paths


def openapi_document(tools: list[ToolSpec], max_message_chars: int) -> dict[str, Any]:
    body_bytes = body_limit_for(max_message_chars)
    conv_id = {"name": "conversationId", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": _ID_PATTERN}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Durable Assistant", "version": "1.0.0",
                 "description": "AI assistant turns run as Durable Functions orchestrations. Every route except "
                                "this document and the provider webhook needs a function key (?code= or "
                                "x-functions-key). Errors are {\"error\": {\"code\", \"message\", ...}}. JSON "
                                f"bodies are limited to {body_bytes} bytes and {json_limits.MAX_DEPTH} levels "
                                "of nesting."},
        "servers": [{"url": "/api"}],
        "components": {
            "securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "limit": {"type": "integer", "description": "the limit that was broken"}}}}},
                "MessageRequest": {"type": "object", "required": ["content"], "properties": {
                    "content": {"type": "string", "minLength": 1, "maxLength": max_message_chars,
                                "description": "Not blank; no C0 control characters other than tab, newline and "
                                               "carriage return, no U+FFFE/U+FFFF, no lone surrogates."},
                    "messageId": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9._:@-]{1,128}$",
                                  "description": "Client-chosen id (null or absent: one is generated); retrying a "
                                                 "POST with the same id returns the same orchestration instance "
                                                 "and never runs the turn twice."}}},
                "Conversation": {"type": "object",
                                 "required": ["conversationId", "createdAt", "turnsAccepted", "turnsFinished"],
                                 "properties": {
                    "conversationId": {"type": "string"}, "createdAt": {"type": "string"},
                    "turnsAccepted": {"type": "integer"}, "turnsFinished": {"type": "integer"},
                    "lastActivityAt": {"type": ["string", "null"],
                                       "description": "last message accepted or turn finished"},
                    "deletingSince": {"type": ["string", "null"],
                                      "description": "set while a deletion is unfinished"}}},
                "ConversationPage": {"type": "object", "required": ["conversations", "continuationToken"],
                                     "properties": {
                    "conversations": {"type": "array", "items": {"$ref": "#/components/schemas/Conversation"}},
                    "continuationToken": {"type": ["string", "null"],
                                          "description": "null on the last page"}}},
                "Transcript": {"allOf": [{"$ref": "#/components/schemas/Conversation"}, {
                    "type": "object", "required": ["turns"], "properties": {"turns": {
                        "type": "array", "items": {"type": "object", "required": ["turn", "status"]}}}}]},
                "TruncatedField": {"type": "object", "required": ["path", "originalLength", "keptLength"],
                                   "properties": {
                    "path": {"type": "string", "description": "JSON Pointer of the string or list that was cut"},
                    "originalLength": {"type": "integer", "description": "characters (string) or items (list)"},
                    "keptLength": {"type": "integer"}}},
                "WebhookEvent": {"type": "object", "required": ["id", "type", "data"], "properties": {
                    "id": {"type": "string"}, "object": {"const": "event"}, "type": {"type": "string"},
                    "created_at": {"type": "integer"},
                    "data": {"type": "object", "properties": {"id": {"type": "string"}}}}},
                **_turn_schemas(),
                **control_schemas(),
                **lifecycle_schemas(),
                **{f"tool_{t.name}": t.parameters for t in tools},
            },
        },
        "security": [{"functionKey": []}],
        "paths": {
            "/conversations": {
                "post": {
                    "operationId": "create_conversation",
                    "summary": "Create a conversation",
                    "requestBody": {"required": False, "description": "Optional; a JSON object when given",
                                    "content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": _keyed(_limits(body_bytes) | {
                        "201": _json({"type": "object", "required": ["conversationId", "createdAt", "messagesUrl"],
                                      "properties": {"conversationId": {"type": "string"},
                                                     "createdAt": {"type": "string"},
                                                     "messagesUrl": {"type": "string"}}}, "Created")})},
                "get": {
                    "operationId": "list_conversations",
                    "summary": "List conversations, newest first, a page at a time",
                    "parameters": [
                        {"name": "top", "in": "query", "description": "page size; empty means the default",
                         "schema": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                                              {"const": ""}], "default": 20}},
                        {"name": "continuationToken", "in": "query",
                         "schema": {"type": "string", "maxLength": MAX_TOKEN_CHARS},
                         "description": "continuationToken of the previous page"}],
                    "responses": _keyed({
                        "200": _json({"$ref": "#/components/schemas/ConversationPage"}, "One page"),
                        "400": _err("`invalid_top` or `invalid_continuation_token`")})}},
            "/conversations/{conversationId}": {"get": {
                "operationId": "get_conversation",
                "summary": "Conversation transcript (turn records from Blob Storage)", "parameters": [conv_id],
                "responses": _keyed({"200": _json({"$ref": "#/components/schemas/Transcript"}, "Transcript"),
                                     "404": _err("`unknown_conversation` (also for an id that cannot exist)")})},
                "delete": delete_operation(conv_id)},
            "/conversations/{conversationId}/messages": {"post": {
                "operationId": "post_message",
                "summary": "Send a message: starts (or finds) the turn's orchestration",
                "parameters": [conv_id],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/MessageRequest"}}}},
                "responses": _keyed(_limits(body_bytes) | {
                    "202": {"description": "Accepted; poll statusQueryGetUri, the turn's own status route "
                                           "(customStatus.phase shows progress, output.answer holds the reply)",
                            "headers": {"Location": {"schema": {"type": "string"}},
                                        "Retry-After": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckStatus"}}}},
                    "400": _err("`invalid_json`, `json_too_deep`, `missing_content`, `invalid_content`, "
                                "`empty_content` or `invalid_message_id`"),
                    "404": _err("`unknown_conversation`"),
                    "409": _err("`message_id_reused`: the messageId was used for different content, or "
                                "`conversation_deleting`: its deletion has begun"),
                    "413": _err(f"`content_too_long` (over {max_message_chars} characters) or `body_too_large` "
                                f"(over {body_bytes} bytes); error.limit")})}},
            **_turn_paths(conv_id),
            **control_paths(conv_id, body_bytes),
            "/tools": {"get": {
                "operationId": "list_tools",
                "summary": "List tools with their JSON schemas, queues and azure_function definitions",
                "responses": _keyed({"200": _json({"type": "object", "required": ["tools"], "properties": {
                    "tools": {"type": "array", "items": {"type": "object", "required": ["name", "parameters"]}}}},
                    "Tools")})}},
            **_tool_paths(tools, body_bytes),
            "/webhooks/openai": {"post": {
                "operationId": "provider_webhook",
                "summary": "A provider's signed webhook (Standard Webhooks): a background response ended",
                "security": [],
                "parameters": [{"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                               for name in ("webhook-id", "webhook-timestamp", "webhook-signature")],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/WebhookEvent"}}}},
                "responses": {
                    "200": _json({"type": "object", "required": ["status", "type"], "properties": {
                        "status": {"type": "string"}, "type": {"type": "string"},
                        "runId": {"type": ["string", "null"]}}}, "Verified: whether the turn was woken"),
                    "400": _err("`invalid_signature` (forged, unsigned or older than 5 minutes) or "
                                "`json_too_deep`"),
                    "404": _err("`webhooks_disabled`: no ASSISTANT_WEBHOOK_SECRET"),
                    "413": _err(f"`body_too_large`: over {WEBHOOK_MAX_BYTES} bytes (error.limit)"),
                    "500": _err("Server fault (`internal`, `configuration`)")}}},
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": [],
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI document"),
                                                    "500": _err("`configuration`: bad app settings")}}},
        },
    }


def _turn_schemas() -> dict[str, Any]:
    url = {"type": "string", "format": "uri"}
    management = ("id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri",
                  "rewindPostUri", "restartPostUri", "suspendPostUri", "resumePostUri")
    return {
        "CheckStatus": {
            "type": "object",
            "required": ["id", "statusQueryGetUri", "cancelPostUri", "conversationId", "turn", "messageId"],
            "properties": {
                "id": {"type": "string", "description": "The turn's orchestration instance id"},
                "statusQueryGetUri": url | {"description": "GET /conversations/{id}/turns/{turn}: this turn only; "
                                                          "carries ?code= only if the request did"},
                "cancelPostUri": url | {"description": "POST /conversations/{id}/turns/{turn}/cancel"},
                "conversationId": {"type": "string"}, "turn": {"type": "integer"}, "messageId": {"type": "string"},
                "durableManagement": {
                    "type": "object", "properties": {k: {"type": "string"} for k in management},
                    "description": "Only with ASSISTANT_EXPOSE_DURABLE_URLS=true: the Durable Functions "
                                   "management URLs, carrying the extension's system key (control over every "
                                   "instance of the task hub). For a trusted front end or operator."}}},
        "TurnStatus": {
            "type": "object",
            "required": ["name", "instanceId", "runtimeStatus", "customStatus", "output", "createdTime",
                         "lastUpdatedTime"],
            "description": "The Durable Functions status query's shape (without input) for the turn's instance",
            "properties": {
                "name": {"type": "string"}, "instanceId": {"type": "string"},
                "runtimeStatus": {"enum": ["Pending", "Running", "ContinuedAsNew", "Suspended", "Completed",
                                           "Failed", "Terminated", "Canceled"]},
                "customStatus": {"description": "The turn's phase while it runs"},
                "output": {"description": "The turn's result once Completed (output.answer)"},
                "createdTime": {"type": "string", "description": "yyyy-MM-ddTHH:mm:ssZ"},
                "lastUpdatedTime": {"type": "string", "description": "yyyy-MM-ddTHH:mm:ssZ"}}},
    }


def _turn_paths(conv_id: dict[str, Any]) -> dict[str, Any]:
    turn = {"name": "turn", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1,
                                                                       "maximum": 999999}}
    status = {"$ref": "#/components/schemas/TurnStatus"}
    return {"/conversations/{conversationId}/turns/{turn}": {"get": {
        "summary": "One turn's status (the Durable status query's codes: 202 while it runs, 200 once it ended)",
        "parameters": [conv_id, turn],
        "responses": _keyed({
            "200": _json(status, "The turn's instance ended (Completed, Failed, Terminated or Canceled)"),
            "202": {"description": "The turn's instance is Pending, Running, ContinuedAsNew or Suspended; poll "
                                   "Location again",
                    "headers": {"Location": {"schema": {"type": "string"}},
                                "Retry-After": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": status}}},
            "400": _err("turn is not a whole number from 1 to 999999"),
            "404": _err("Unknown conversation, a turn it has not accepted, or an instance that does not exist "
                        "(not started yet, or purged)")})}}}
