"""HTTP API logic (validation, bodies, OpenAPI) free of Functions types."""

from durable_assistant.api._http import (
    AcceptedMessage,
    ApiError,
    ApiResponse,
    accept_message,
    body_limit,
    create_conversation,
    get_conversation,
    list_tools,
    parse_json_object,
    run_tool_directly,
)
from durable_assistant.api._listing import conversation_summary, list_conversations, page_size
from durable_assistant.api._openapi import openapi_document
from durable_assistant.api._webhooks import WebhookOutcome, accept_webhook

__all__ = [
    "AcceptedMessage",
    "ApiError",
    "ApiResponse",
    "WebhookOutcome",
    "accept_message",
    "accept_webhook",
    "body_limit",
    "conversation_summary",
    "create_conversation",
    "get_conversation",
    "list_conversations",
    "list_tools",
    "openapi_document",
    "page_size",
    "parse_json_object",
    "run_tool_directly",
]
