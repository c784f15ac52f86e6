"""The durable client binding payload and the management URLs in it (spec §4.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
INSTANCE_PLACEHOLDER = "INSTANCEID"  # the SDK substitutes it by plain string replacement


@dataclass(frozen=True)
class ManagementEndpoint:
    """Where the management API lives and the query every URL carries.

    ``base_url`` has no trailing slash (``http://127.0.0.1:7071/runtime/webhooks/durabletask``). ``code`` is the
    system key appended when keys are enforced. ``rpc_base_url`` is where the Python SDK sends its calls; it must end
    with ``/``.
    """

    base_url: str
    task_hub: str
    connection: str = "Storage"
    code: str | None = None
    rpc_base_url: str | None = None

    @classmethod
    def for_origin(cls, origin: str, task_hub: str, **kwargs: str | None) -> ManagementEndpoint:
        return cls(base_url=origin.rstrip("/") + WEBHOOK_PATH, task_hub=task_hub, **kwargs)  # type: ignore[arg-type]

    def with_origin(self, origin: str) -> ManagementEndpoint:
        """The same endpoint seen from another origin (check-status payloads use the request's host)."""
        return ManagementEndpoint(origin.rstrip("/") + WEBHOOK_PATH, self.task_hub, self.connection, self.code,
                                  self.rpc_base_url)

    @property
    def query(self) -> str:
        parts = [f"taskHub={quote(self.task_hub, safe='')}", f"connection={quote(self.connection, safe='')}"]
        if self.code:
            parts.append(f"code={quote(self.code, safe='')}")
        return "&".join(parts)

    @property
    def code_query(self) -> str:
        """The webhook URI's own query (``code=...`` in Azure, empty locally)."""
        return f"code={quote(self.code, safe='')}" if self.code else ""

    def instance_urls(self, instance_id: str, *, include_rewind: bool) -> dict[str, str]:
        """``managementUrls`` / the check-status payload for one instance (``id`` first)."""
        base = f"{self.base_url}/instances/{instance_id}"
        q = self.query
        urls = {
            "id": instance_id,
            "statusQueryGetUri": f"{base}?{q}",
            "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{q}",
            "terminatePostUri": f"{base}/terminate?reason={{text}}&{q}",
        }
        if include_rewind:
            urls["rewindPostUri"] = f"{base}/rewind?reason={{text}}&{q}"
        urls.update({
            "purgeHistoryDeleteUri": f"{base}?{q}",
            "restartPostUri": f"{base}/restart?{q}",
            "suspendPostUri": f"{base}/suspend?reason={{text}}&{q}",
            "resumePostUri": f"{base}/resume?reason={{text}}&{q}",
        })
        return urls

    def check_status_payload(self, instance_id: str) -> dict[str, str]:
        """What ``POST orchestrators/{name}`` answers (the .NET handler omits ``rewindPostUri``)."""
        return self.instance_urls(instance_id, include_rewind=False)

    def binding_payload(self) -> dict[str, object]:
        qs = self.code_query
        create = f"{self.base_url}/orchestrators/{{functionName}}[/{{instanceId}}]"
        return {
            "taskHubName": self.task_hub,
            "connectionName": None,
            "creationUrls": {
                "createNewInstancePostUri": f"{create}?{qs}",
                # Locally the query is empty, which leaves the trailing "?"/"&" the real host also emits.
                "createAndWaitOnNewInstancePostUri": (
                    f"{create}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{qs}"
                ),
            },
            "managementUrls": self.instance_urls(INSTANCE_PLACEHOLDER, include_rewind=True),
            "baseUrl": self.base_url,
            "requiredQueryStringParameters": qs,
            "rpcBaseUrl": self.rpc_base_url or self.base_url + "/",
            "httpBaseUrl": None,
        }

    def binding_json(self, *, task_hub: str | None = None, connection_name: str | None = None) -> str:
        """The binding JSON string a durable client function receives (Newtonsoft emits nulls, so do we)."""
        endpoint = self
        if task_hub and task_hub != self.task_hub:
            endpoint = ManagementEndpoint(self.base_url, task_hub, self.connection, self.code, self.rpc_base_url)
        payload = endpoint.binding_payload()
        if connection_name:
            payload["connectionName"] = connection_name
        return json.dumps(payload)
