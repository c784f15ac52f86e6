"""GET /api/conversations: the conversations, newest first, a page at a time."""

from __future__ import annotations

import re
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


MAX_TOKEN_CHARS = 512
"""A token this route hands out is about 110 characters; anything much longer is not one of ours."""


def page_size(params: Mapping[str, str]) -> int:
    raw = params.get("top")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    # ASCII digits only: str.isdigit() also accepts '²' and other digits int() refuses.
    if re.fullmatch(r"[0-9]{1,3}", raw) is None or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ApiError(400, "invalid_top", f"'top' must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


def list_conversations(services: Services, params: Mapping[str, str]) -> ApiResponse:
    """``?top=`` (1-100, default 20) and ``?continuationToken=`` from the previous page's body."""
    top = page_size(params)
    token = params.get("continuationToken") or None
    if token is not None and len(token) > MAX_TOKEN_CHARS:
        raise ApiError(400, "invalid_continuation_token",
                       f"'continuationToken' is longer than {MAX_TOKEN_CHARS} characters: not a token of this route",
                       limit=MAX_TOKEN_CHARS)
    try:
        page = services.conversations.list_page(top, token)
    except InvalidContinuationTokenError:
        raise ApiError(400, "invalid_continuation_token",
                       "'continuationToken' must be a token returned by this route") from None
    return ApiResponse(200, {"conversations": [conversation_summary(c) for c in page.conversations],
                             "continuationToken": page.continuation_token})
