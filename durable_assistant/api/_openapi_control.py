"""The OpenAPI description of the control routes: cancel a turn, list and decide approvals."""

from __future__ import annotations

from typing import Any

from durable_assistant.api._control import CANCEL_REQUEST_SCHEMA, DECISION_SCHEMA
from durable_assistant.api._openapi_parts import error_response as _err
from durable_assistant.api._openapi_parts import json_response as _json
from durable_assistant.api._openapi_parts import keyed, limits


def control_schemas() -> dict[str, Any]:
    text_or_null = {"type": ["string", "null"]}
    return {
        "CancelRequest": CANCEL_REQUEST_SCHEMA,
        "Decision": DECISION_SCHEMA,
        "Approval": {"type": "object", "required": ["approvalId", "tool", "arguments", "status", "expiresAt"],
                     "properties": {
            "approvalId": {"type": "string", "pattern": r"^\d{1,6}\.\d{1,4}$", "description": "turn.call"},
            "conversationId": {"type": "string"}, "turn": {"type": "integer"}, "callId": {"type": "string"},
            "tool": {"type": "string"}, "arguments": {"type": "string", "description": "the model's JSON arguments"},
            "status": {"enum": ["pending", "approved", "denied", "expired", "cancelled"]},
            "requestedAt": {"type": "string"}, "expiresAt": {"type": "string"},
            "approvers": {"type": ["array", "null"], "items": {"type": "string"}},
            "decidedBy": text_or_null, "reason": text_or_null, "decidedAt": text_or_null,
            "decideUrl": {"type": "string"}}},
        "ApprovalList": {"type": "object", "required": ["approvals"], "properties": {
            "conversationId": {"type": "string"},
            "approvals": {"type": "array", "items": {"$ref": "#/components/schemas/Approval"}}}},
        "Cancelling": {"type": "object", "required": ["status"], "properties": {
            "conversationId": {"type": "string"}, "turn": {"type": "integer"}, "instanceId": {"type": "string"},
            "status": {"const": "cancelling"}, "statusQueryGetUri": {"type": "string"}}},
    }


def control_paths(conv_id: dict[str, Any], body_bytes: int) -> dict[str, Any]:
    turn = {"name": "turn", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 999999}}
    approval_id = {"name": "approvalId", "in": "path", "required": True,
                   "schema": {"type": "string", "pattern": r"^\d{1,6}\.\d{1,4}$"}}
    principal = {"name": "X-MS-CLIENT-PRINCIPAL-NAME", "in": "header", "required": False,
                 "schema": {"type": "string", "maxLength": 256},
                 "description": "Set by App Service Authentication: who acts (recorded; checked against approvers)"}
    return {
        "/conversations/{conversationId}/turns/{turn}/cancel": {"post": {
            "summary": "Cancel a running or queued turn: its run is cancelled at the provider, the turn is recorded "
                       "as cancelled and the conversation released",
            "parameters": [conv_id, turn, principal],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CancelRequest"}}}},
            "responses": keyed(limits(body_bytes) | {
                "202": _json({"$ref": "#/components/schemas/Cancelling"}, "The turn was asked to stop"),
                "400": _err("`invalid_json`, `json_too_deep`, `invalid_request` (body) or `invalid_turn`"),
                "404": _err("`unknown_conversation` or `unknown_turn`"),
                "409": _err("The turn already ended (`turn_finished`) or has not started (`turn_not_started`)")})}},
        "/conversations/{conversationId}/approvals": {"get": {
            "summary": "Tool calls of the conversation that wait for a person (or all requests, with status=all)",
            "parameters": [conv_id, {"name": "status", "in": "query", "required": False,
                                     "schema": {"enum": ["pending", "all"], "default": "pending"}}],
            "responses": keyed({
                "200": _json({"$ref": "#/components/schemas/ApprovalList"}, "Approval requests, oldest first"),
                "400": _err("`invalid_status`"),
                "404": _err("`unknown_conversation`")})}},
        "/conversations/{conversationId}/approvals/{approvalId}": {"post": {
            "summary": "Approve or deny one waiting tool call (the first decision wins; repeating it is harmless)",
            "parameters": [conv_id, approval_id, principal],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Decision"}}}},
            "responses": keyed(limits(body_bytes) | {
                "200": _json({"$ref": "#/components/schemas/Approval"}, "The decision is recorded; the turn goes on"),
                "400": _err("`invalid_json`, `json_too_deep` or `invalid_request` (body)"),
                "403": _err("`not_an_approver`: the caller is not one of the call's approvers"),
                "404": _err("`unknown_conversation` or `unknown_approval`"),
                "409": _err("`approval_closed`: decided otherwise, expired, or its turn ended")})}},
    }
