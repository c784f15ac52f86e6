"""DELETE /api/conversations/{conversationId}[?cancel=true]: validation and the answer's shape (the work is in
durable_assistant.lifecycle)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from durable_assistant import lifecycle
from durable_assistant.api._http import ApiError, ApiResponse
from durable_assistant.providers import TransientProviderError
from durable_assistant.services import Services
from durable_assistant.store import valid_conversation_id


def parse_cancel(params: Mapping[str, str]) -> bool:
    raw = params.get("cancel")
    if raw is None or raw == "" or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise ApiError(400, "invalid_cancel", "'cancel' must be true or false")


async def delete_conversation(services: Services, instances: lifecycle.TurnInstances, conversation_id: str,
                              params: Mapping[str, str]) -> ApiResponse:
    """200 with what was removed; 204 for an unknown (or already deleted) conversation, so a retried DELETE
    succeeds; 409 turn_running / turn_still_running; 503 provider_unavailable (nothing lost: retry)."""
    if not valid_conversation_id(conversation_id):
        raise ApiError(400, "invalid_conversation_id",
                       "a conversation id is 1-64 characters of letters, digits, '_' and '-'")
    cancel = parse_cancel(params)
    try:
        result = await lifecycle.delete_conversation(services, instances, conversation_id, cancel=cancel)
    except TransientProviderError as exc:
        retry = max(1, math.ceil(exc.retry_after or 5))
        return ApiResponse(503, {"error": {"code": "provider_unavailable", "retryAfter": retry, "message":
                                           f"the provider could not delete what this conversation created: {exc}; "
                                           "nothing was lost, the conversation stays marked for deletion: retry"}},
                           {"Retry-After": str(retry)})
    return deletion_response(result)


def deletion_response(result: lifecycle.DeletionResult) -> ApiResponse:
    cid = result.conversation_id
    turns = [{"turn": b.turn, "instanceId": b.instance_id, "runtimeStatus": b.runtime_status or "NotStarted"}
             for b in result.busy]
    if result.status == "turn_running":
        raise ApiError(409, "turn_running", f"conversation {cid!r} has a turn running; wait for it, or delete with "
                                            "?cancel=true to cancel it first", turns=turns)
    if result.status == "turn_still_running":
        raise ApiError(409, "turn_still_running",
                       f"the turns of conversation {cid!r} were asked to cancel but did not end within "
                       f"{lifecycle.CANCEL_WAIT_SECONDS:g} s; it stays marked for deletion: retry the DELETE",
                       turns=turns, cancelledTurns=list(result.cancelled))
    if result.status != "deleted" or result.removed is None:
        return ApiResponse(204, None)
    return ApiResponse(200, {"conversationId": cid, "deleted": True, "cancelledTurns": list(result.cancelled),
                             "removed": removed_summary(result.removed)})


def removed_summary(removed: lifecycle.Removed) -> dict[str, Any]:
    provider = removed.provider
    return {"turnRecords": removed.turn_records, "workBlobs": removed.work_blobs,
            "chatStateBlobs": removed.chat_state_blobs, "conversationRows": removed.conversation_rows,
            "runOwnerRows": removed.run_owner_rows, "toolRecords": removed.tool_records,
            "approvalRequests": removed.approvals,
            "instancesPurged": removed.instances_purged,
            "providerObjects": {"deleted": list(provider.deleted), "missing": list(provider.missing),
                                "refused": [{"id": i, "reason": r} for i, r in provider.refused]}}
