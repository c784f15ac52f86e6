"""A turn's own status route and the URLs a caller gets for a turn.

``GET /api/conversations/{conversationId}/turns/{turn}`` answers with the Durable Functions status shape of that
one orchestration instance, so an API caller can follow its turn without the Durable management URLs: those carry
the extension's system key, which controls every instance in the task hub (other users' turns included).

Status codes follow the Durable HTTP API's status query (the extension's ``HandleGetStatusRequestAsync``): 202
with ``Location`` and ``Retry-After`` while the instance is Pending, Running, ContinuedAsNew or Suspended; 200 once
it ended (Completed, Failed, Terminated, Canceled). Its ``returnInternalServerErrorOnFailure`` option (500 for a
Failed instance) is not offered: a 5xx would say the API failed, not the turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, cast, get_args
from urllib.parse import quote, urlsplit

from durable_assistant.api._http import ApiError, ApiResponse
from durable_assistant.services import Services
from durable_assistant.store import UnknownConversationError, instance_id_for, valid_conversation_id

RuntimeStatus = Literal["Pending", "Running", "ContinuedAsNew", "Suspended", "Completed", "Failed", "Terminated",
                        "Canceled"]
IN_PROGRESS: frozenset[RuntimeStatus] = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})
MAX_TURN = 999_999  # instance ids hold the turn in six digits
STATUS_RETRY_AFTER = "5"  # the extension's status query
ACCEPTED_RETRY_AFTER = "10"  # the extension's check-status response


@dataclass(frozen=True)
class TurnRef:
    conversation_id: str
    turn: int
    instance_id: str


class SdkStatus(Protocol):
    """What the durable SDK's ``DurableOrchestrationStatus`` offers (read, never imported here)."""

    @property
    def name(self) -> str | None: ...
    @property
    def instance_id(self) -> str | None: ...
    @property
    def runtime_status(self) -> Any: ...
    @property
    def custom_status(self) -> Any: ...
    @property
    def output(self) -> Any: ...
    @property
    def created_time(self) -> datetime | None: ...
    @property
    def last_updated_time(self) -> datetime | None: ...


@dataclass(frozen=True)
class TurnStatus:
    """One orchestration instance's status, in the Durable status query's terms."""

    name: str
    instance_id: str
    runtime_status: RuntimeStatus
    custom_status: Any
    output: Any
    created_time: datetime
    last_updated_time: datetime

    @classmethod
    def from_sdk(cls, status: SdkStatus | None) -> TurnStatus | None:
        """None for an instance that does not exist (the SDK's status of a 404 is falsy)."""
        if not status or status.created_time is None or status.runtime_status is None:
            return None
        runtime = str(getattr(status.runtime_status, "value", status.runtime_status))
        if runtime not in get_args(RuntimeStatus):
            raise ValueError(f"unknown runtime status {runtime!r}")
        return cls(name=status.name or "", instance_id=status.instance_id or "",
                   runtime_status=cast(RuntimeStatus, runtime), custom_status=status.custom_status,
                   output=status.output, created_time=status.created_time,
                   last_updated_time=status.last_updated_time or status.created_time)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "instanceId": self.instance_id, "runtimeStatus": self.runtime_status,
                "customStatus": self.custom_status, "output": self.output,
                "createdTime": _status_time(self.created_time),
                "lastUpdatedTime": _status_time(self.last_updated_time)}


def _status_time(value: datetime) -> str:
    """The status query's ``yyyy-MM-ddTHH:mm:ssZ`` (no fractional seconds)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class TurnLinks:
    """The app's own URLs for one turn; ``?code=`` only when the caller itself sent its key that way."""

    status: str
    cancel: str

    @classmethod
    def for_request(cls, request_url: str, conversation_id: str, turn: int, code: str | None) -> TurnLinks:
        parts = urlsplit(request_url)
        # Every route lives under the route prefix ("/api" by default): whatever precedes "/conversations/".
        cut = parts.path.rfind("/conversations/")
        prefix = parts.path[:cut] if cut >= 0 else ""
        base = f"{parts.scheme}://{parts.netloc}{prefix}/conversations/{conversation_id}/turns/{turn}"
        query = f"?code={quote(code, safe='')}" if code else ""
        return cls(status=base + query, cancel=f"{base}/cancel{query}")


def parse_turn(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_TURN))) or not 1 <= int(raw) <= MAX_TURN:
        raise ApiError(400, "invalid_turn", f"'turn' must be a whole number from 1 to {MAX_TURN}", turn=raw[:32])
    return int(raw)


def turn_ref(conversation_id: str, raw_turn: str) -> TurnRef:
    """The turn a route names, checked for form only (no storage read): 400 for a malformed number, 404 for a
    conversation id that cannot exist. A status poll reads the instance first and looks further only when there
    is none (``find_turn`` then says why), so polling costs no read of the app's own tables."""
    turn = parse_turn(raw_turn)
    if not valid_conversation_id(conversation_id):
        raise ApiError(404, "unknown_conversation", "conversation ids are 1-64 letters, digits, - or _")
    return TurnRef(conversation_id, turn, instance_id_for(conversation_id, turn))


def find_turn(services: Services, conversation_id: str, raw_turn: str) -> TurnRef:
    """The accepted turn named by the route; 400 for a malformed number, 404 for an unknown conversation or a
    turn number the conversation has not accepted."""
    turn = parse_turn(raw_turn)
    try:
        conv = services.conversations.get(conversation_id)
    except UnknownConversationError:
        raise ApiError(404, "unknown_conversation", f"conversation {conversation_id!r} does not exist") from None
    accepted = conv.next_seq - 1
    if turn > accepted:
        raise ApiError(404, "unknown_turn", f"conversation {conversation_id!r} has {accepted} turn(s); "
                                            f"there is no turn {turn}", turnsAccepted=accepted)
    return TurnRef(conversation_id, turn, instance_id_for(conversation_id, turn))


def turn_status_response(turn: TurnRef, status: TurnStatus | None, links: TurnLinks) -> ApiResponse:
    if status is None:
        raise ApiError(404, "unknown_turn", f"turn {turn.turn} of conversation {turn.conversation_id!r} has no "
                                            "orchestration instance (not started yet, or purged)")
    if status.runtime_status in IN_PROGRESS:
        return ApiResponse(202, status.to_json(), {"Location": links.status, "Retry-After": STATUS_RETRY_AFTER})
    return ApiResponse(200, status.to_json())


def accepted_response(turn: TurnRef, message_id: str, links: TurnLinks,
                      durable_management: dict[str, str] | None) -> ApiResponse:
    """The 202 of POST .../messages: the turn's own status and cancel URLs; the Durable management URLs only
    when ``durable_management`` is given (ASSISTANT_EXPOSE_DURABLE_URLS)."""
    body: dict[str, Any] = {"id": turn.instance_id, "statusQueryGetUri": links.status, "cancelPostUri": links.cancel,
                            "conversationId": turn.conversation_id, "turn": turn.turn, "messageId": message_id}
    if durable_management is not None:
        body["durableManagement"] = durable_management
    return ApiResponse(202, body, {"Location": links.status, "Retry-After": ACCEPTED_RETRY_AFTER})
