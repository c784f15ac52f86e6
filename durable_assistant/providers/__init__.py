"""Provider adapters behind one interface: create a run, poll it, submit tool outputs, cancel it."""

from durable_assistant.providers._chat import ChatProvider, ChatStateStore
from durable_assistant.providers._errors import retry_after_seconds
from durable_assistant.providers._factory import create_provider, make_client
from durable_assistant.providers._responses import ResponsesProvider
from durable_assistant.providers._threads import ThreadsProvider
from durable_assistant.providers._types import (
    ACTIVE_STATUSES,
    RESPONSE_STEP_KEY,
    TERMINAL_STATUSES,
    ObjectsDeleted,
    PermanentProviderError,
    Provider,
    ProviderError,
    ProviderObjects,
    RunRef,
    RunRequest,
    RunState,
    RunStatus,
    StepJournal,
    ToolCall,
    ToolOutput,
    TransientProviderError,
    create_once,
)

__all__ = [
    "RESPONSE_STEP_KEY",
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "ChatProvider",
    "ChatStateStore",
    "ObjectsDeleted",
    "PermanentProviderError",
    "Provider",
    "ProviderError",
    "ProviderObjects",
    "ResponsesProvider",
    "RunRef",
    "RunRequest",
    "RunState",
    "RunStatus",
    "StepJournal",
    "ThreadsProvider",
    "ToolCall",
    "ToolOutput",
    "TransientProviderError",
    "create_once",
    "create_provider",
    "make_client",
    "retry_after_seconds",
]
