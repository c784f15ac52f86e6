"""The OpenAPI 3.1 document served at GET /api/openapi.json (tool argument schemas included)."""

from __future__ import annotations

from typing import Any

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
                "CheckStatus": {"type": "object", "properties": {
                    k: {"type": "string"} for k in ("id", "statusQueryGetUri", "sendEventPostUri",
                                                    "terminatePostUri", "purgeHistoryDeleteUri", "rewindPostUri",
                                                    "restartPostUri", "suspendPostUri", "resumePostUri",
                                                    "conversationId", "messageId")} | {"turn": {"type": "integer"}}},
                **_lifecycle_schemas(),
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
                "delete": _delete_operation(conv_id)},
            "/conversations/{conversationId}/messages": {"post": {
                "summary": "Send a message: starts (or finds) the turn's orchestration",
                "parameters": [conv_id],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/MessageRequest"}}}},
                "responses": {
                    "202": {"description": "Accepted; poll statusQueryGetUri (customStatus.phase shows progress, "
                                           "output.answer holds the reply)",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckStatus"}}}},
                    "400": _err("Invalid JSON, missing/empty content or bad messageId"),
                    "404": _err("Unknown conversation"),
                    "409": _err("messageId reused for different content (message_id_reused), or the "
                                "conversation is being deleted (conversation_deleting)"),
                    "413": _err(f"content longer than {max_message_chars} characters")}}},
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


def _lifecycle_schemas() -> dict[str, Any]:
    count = {"type": "integer", "minimum": 0}
    return {
        "DeletionSummary": {"type": "object", "required": ["conversationId", "deleted", "cancelledTurns", "removed"],
                            "properties": {
            "conversationId": {"type": "string"}, "deleted": {"const": True},
            "cancelledTurns": {"type": "array", "items": {"type": "integer"}},
            "removed": {"type": "object", "properties": {
                **{k: count for k in ("turnRecords", "workBlobs", "chatStateBlobs", "conversationRows",
                                      "runOwnerRows", "toolRecords", "approvalRequests", "instancesPurged")},
                "providerObjects": {"type": "object", "properties": {
                    "deleted": {"type": "array", "items": {"type": "string"}},
                    "missing": {"type": "array", "items": {"type": "string"},
                                "description": "already gone at the provider"},
                    "refused": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "reason": {"type": "string"}}}}}}}}}},
        "TurnsBusyError": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "turns"], "properties": {
                "code": {"enum": ["turn_running", "turn_still_running"]}, "message": {"type": "string"},
                "turns": {"type": "array", "items": {"type": "object", "properties": {
                    "turn": {"type": "integer"}, "instanceId": {"type": "string"},
                    "runtimeStatus": {"type": "string", "description": "NotStarted: accepted, not started yet"}}}},
                "cancelledTurns": {"type": "array", "items": {"type": "integer"}}}}}},
    }


def _delete_operation(conv_id: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": "Delete the conversation and everything of it (turn records, working blobs, table rows, "
                   "orchestration histories, provider objects); idempotent",
        "parameters": [conv_id, {"name": "cancel", "in": "query", "schema": {"type": "boolean", "default": False},
                                 "description": "cancel running turns first (CANCEL_EVENT), waiting up to 30 s"}],
        "responses": {
            "200": _json({"$ref": "#/components/schemas/DeletionSummary"}, "Deleted; what was removed"),
            "204": {"description": "Unknown or already deleted conversation (a retried DELETE succeeds)"},
            "400": _err("Invalid conversation id (invalid_conversation_id) or cancel (invalid_cancel)"),
            "409": _json({"$ref": "#/components/schemas/TurnsBusyError"},
                         "A turn is running (turn_running), or cancelled turns did not end in time "
                         "(turn_still_running: the deletion stays marked, retry)"),
            "503": _err("The provider could not be reached (provider_unavailable, Retry-After): nothing lost, "
                        "retry")}}

