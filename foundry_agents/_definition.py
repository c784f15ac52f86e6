"""The agent the app wants: model, instructions and tools from the app's settings and tool registry.

The definition's fingerprint is kept in the agent's metadata, so ``sync`` can tell "unchanged" without comparing
fields the service may normalise (tool ``strict`` flags, defaults)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from durable_assistant.config import Settings
from durable_assistant.storage_clients import StorageClients
from durable_assistant.tools import ToolSpec, azure_function_tool, default_registry, tool_queue_layout

ToolMode = Literal["function", "azure_function"]
ApiKind = Literal["classic", "agents"]

MANAGED_BY_KEY = "managed-by"
MANAGED_BY = "durable-assistant"
FINGERPRINT_KEY = "definition-sha256"
DEFAULT_NAME = "durable-assistant"


@dataclass(frozen=True)
class AgentSpec:
    name: str
    model: str
    instructions: str
    tools: list[dict[str, Any]]
    tool_mode: ToolMode

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps({"model": self.model, "instructions": self.instructions, "tools": self.tools},
                               sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def metadata(self) -> dict[str, str]:
        return {MANAGED_BY_KEY: MANAGED_BY, FINGERPRINT_KEY: self.fingerprint, "tool-mode": self.tool_mode}


def _function_tool(spec: ToolSpec, api: ApiKind) -> dict[str, Any]:
    if api == "agents":  # prompt agent definitions use the flat Responses shape
        return {"type": "function", "name": spec.name, "description": spec.description,
                "parameters": spec.parameters}
    return {"type": "function", "function": {"name": spec.name, "description": spec.description,
                                             "parameters": spec.parameters}}


def desired_agent(env: Mapping[str, str], *, name: str, api: ApiKind, tool_mode: ToolMode,
                  model: str | None = None) -> AgentSpec:
    """The agent from the app's settings (``env`` as the app would see it) and the app's tool registry."""
    if tool_mode == "function" and not any(k.startswith("AzureWebJobsStorage") or k == "ASSISTANT_STORAGE_CONNECTION"
                                            for k in env):
        # Function tools need no queue endpoint; the app's settings still insist on a storage setting.
        env = {**env, "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    settings = Settings.from_env(env)
    registry = default_registry(settings.max_tool_output_chars)
    if tool_mode == "function":
        tools = [_function_tool(spec, api) for spec in registry.specs()]
    else:
        layout = tool_queue_layout(registry.names(), settings.tool_queue_prefix, settings.tool_queues)
        endpoint = StorageClients(settings.storage).queue_service_uri
        tools = [azure_function_tool(spec, layout[spec.name], endpoint) for spec in registry.specs()]
    return AgentSpec(name=name, model=model or settings.model, instructions=settings.instructions, tools=tools,
                     tool_mode=tool_mode)


def is_managed(metadata: Mapping[str, Any] | None) -> bool:
    return bool(metadata) and (metadata or {}).get(MANAGED_BY_KEY) == MANAGED_BY
