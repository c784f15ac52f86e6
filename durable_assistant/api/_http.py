"""HTTP API logic without any Functions types: request validation, JSON bodies, error shapes. The thin
route functions in function_app.py translate to and from azure.functions objects."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from durable_assistant import json_limits
from durable_assistant.config import ConfigError, Settings
from durable_assistant.contracts import ApprovalPolicy, PollSchedule, TurnInput
from durable_assistant.services import Services
from durable_assistant.store import (
    ConversationDeletingError,
    MessageRecord,
    UnknownConversationError,
    valid_conversation_id,
    valid_message_id,
)
from durable_assistant.tools import ToolContext, ToolRegistry, azure_function_tool, tool_queue_layout

# Text that Storage (UTF-8) cannot hold or that has no place in a chat message: lone surrogates, C0 controls
# other than tab/newline/carriage return, and the noncharacters U+FFFE/U+FFFF.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return json.dumps(self.body, ensure_ascii=False)


class ApiError(Exception):
    """Becomes a 4xx JSON response ``{"error": {"code", "message", ...}}``."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details

    def response(self) -> ApiResponse:
        return ApiResponse(self.status, {"error": {"code": self.code, "message": str(self), **self.details}})


def body_limit_for(max_message_chars: int) -> int:
    """Largest request body a JSON route reads: 256 KiB, or room for a message of ``max_message_chars``
    characters each written as a 12-byte surrogate-pair escape when ASSISTANT_MAX_MESSAGE_CHARS is raised."""
    return max(json_limits.DEFAULT_MAX_BYTES, 12 * max_message_chars + 4096)


def body_limit(settings: Settings) -> int:
    return body_limit_for(settings.max_message_chars)


def limit_error(exc: json_limits.JsonLimitError) -> ApiError:
    """413 ``body_too_large`` or 400 ``json_too_deep``, each with the ``limit`` that was broken."""
    if isinstance(exc, json_limits.JsonTooLarge):
        return ApiError(413, "body_too_large", f"request body has {exc.size} bytes; the limit is {exc.limit}",
                        limit=exc.limit)
    return ApiError(400, "json_too_deep", f"request body nests arrays/objects deeper than {exc.limit} levels",
                    limit=exc.limit)


def parse_json_object(body: bytes, *, max_bytes: int, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object, within ``max_bytes`` and json_limits.MAX_DEPTH levels of nesting."""
    if len(body) <= max_bytes and not body.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    try:
        value = json_limits.loads(body, max_bytes=max_bytes)
    except json_limits.JsonLimitError as exc:
        raise limit_error(exc) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer beyond Python's digit limit
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    return value


@dataclass(frozen=True)
class AcceptedMessage:
    record: MessageRecord
    turn_input: TurnInput


def create_conversation(services: Services, body: bytes = b"") -> ApiResponse:
    """The body is optional; when given it must be a JSON object (no fields are read yet)."""
    parse_json_object(body, max_bytes=body_limit(services.settings), allow_empty=True)
    conv = services.conversations.create()
    return ApiResponse(201, {"conversationId": conv.conversation_id, "createdAt": conv.created_at,
                             "messagesUrl": f"/api/conversations/{conv.conversation_id}/messages"})


def accept_message(services: Services, conversation_id: str, body: bytes) -> AcceptedMessage:
    """Validate and record a user message (idempotent on messageId). Raises ApiError for bad input."""
    if not valid_conversation_id(conversation_id):
        raise ApiError(404, "unknown_conversation", f"conversation {conversation_id!r} does not exist")
    data = parse_json_object(body, max_bytes=body_limit(services.settings))
    content = data.get("content")
    if content is None:
        raise ApiError(400, "missing_content", "'content' is required")
    if not isinstance(content, str):
        raise ApiError(400, "invalid_content", "'content' must be a string")
    if not content.strip():
        raise ApiError(400, "empty_content", "'content' must not be empty")
    unstorable = _UNSTORABLE.search(content)
    if unstorable is not None:
        code = ord(unstorable.group())
        kind = "a lone UTF-16 surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
        raise ApiError(400, "invalid_content",
                       f"'content' holds {kind} (U+{code:04X}) at position {unstorable.start()}, which cannot be "
                       "stored or sent to a model")
    limit = services.settings.max_message_chars
    if len(content) > limit:
        raise ApiError(413, "content_too_long", f"'content' has {len(content)} characters; the limit is {limit}",
                       limit=limit)
    message_id = data.get("messageId")
    if message_id is None:
        message_id = uuid.uuid4().hex
    elif not isinstance(message_id, str) or not valid_message_id(message_id):
        raise ApiError(400, "invalid_message_id",
                       "'messageId' must be 1-128 characters of letters, digits and . _ : @ -")
    try:
        record = services.conversations.accept_message(conversation_id, message_id, content)
    except UnknownConversationError:
        raise ApiError(404, "unknown_conversation", f"conversation {conversation_id!r} does not exist") from None
    except ConversationDeletingError:
        raise ApiError(409, "conversation_deleting",
                       f"conversation {conversation_id!r} is being deleted; it accepts no messages") from None
    if not record.created and record.content != content:
        raise ApiError(409, "message_id_reused",
                       f"messageId {message_id!r} was already used for a different message in this conversation")
    return AcceptedMessage(record, turn_input(services.settings, conversation_id, record.seq, message_id,
                                              approval_policy(services.settings, services.tools)))


def approval_policy(settings: Settings, tools: ToolRegistry) -> ApprovalPolicy:
    """Which tools wait for a person: ASSISTANT_APPROVAL_REQUIRED applied to the registry."""
    names = tools.names()
    if settings.approval_mode == "listed":
        unknown = sorted(set(settings.approval_tools) - set(names))
        if unknown:
            raise ConfigError(f"ASSISTANT_APPROVAL_REQUIRED names tools that do not exist: {', '.join(unknown)}; "
                              f"tools: {', '.join(names)}")
        gated = list(settings.approval_tools)
    else:
        gated = {"all": names, "none": [],
                 "side_effects": [n for n in names if (t := tools.get(n)) is not None and t.side_effects]
                 }[settings.approval_mode]
    return ApprovalPolicy(tuple(sorted(gated)), settings.approval_timeout_seconds, settings.approvers)


def turn_input(settings: Settings, conversation_id: str, turn: int, message_id: str,
               approval: ApprovalPolicy | None = None) -> TurnInput:
    """The orchestration's input: the turn plus the settings that shape its waits (fixed for the turn)."""
    webhook_interval = settings.webhook_poll_seconds
    return TurnInput(
        conversation_id=conversation_id, turn=turn, message_id=message_id,
        deadline_seconds=settings.turn_deadline_seconds,
        schedule=PollSchedule(settings.poll_first_seconds, settings.poll_growth, settings.poll_max_seconds),
        webhooks=settings.webhook_secret is not None and settings.provider == "responses",
        webhook_schedule=PollSchedule(webhook_interval, 2.0, max(webhook_interval, 60.0)),
        first_look_seconds=settings.first_look_seconds, approval=approval or ApprovalPolicy())


def get_conversation(services: Services, conversation_id: str) -> ApiResponse:
    try:
        conv = services.conversations.get(conversation_id)
    except UnknownConversationError:
        raise ApiError(404, "unknown_conversation", f"conversation {conversation_id!r} does not exist") from None
    turns = services.turns.transcript(conversation_id)
    recorded = {int(t["turn"]) for t in turns}
    if len(recorded) < conv.completed_seq:
        # A turn whose record could not be written still says why it failed (noted on the index).
        for seq, error in services.conversations.turn_failures(conversation_id).items():
            if seq not in recorded:
                turns.append({"conversationId": conversation_id, "turn": seq, "status": "failed", "answer": None,
                              "error": error, "toolCalls": [], "recorded": False})
        turns.sort(key=lambda t: int(t["turn"]))
    return ApiResponse(200, {"conversationId": conv.conversation_id, "createdAt": conv.created_at,
                             "turnsAccepted": conv.next_seq - 1, "turnsFinished": conv.completed_seq,
                             "deletingSince": conv.deleting_since, "turns": turns})


def list_tools(services: Services) -> ApiResponse:
    """Each tool with its schema and the exact ``azure_function`` tool definition a Foundry agent needs to call it
    over the app's queues (``python -m foundry_agents sync`` uses the same definitions)."""
    settings = services.settings
    layout = tool_queue_layout(services.tools.names(), settings.tool_queue_prefix, settings.tool_queues)
    endpoint = services.storage.queue_service_uri
    return ApiResponse(200, {"tools": [
        {"name": s.name, "description": s.description, "parameters": s.parameters,
         "queues": {"input": layout[s.name].input, "output": layout[s.name].output},
         "azureFunctionTool": azure_function_tool(s, layout[s.name], endpoint)}
        for s in services.tools.specs()]})


def run_tool_directly(services: Services, name: str, body: bytes) -> ApiResponse:
    tool = services.tools.get(name)
    if tool is None:
        raise ApiError(404, "unknown_tool", f"tool {name!r} does not exist", tools=services.tools.names())
    args = parse_json_object(body, max_bytes=body_limit(services.settings), allow_empty=True)
    problem = services.tools.validation_error(name, args)
    if problem is not None:
        raise ApiError(400, "invalid_arguments", problem, schema=tool.spec.parameters)
    result = services.tools.run(name, args, ToolContext(storage=services.storage,
                                                        call_key=f"direct:{uuid.uuid4().hex}"))
    body_out = json.loads(result.output) if result.output.startswith("{") and result.output.endswith("}") \
        else {"success": result.ok, "output": result.output}
    return ApiResponse(200 if result.ok else 422, body_out)
