"""The two Foundry agent APIs behind one small interface, through the official SDKs.

- ``classic``: Foundry Agent Service classic (threads/runs), ``azure-ai-agents`` ``AgentsClient``:
  ``/assistants?api-version=v1``; an agent has an id (``asst_…``) and is updated in place.
- ``agents``: the new agents API, ``azure-ai-projects`` ``AIProjectClient.agents``: ``/agents/{name}/versions``;
  an agent is a name with immutable versions, and ``sync`` adds a version. Runs go through Responses with
  ``agent_reference``; conversation objects there are responses (``resp_…``).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from azure.core.credentials import AzureKeyCredential, TokenCredential
from azure.core.exceptions import ResourceNotFoundError
from azure.core.pipeline.policies import AzureKeyCredentialPolicy

from foundry_agents._definition import AgentSpec, ApiKind, is_managed

SyncOutcome = Literal["created", "updated", "unchanged"]
FOUNDRY_SCOPE = "https://ai.azure.com/.default"


@dataclass(frozen=True)
class AgentInfo:
    """An agent as the CLI shows it."""

    id: str
    name: str
    version: str | None
    model: str
    tools: list[str]
    """``name (type)`` per tool."""
    metadata: dict[str, str]
    raw: dict[str, Any] = field(compare=False, repr=False)

    @property
    def managed(self) -> bool:
        return is_managed(self.metadata)


class Backend(Protocol):
    api: ApiKind

    def managed_agents(self) -> list[AgentInfo]: ...

    def find(self, name_or_id: str) -> AgentInfo | None: ...

    def sync(self, spec: AgentSpec) -> tuple[SyncOutcome, AgentInfo]: ...

    def delete(self, agent: AgentInfo) -> None: ...

    def delete_thread(self, thread_id: str) -> bool: ...

    def delete_response(self, response_id: str) -> bool: ...

    def close(self) -> None: ...


class _NoToken:
    """Stands in for a TokenCredential when an API key authenticates (a key policy replaces the bearer one)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise RuntimeError("key authentication is configured; no token is needed")


@dataclass(frozen=True)
class Connection:
    endpoint: str
    """Foundry project endpoint, e.g. https://RES.services.ai.azure.com/api/projects/PROJECT."""
    api_key: str | None
    """An API key (devmodel, or a gateway taking keys); None means Entra ID (DefaultAzureCredential)."""

    def sdk_arguments(self) -> tuple[TokenCredential, dict[str, Any]]:
        if self.api_key is None:
            from azure.identity import DefaultAzureCredential

            return DefaultAzureCredential(), {}
        policy = AzureKeyCredentialPolicy(AzureKeyCredential(self.api_key), "Authorization", prefix="Bearer")
        return _NoToken(), {"authentication_policy": policy}

    def openai(self) -> Any:
        """An OpenAI client on the project's ``/openai/v1`` (Responses)."""
        from openai import OpenAI

        if self.api_key is not None:
            return OpenAI(base_url=self.endpoint.rstrip("/") + "/openai/v1", api_key=self.api_key)
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider

        token = get_bearer_token_provider(DefaultAzureCredential(), FOUNDRY_SCOPE)
        return OpenAI(base_url=self.endpoint.rstrip("/") + "/openai/v1", api_key=token)


def _tool_label(tool: dict[str, Any]) -> str:
    kind = str(tool.get("type"))
    body = tool.get(kind) if isinstance(tool.get(kind), dict) else tool
    if kind == "azure_function":
        body = (body or {}).get("function", {})
    elif kind == "function" and "function" in tool:
        body = tool["function"]
    return f"{(body or {}).get('name', '?')} ({kind})"


def _delete_response(connection: Connection, response_id: str) -> bool:
    from openai import NotFoundError

    client = connection.openai()
    try:
        client.responses.delete(response_id)
    except NotFoundError:
        return False
    finally:
        client.close()
    return True


class ClassicBackend:
    """Foundry Agent Service classic through ``azure.ai.agents.AgentsClient``."""

    api: ApiKind = "classic"

    def __init__(self, connection: Connection) -> None:
        from azure.ai.agents import AgentsClient

        credential, extra = connection.sdk_arguments()
        self._connection = connection
        self._client = AgentsClient(connection.endpoint, credential, **extra)

    @staticmethod
    def _info(agent: Any) -> AgentInfo:
        raw = agent.as_dict()
        return AgentInfo(id=raw["id"], name=raw.get("name") or "", version=None, model=raw.get("model") or "",
                         tools=[_tool_label(t) for t in raw.get("tools") or []],
                         metadata=dict(raw.get("metadata") or {}), raw=raw)

    def _all(self) -> list[AgentInfo]:
        return [self._info(a) for a in self._client.list_agents(order="asc")]

    def managed_agents(self) -> list[AgentInfo]:
        return [a for a in self._all() if a.managed]

    def find(self, name_or_id: str) -> AgentInfo | None:
        with contextlib.suppress(ResourceNotFoundError):
            if name_or_id.startswith("asst_"):
                return self._info(self._client.get_agent(name_or_id))
        named = [a for a in self.managed_agents() if a.name == name_or_id]
        return named[0] if named else None

    def sync(self, spec: AgentSpec) -> tuple[SyncOutcome, AgentInfo]:
        current = self.find(spec.name)
        tools: Any = spec.tools
        if current is None:
            agent = self._client.create_agent(model=spec.model, name=spec.name, instructions=spec.instructions,
                                              tools=tools, metadata=spec.metadata)
            return "created", self._info(agent)
        if current.metadata == spec.metadata and current.model == spec.model:
            return "unchanged", current
        agent = self._client.update_agent(current.id, model=spec.model, name=spec.name,
                                          instructions=spec.instructions, tools=tools, metadata=spec.metadata)
        return "updated", self._info(agent)

    def delete(self, agent: AgentInfo) -> None:
        self._client.delete_agent(agent.id)

    def delete_thread(self, thread_id: str) -> bool:
        try:
            self._client.threads.delete(thread_id)
        except ResourceNotFoundError:
            return False
        return True

    def delete_response(self, response_id: str) -> bool:
        return _delete_response(self._connection, response_id)

    def close(self) -> None:
        self._client.close()


class AgentsBackend:
    """The new agents API (versioned agents) through ``azure.ai.projects.AIProjectClient``."""

    api: ApiKind = "agents"

    def __init__(self, connection: Connection) -> None:
        from azure.ai.projects import AIProjectClient

        credential, extra = connection.sdk_arguments()
        self._connection = connection
        self._client = AIProjectClient(connection.endpoint, credential, **extra)

    @staticmethod
    def _info(agent: Any) -> AgentInfo:
        raw = agent.as_dict() if hasattr(agent, "as_dict") else dict(agent)
        latest = raw["versions"]["latest"] if "versions" in raw else raw
        definition = latest.get("definition") or {}
        return AgentInfo(id=raw["name"], name=raw["name"], version=latest.get("version"),
                         model=definition.get("model") or "",
                         tools=[_tool_label(t) for t in definition.get("tools") or []],
                         metadata=dict(latest.get("metadata") or {}), raw=raw)

    def managed_agents(self) -> list[AgentInfo]:
        return [a for a in (self._info(x) for x in self._client.agents.list()) if a.managed]

    def find(self, name_or_id: str) -> AgentInfo | None:
        try:
            return self._info(self._client.agents.get(name_or_id))
        except ResourceNotFoundError:
            return None

    def sync(self, spec: AgentSpec) -> tuple[SyncOutcome, AgentInfo]:
        current = self.find(spec.name)
        if current is not None and current.metadata == spec.metadata and current.model == spec.model:
            return "unchanged", current
        body: Any = {"definition": {"kind": "prompt", "model": spec.model, "instructions": spec.instructions,
                                    "tools": spec.tools},
                     "metadata": spec.metadata, "description": "Durable Assistant (synced by foundry_agents)"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._client.agents.create_version(spec.name, body)
        created = self.find(spec.name)
        assert created is not None
        return ("created" if current is None else "updated"), created

    def delete(self, agent: AgentInfo) -> None:
        self._client.agents.delete(agent.name)

    def delete_thread(self, thread_id: str) -> bool:
        raise ValueError(f"{thread_id}: threads belong to the classic API; use --api classic")

    def delete_response(self, response_id: str) -> bool:
        return _delete_response(self._connection, response_id)

    def close(self) -> None:
        self._client.close()


def open_backend(api: ApiKind, connection: Connection) -> Backend:
    return ClassicBackend(connection) if api == "classic" else AgentsBackend(connection)
