"""Process-wide wiring: settings, storage clients, stores, tool registry and the provider adapter."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from durable_assistant.config import Settings
from durable_assistant.providers import Provider, create_provider
from durable_assistant.store import (
    CHAT_CONTAINER,
    ApprovalStore,
    ConversationStore,
    JsonBlobs,
    StorageClients,
    TurnStore,
)
from durable_assistant.tools import ToolRegistry, default_registry


@dataclass
class Services:
    settings: Settings
    provider_factory: Callable[[], Provider] | None = None
    """Builds the provider adapter (default: from settings); tests pass an in-process fake."""
    _providers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Provider] = field(
        default_factory=weakref.WeakKeyDictionary)

    @cached_property
    def storage(self) -> StorageClients:
        return StorageClients(self.settings.storage, prefix=self.settings.storage_prefix)

    @cached_property
    def tools(self) -> ToolRegistry:
        return default_registry(self.settings.max_tool_output_chars, self.settings.tool_modules)

    @cached_property
    def conversations(self) -> ConversationStore:
        return ConversationStore(self.storage)

    @cached_property
    def turns(self) -> TurnStore:
        return TurnStore(self.storage)

    @cached_property
    def approvals(self) -> ApprovalStore:
        return ApprovalStore(self.storage)

    @cached_property
    def chat_state(self) -> JsonBlobs:
        return JsonBlobs(self.storage, CHAT_CONTAINER)

    def provider(self) -> Provider:
        """One adapter (and HTTP connection pool) per event loop: async clients are bound to their loop."""
        loop = asyncio.get_running_loop()
        provider = self._providers.get(loop)
        if provider is None:
            provider = (self.provider_factory() if self.provider_factory is not None
                        else create_provider(self.settings, self.tools.specs(), self.chat_state))
            self._providers[loop] = provider
        return provider

    def ensure_storage(self) -> None:
        """Create the app's tables and containers (idempotent)."""
        self.conversations.ensure()
        self.turns.ensure()
        self.approvals.ensure()
        self.chat_state.ensure()


_services: Services | None = None


def get_services() -> Services:
    """The process's Services, built from the environment on first use."""
    global _services
    if _services is None:
        _services = Services(Settings.from_env())
    return _services
