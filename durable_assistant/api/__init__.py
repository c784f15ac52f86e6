"""HTTP API logic (validation, bodies, OpenAPI) free of Functions types."""

from durable_assistant.api._http import (
    AcceptedMessage,
    ApiError,
    ApiResponse,
    accept_message,
    create_conversation,
    get_conversation,
    list_tools,
    parse_json_object,
    run_tool_directly,
)
from durable_assistant.api._openapi import openapi_document
from durable_assistant.api._webhooks import WebhookOutcome, accept_webhook

__all__ = [
    "AcceptedMessage",
    "ApiError",
    "ApiResponse",
    "WebhookOutcome",
    "accept_message",
    "accept_webhook",
    "create_conversation",
    "get_conversation",
    "list_tools",
    "openapi_document",
    "parse_json_object",
    "run_tool_directly",
]
