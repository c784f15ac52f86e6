"""The new Foundry agents API (``azure-ai-projects`` 2.x): named agents with immutable, numbered versions.

Served under a project endpoint, ``/api/projects/{project}/agents...`` with ``api-version`` accepted (and ignored):
create a version (``POST /agents/{name}/versions``), get an agent (its ``versions.latest``), list agents, get a
version, list versions, delete an agent (all its versions). A prompt agent runs through the Responses API with
``agent_reference: {"type": "agent_reference", "name", "version"?}``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ._errors import bad_request, not_found
from ._provider import Provider
from ._responses_api import TOOLS_SCHEMA
from ._validation import check, read_json

JsonObject = dict[str, Any]
KIND = "agent"
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_METADATA = {"type": ["object", "null"], "maxProperties": 16,
             "additionalProperties": {"type": "string", "maxLength": 512}}
VERSION_SCHEMA: JsonObject = {
    "type": "object", "required": ["definition"],
    "properties": {
        "definition": {"type": "object", "required": ["kind", "model"], "properties": {
            "kind": {"const": "prompt"}, "model": {"type": "string", "minLength": 1},
            "instructions": {"type": ["string", "null"]}, "tools": TOOLS_SCHEMA}},
        "metadata": _METADATA,
        "description": {"type": ["string", "null"], "maxLength": 512},
    },
}


def _public_agent(agent: JsonObject) -> JsonObject:
    return {"object": "agent", "id": agent["name"], "name": agent["name"],
            "versions": {"latest": agent["_versions"][-1]}}


class AgentsApi:
    def __init__(self, provider: Provider) -> None:
        self._p = provider

    def routes(self, prefix: str) -> list[web.RouteDef]:
        return [
            web.get(f"{prefix}/agents", self.list_agents),
            web.get(f"{prefix}/agents/{{name}}", self.get_agent),
            web.delete(f"{prefix}/agents/{{name}}", self.delete_agent),
            web.post(f"{prefix}/agents/{{name}}/versions", self.create_version),
            web.get(f"{prefix}/agents/{{name}}/versions", self.list_versions),
            web.get(f"{prefix}/agents/{{name}}/versions/{{version}}", self.get_version),
        ]

    def _agent(self, request: web.Request) -> JsonObject:
        name = request.match_info["name"]
        agent = self._p.store.get(KIND, name)
        if agent is None:
            raise not_found(f"Agent '{name}' not found.")
        return agent

    async def create_version(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not _NAME.match(name):
            raise bad_request("Agent names must start and end with a letter or digit, may contain hyphens and "
                              "have at most 63 characters.", param="agent_name")
        body = await read_json(request)
        check(body, VERSION_SCHEMA)
        agent = self._p.store.get(KIND, name)
        number = str(len(agent["_versions"]) + 1) if agent else "1"
        version = {
            "object": "agent.version", "id": f"{name}:{number}", "name": name, "version": number,
            "description": body.get("description") or "", "created_at": self._p.now(),
            "definition": body["definition"], "metadata": body.get("metadata") or {}, "status": "active",
        }
        if agent is None:
            self._p.store.put(KIND, {"id": name, "name": name, "_versions": [version]})
        else:
            agent["_versions"].append(version)
            self._p.store.save(KIND, agent)
        return web.json_response(version)

    async def get_agent(self, request: web.Request) -> web.Response:
        return web.json_response(_public_agent(self._agent(request)))

    async def list_agents(self, request: web.Request) -> web.Response:
        agents = sorted(self._p.store.all(KIND), key=lambda a: a["name"])
        return _page(request, [_public_agent(a) for a in agents])

    async def get_version(self, request: web.Request) -> web.Response:
        agent = self._agent(request)
        wanted = request.match_info["version"]
        version = next((v for v in agent["_versions"] if v["version"] == wanted), None)
        if version is None:
            raise not_found(f"Agent '{agent['name']}' has no version '{wanted}'.")
        return web.json_response(version)

    async def list_versions(self, request: web.Request) -> web.Response:
        return _page(request, list(self._agent(request)["_versions"]))

    async def delete_agent(self, request: web.Request) -> web.Response:
        agent = self._agent(request)
        self._p.store.delete(KIND, agent["name"])
        return web.json_response({"object": "agent.deleted", "name": agent["name"], "deleted": True})


def _page(request: web.Request, items: list[JsonObject]) -> web.Response:
    """The list shape the SDK pages through: ``data`` plus ``last_id`` used as the next ``after``."""
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        limit = -1
    if not 1 <= limit <= 100:
        raise bad_request("Invalid value for 'limit': expected an integer between 1 and 100.", param="limit")
    if request.query.get("order", "asc") == "desc":
        items = list(reversed(items))
    ids = [item["id"] for item in items]
    if (after := request.query.get("after")) in ids:
        items = items[ids.index(after) + 1:]
    data = items[:limit]
    has_more = len(items) > limit
    return web.json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                              "last_id": data[-1]["id"] if data and has_more else None, "has_more": has_more})
