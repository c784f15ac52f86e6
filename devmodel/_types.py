"""What every engine sees and returns: a provider-neutral conversation in, one model turn out.

The three HTTP protocols (Responses, Chat Completions, threads/runs) each translate their own request shape into a
``GenerationRequest`` and the engine's ``Generation`` back into their own response shape, so an engine never
knows which protocol a client speaks.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolSpec:
    """A function tool the client offered."""

    name: str
    description: str
    parameters: dict[str, object]
    """JSON schema of the arguments object."""


@dataclass(frozen=True)
class ToolCallRecord:
    """A tool call already in the conversation (made by the model in an earlier turn)."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Turn:
    """One conversation entry: a message, an assistant turn that called tools, or one tool output."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCallRecord, ...] = ()
    tool_call_id: str | None = None
    """For ``role == "tool"``: the call this output answers."""


@dataclass(frozen=True)
class ToolChoice:
    """``mode`` is auto | none | required; ``function`` names the one tool a client forced."""

    mode: Literal["auto", "none", "required"] = "auto"
    function: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one model turn depends on."""

    turns: tuple[Turn, ...]
    instructions: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    parallel_tool_calls: bool = True
    max_output_tokens: int | None = None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    """Set when the client cancelled; engines that generate token by token stop early."""

    def last_user_message(self) -> str:
        return next((t.content for t in reversed(self.turns) if t.role == "user"), "")

    def turns_since_last_user(self) -> tuple[Turn, ...]:
        for index in range(len(self.turns) - 1, -1, -1):
            if self.turns[index].role == "user":
                return self.turns[index + 1 :]
        return self.turns


@dataclass(frozen=True)
class ProposedCall:
    """A tool call the model wants; the protocol layer gives it a call id."""

    name: str
    arguments: str
    """The arguments as the model produced them: normally a JSON object, deliberately broken under faults."""


class Outcome(enum.Enum):
    """How a run ends. NEVER_FINISHES is not an ending: the run stays in progress until cancelled or expired."""

    COMPLETED = "completed"
    FAILED = "failed"
    INCOMPLETE = "incomplete"
    EXPIRED = "expired"


@dataclass(frozen=True)
class WebhookDelivery:
    """How the webhook of a background response that ends is delivered (scenario faults change it)."""

    copies: int = 1
    """0: lost; 2: duplicated."""
    delay_seconds: float = 0.0
    """Late by this long."""


@dataclass(frozen=True)
class Generation:
    """One model turn: an answer text, or tool calls, or a failure."""

    text: str = ""
    tool_calls: tuple[ProposedCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    outcome: Outcome = Outcome.COMPLETED
    error_code: Literal["server_error", "rate_limit_exceeded", "invalid_prompt"] = "server_error"
    error_message: str = ""
    webhook: WebhookDelivery = WebhookDelivery()


@dataclass(frozen=True)
class HttpFault:
    """A request the engine refuses at the door, the way an overloaded provider does."""

    status: int
    message: str
    retry_after_seconds: float | None = None

    @property
    def error_type(self) -> str:
        return {429: "rate_limit_exceeded", 503: "service_unavailable"}.get(self.status, "server_error")


class Engine(Protocol):
    """A model behind the HTTP protocols."""

    @property
    def model_id(self) -> str:
        """The model name reported in responses and in GET /v1/models."""
        ...

    def admit(self, request: GenerationRequest) -> HttpFault | None:
        """Called once per model-calling HTTP request before any state changes; a fault becomes the HTTP answer."""
        ...

    async def generate(self, request: GenerationRequest) -> Generation:
        """Produce one turn. May take long; cancelling the awaiting task abandons it."""
        ...

    async def aclose(self) -> None: ...


class EngineUnavailableError(RuntimeError):
    """The engine cannot start here (missing package or model file); the message says how to fix it."""
