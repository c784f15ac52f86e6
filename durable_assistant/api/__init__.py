"""HTTP API logic (validation, bodies, OpenAPI) free of Functions types."""

from durable_assistant.api._control import (
    EventToRaise,
    cancel_request,
    decide_approval,
    list_approvals,
)
from durable_assistant.api._http import (
    AcceptedMessage,
    ApiError,
    ApiResponse,
    accept_message,
    approval_policy,
    body_limit,
    create_conversation,
    get_conversation,
    list_tools,
    parse_json_object,
    run_tool_directly,
)
from durable_assistant.api._lifecycle import delete_conversation, deletion_response
from durable_assistant.api._listing import conversation_summary, list_conversations, page_size
from durable_assistant.api._openapi import openapi_document
from durable_assistant.api._turn_status import (
    TurnLinks,
    TurnRef,
    TurnStatus,
    accepted_response,
    find_turn,
    turn_ref,
    turn_status_response,
)
from durable_assistant.api._webhooks import WebhookOutcome, accept_webhook

__all__ = [
    "EventToRaise",
    "cancel_request",
    "decide_approval",
    "list_approvals",
    "AcceptedMessage",
    "ApiError",
    "ApiResponse",
    "TurnLinks",
    "TurnRef",
    "TurnStatus",
    "WebhookOutcome",
    "accept_message",
    "approval_policy",
    "accept_webhook",
    "accepted_response",
    "body_limit",
    "conversation_summary",
    "create_conversation",
    "delete_conversation",
    "deletion_response",
    "find_turn",
    "turn_ref",
    "get_conversation",
    "list_conversations",
    "list_tools",
    "openapi_document",
    "page_size",
    "parse_json_object",
    "run_tool_directly",
    "turn_status_response",
]
