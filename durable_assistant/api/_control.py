"""A person's control over a running turn: cancel it, and approve or deny the tool calls that wait for them.

The routes in function_app.py do the Durable part (status, raising the event); everything they decide on is
here. Who acted comes from App Service Authentication's ``X-MS-CLIENT-PRINCIPAL-NAME`` header, which the
platform sets and strips from client requests when authentication is on; without it, the caller's own ``by``
label is recorded as given (a label, not an identity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonschema

from durable_assistant.api._http import ApiError, ApiResponse, body_limit, parse_json_object
from durable_assistant.contracts import CancelRequest, approval_event
from durable_assistant.services import Services
from durable_assistant.store import (
    ApprovalClosedError,
    ApprovalNotFoundError,
    ApprovalRecord,
    Decision,
    UnknownConversationError,
    parse_approval_id,
    valid_conversation_id,
)

PRINCIPAL_HEADER = "x-ms-client-principal-name"
MAX_REASON_CHARS = 1000
MAX_BY_CHARS = 128

CANCEL_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "reason": {"type": "string", "maxLength": MAX_REASON_CHARS, "description": "Recorded with the turn"},
        "by": {"type": "string", "minLength": 1, "maxLength": MAX_BY_CHARS,
               "description": "Who cancels, when App Service Authentication does not say"}}}
DECISION_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["decision"],
    "properties": {
        "decision": {"enum": ["approve", "deny"]},
        "reason": {"type": "string", "maxLength": MAX_REASON_CHARS,
                   "description": "Recorded in the transcript; a denial's reason is shown to the model"},
        "by": {"type": "string", "minLength": 1, "maxLength": MAX_BY_CHARS,
               "description": "Who decides, when App Service Authentication does not say"}}}


@dataclass(frozen=True)
class EventToRaise:
    instance_id: str
    name: str
    payload: dict[str, Any]


def cancel_request(services: Services, body: bytes, headers: Mapping[str, str]) -> CancelRequest:
    data = _validated(services, body, CANCEL_REQUEST_SCHEMA, allow_empty=True)
    return CancelRequest(by=_actor(headers, data), reason=data.get("reason"),
                         requested_at=datetime.now(UTC).isoformat())


def list_approvals(services: Services, conversation_id: str, params: Mapping[str, str]) -> ApiResponse:
    """``?status=pending`` (default: the calls that can still be decided) or ``?status=all``."""
    _conversation(services, conversation_id)
    which = params.get("status") or "pending"
    if which not in ("pending", "all"):
        raise ApiError(400, "invalid_status", "'status' must be pending or all")
    records = services.approvals.pending(conversation_id) if which == "pending" \
        else services.approvals.all(conversation_id)
    return ApiResponse(200, {"conversationId": conversation_id,
                             "approvals": [_approval_body(r) for r in records]})


def decide_approval(services: Services, conversation_id: str, approval_id: str, body: bytes,
                    headers: Mapping[str, str]) -> tuple[ApiResponse, EventToRaise]:
    """Record a decision (the first one wins; the same decision again is a harmless retry) and say which event
    wakes the turn. 403 for a caller who is not an approver, 409 once the request is closed."""
    _conversation(services, conversation_id)
    parsed = parse_approval_id(approval_id)
    if parsed is None:
        raise ApiError(404, "unknown_approval", f"{approval_id[:40]!r} is not an approval id (turn.call, e.g. 3.1)")
    data = _validated(services, body, DECISION_SCHEMA)
    turn, number = parsed
    try:
        record = services.approvals.get(conversation_id, turn, number)
    except ApprovalNotFoundError:
        raise ApiError(404, "unknown_approval", f"no approval {approval_id!r} in this conversation") from None
    principal = headers.get(PRINCIPAL_HEADER)
    if record.approvers and principal not in record.approvers:
        raise ApiError(403, "not_an_approver", "only these principals may decide this call: "
                       + ", ".join(record.approvers), approvers=list(record.approvers))
    decision: Decision = data["decision"]
    try:
        record, _ = services.approvals.decide(conversation_id, turn, number, decision, _actor(headers, data) or
                                              "anonymous", data.get("reason"))
    except ApprovalClosedError as exc:
        raise ApiError(409, "approval_closed", f"approval {approval_id} is already {exc.record.status}",
                       approval=_approval_body(exc.record)) from None
    event = EventToRaise(record.instance_id, approval_event(number), {"decision": decision})
    return ApiResponse(200, _approval_body(record)), event


def _approval_body(record: ApprovalRecord) -> dict[str, Any]:
    body = record.to_api()
    body["decideUrl"] = f"/api/conversations/{record.conversation_id}/approvals/{record.approval_id}"
    return body


def _actor(headers: Mapping[str, str], data: Mapping[str, Any]) -> str | None:
    principal = headers.get(PRINCIPAL_HEADER)
    return principal[:MAX_BY_CHARS] if principal else data.get("by")


def _conversation(services: Services, conversation_id: str) -> Any:
    if not valid_conversation_id(conversation_id):
        raise ApiError(404, "unknown_conversation", "conversation ids are 1-64 letters, digits, - or _")
    try:
        return services.conversations.get(conversation_id)
    except UnknownConversationError:
        raise ApiError(404, "unknown_conversation", f"conversation {conversation_id!r} does not exist") from None


def _validated(services: Services, body: bytes, schema: dict[str, Any], *,
               allow_empty: bool = False) -> dict[str, Any]:
    data = parse_json_object(body, max_bytes=body_limit(services.settings), allow_empty=allow_empty)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "body"
        raise ApiError(400, "invalid_request", f"{where}: {error.message[:300]}")
    return data
