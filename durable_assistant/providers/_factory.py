"""Build the configured provider adapter with an OpenAI client (key or Entra ID token)."""

from __future__ import annotations

from openai import AsyncOpenAI

from durable_assistant.config import Settings
from durable_assistant.providers._chat import ChatProvider, ChatStateStore
from durable_assistant.providers._responses import ResponsesProvider
from durable_assistant.providers._threads import ThreadsProvider
from durable_assistant.providers._types import Provider
from durable_assistant.tools import ToolSpec


def make_client(settings: Settings) -> AsyncOpenAI:
    """An AsyncOpenAI client on ``settings.base_url``. SDK retries are off: 429/5xx are retried by the
    orchestration on durable timers, honouring retry-after."""
    if settings.auth == "entra":
        from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

        token = get_bearer_token_provider(DefaultAzureCredential(), settings.entra_scope)
        return AsyncOpenAI(base_url=settings.base_url, api_key=token, max_retries=0, timeout=60.0)
    return AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key, max_retries=0, timeout=60.0)


def create_provider(settings: Settings, tools: list[ToolSpec], chat_store: ChatStateStore) -> Provider:
    client = make_client(settings)
    if settings.provider == "threads":
        assert settings.agent_id is not None  # Settings.from_env enforces it
        return ThreadsProvider(client, settings.agent_id, settings.instructions, tools,
                               send_definition=settings.run_tools == "app")
    if settings.provider == "chat":
        return ChatProvider(client, settings.model, settings.instructions, tools, chat_store)
    orphan_wait = settings.webhook_poll_seconds if settings.webhook_secret else 0.0
    return ResponsesProvider(client, settings.model, settings.instructions, tools, orphan_wait_seconds=orphan_wait)
