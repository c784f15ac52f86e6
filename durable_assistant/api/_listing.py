"""GET /api/conversations: the conversations, newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Mapping

from durable_assistant.api._http import ApiError, ApiResponse
from durable_assistant.services import Services
from durable_assistant.store import Conversation, InvalidContinuationTokenError

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def conversation_summary(conv: Conversation) -> dict[str, object]:
    return {"conversationId": conv.conversation_id, "createdAt": conv.created_at,
            "turnsAccepted": conv.next_seq - 1, "turnsFinished": conv.completed_seq,
            "lastActivityAt": conv.last_activity_at, "deletingSince": conv.deleting_since}


def page_size(params: Mapping[str, str]) -> int:
    raw = params.get("top")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ApiError(400, "invalid_top", f"'top' must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def list_conversations(services: Services, params: Mapping[str, str]) -> ApiResponse:
    """``?top=`` (1-100, default 20) and ``?continuationToken=`` from the previous page's body."""
    top = page_size(params)
    try:
        page = services.conversations.list_page(top, params.get("continuationToken") or None)
    except InvalidContinuationTokenError:
        raise ApiError(400, "invalid_continuation_token",
                       "'continuationToken' must be a token returned by this route") from None
    return ApiResponse(200, {"conversations": [conversation_summary(c) for c in page.conversations],
                             "continuationToken": page.continuation_token})
