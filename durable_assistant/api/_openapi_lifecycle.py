"""OpenAPI parts of the conversation lifecycle: DELETE /conversations/{conversationId} and its schemas."""

from __future__ import annotations

from typing import Any

from durable_assistant.api._openapi_parts import error_response as _err
from durable_assistant.api._openapi_parts import json_response as _json
from durable_assistant.api._openapi_parts import keyed


def lifecycle_schemas() -> dict[str, Any]:
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


def delete_operation(conv_id: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": "Delete the conversation and everything of it (turn records, working blobs, table rows, "
                   "orchestration histories, provider objects); idempotent",
        "parameters": [conv_id, {"name": "cancel", "in": "query", "schema": {"type": "boolean", "default": False},
                                 "description": "cancel running turns first (CANCEL_EVENT), waiting up to 30 s"}],
        "responses": keyed({
            "200": _json({"$ref": "#/components/schemas/DeletionSummary"}, "Deleted; what was removed"),
            "204": {"description": "Unknown or already deleted conversation (a retried DELETE succeeds)"},
            "400": _err("Invalid conversation id (invalid_conversation_id) or cancel (invalid_cancel)"),
            "409": _json({"$ref": "#/components/schemas/TurnsBusyError"},
                         "A turn is running (turn_running), or cancelled turns did not end in time "
                         "(turn_still_running: the deletion stays marked, retry)"),
            "503": _err("The provider could not be reached (provider_unavailable, Retry-After): nothing lost, "
                        "retry")})}

