"""The OpenAPI 3.1 document served at GET /api/openapi.json (tool argument schemas included)."""

from __future__ import annotations

from typing import Any

from durable_assistant.api._openapi_control import control_paths, control_schemas
from durable_assistant.api._openapi_lifecycle import delete_operation, lifecycle_schemas
from durable_assistant.tools import ToolSpec

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


def openapi_document(tools: list[ToolSpec], max_message_chars: int) -> dict[str, Any]:
    conv_id = {"name": "conversationId", "in": "path", "required": True, "schema": {"type": "string",
                                                                                  "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Durable Assistant", "version": "1.0.0",
                 "description": "AI assistant turns run as Durable Functions orchestrations. Every route except "
                                "this document needs a function key (?code= or x-functions-key)."},
        "servers": [{"url": "/api"}],
        "components": {
            "securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "MessageRequest": {"type": "object", "required": ["content"], "properties": {
                    "content": {"type": "string", "minLength": 1, "maxLength": max_message_chars},
                    "messageId": {"type": "string", "pattern": "^[A-Za-z0-9._:@-]{1,128}$",
                                  "description": "Client-chosen id; retrying a POST with the same id returns the "
                                                 "same orchestration instance and never runs the turn twice."}}},
                "ConversationPage": {"type": "object", "required": ["conversations", "continuationToken"],
                                     "properties": {
                    "conversations": {"type": "array", "items": {"type": "object", "properties": {
                        "conversationId": {"type": "string"}, "createdAt": {"type": "string"},
                        "turnsAccepted": {"type": "integer"}, "turnsFinished": {"type": "integer"},
                        "lastActivityAt": {"type": ["string", "null"],
                                           "description": "last message accepted or turn finished"},
                        "deletingSince": {"type": ["string", "null"],
                                          "description": "set while a deletion is unfinished"}}}},
                    "continuationToken": {"type": ["string", "null"],
                                          "description": "null on the last page"}}},
                **_turn_schemas(),
                **control_schemas(),
                **lifecycle_schemas(),
                **{f"tool_{t.name}": t.parameters for t in tools},
            },
        },
        "security": [{"functionKey": []}],
        "paths": {
            "/conversations": {
                "post": {"summary": "Create a conversation", "responses": {
                    "201": _json({"type": "object", "properties": {"conversationId": {"type": "string"}}},
                                 "Created")}},
                "get": {
                    "summary": "List conversations, newest first, a page at a time",
                    "parameters": [
                        {"name": "top", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                                  "default": 20}},
                        {"name": "continuationToken", "in": "query", "schema": {"type": "string"},
                         "description": "continuationToken of the previous page"}],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/ConversationPage"}, "One page"),
                        "400": _err("Bad top or continuationToken")}}},
            "/conversations/{conversationId}": {"get": {
                "summary": "Conversation transcript (turn records from Blob Storage)", "parameters": [conv_id],
                "responses": {"200": _json({"type": "object"}, "Transcript"),
                              "404": _err("Unknown conversation")}},
                "delete": delete_operation(conv_id)},
            "/conversations/{conversationId}/messages": {"post": {
                "summary": "Send a message: starts (or finds) the turn's orchestration",
                "parameters": [conv_id],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/MessageRequest"}}}},
                "responses": {
                    "202": {"description": "Accepted; poll statusQueryGetUri, the turn's own status route "
                                           "(customStatus.phase shows progress, output.answer holds the reply)",
                            "headers": {"Location": {"schema": {"type": "string"}},
                                        "Retry-After": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckStatus"}}}},
                    "400": _err("Invalid JSON, missing/empty content or bad messageId"),
                    "404": _err("Unknown conversation"),
                    "409": _err("messageId reused for different content (message_id_reused), or the "
                                "conversation is being deleted (conversation_deleting)"),
                    "413": _err(f"content longer than {max_message_chars} characters")}}},
            **_turn_paths(conv_id),
            **control_paths(conv_id),
            "/tools": {"get": {"summary": "List tools with their JSON schemas, queues and azure_function definitions",
                               "responses": {"200": _json({"type": "object"}, "Tools")}}},
            "/tools/{name}": {"post": {
                "summary": "Run one tool directly with JSON arguments",
                "parameters": [{"name": "name", "in": "path", "required": True,
                                "schema": {"enum": [t.name for t in tools]}}],
                "requestBody": {"content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": f"#/components/schemas/tool_{t.name}"} for t in tools]}}}},
                "responses": {"200": _json({"type": "object"}, "Tool output {success, data}"),
                              "400": _err("Arguments do not match the tool's schema (error.schema has it)"),
                              "404": _err("Unknown tool"),
                              "422": _json({"type": "object"}, "The tool reported an error {success: false}")}}},
            "/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI document")}}},
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
        "responses": {
            "200": _json(status, "The turn's instance ended (Completed, Failed, Terminated or Canceled)"),
            "202": {"description": "The turn's instance is Pending, Running, ContinuedAsNew or Suspended; poll "
                                   "Location again",
                    "headers": {"Location": {"schema": {"type": "string"}},
                                "Retry-After": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": status}}},
            "400": _err("turn is not a whole number from 1 to 999999"),
            "404": _err("Unknown conversation, a turn it has not accepted, or an instance that does not exist "
                        "(not started yet, or purged)")}}}}
