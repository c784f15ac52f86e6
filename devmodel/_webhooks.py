"""Signed webhooks for background responses, as OpenAI sends them: a Standard Webhooks envelope
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>``) around
``{"id": "evt_...", "object": "event", "type": "response.completed", "created_at": ..., "data": {"id": ...}}``.

Signed with the ``standardwebhooks`` library; delivery is retried on errors like the service does (fewer
times). Scenario faults make a delivery late, lost or duplicated (``WebhookDelivery``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime

import aiohttp
from standardwebhooks import Webhook

from ._types import WebhookDelivery

log = logging.getLogger("devmodel.webhooks")
ATTEMPTS = 4
EVENT_TYPES = {"completed": "response.completed", "failed": "response.failed", "cancelled": "response.cancelled",
               "incomplete": "response.incomplete"}


class WebhookSender:
    """Posts signed events to one endpoint (``--webhook-url`` with ``--webhook-secret whsec_...``)."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self._signer = Webhook(secret)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0

    def response_ended(self, response_id: str, status: str, delivery: WebhookDelivery) -> None:
        """Schedule the event for a background response that reached ``status`` (no event for others)."""
        event_type = EVENT_TYPES.get(status)
        if event_type is None or delivery.copies == 0:
            if event_type is not None:
                log.info("webhook for %s dropped (scenario fault)", response_id)
            return
        task = asyncio.create_task(self._deliver(event_type, response_id, delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event_type: str, response_id: str, delivery: WebhookDelivery) -> None:
        if delivery.delay_seconds > 0:
            await asyncio.sleep(delivery.delay_seconds)
        event_id = f"evt_{uuid.uuid4().hex}"
        body = json.dumps({"id": event_id, "object": "event", "type": event_type, "created_at": int(time.time()),
                           "data": {"id": response_id}})
        for _ in range(delivery.copies):
            await self._post(event_id, body)

    async def _post(self, event_id: str, body: str) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        for attempt in range(ATTEMPTS):
            now = datetime.now(UTC)
            headers = {"webhook-id": event_id, "webhook-timestamp": str(int(now.timestamp())),
                       "webhook-signature": self._signer.sign(event_id, now, body),
                       "content-type": "application/json"}
            try:
                async with self._session.post(self.url, data=body.encode(), headers=headers) as reply:
                    if reply.status < 300:
                        self.sent += 1
                        return
                    log.warning("webhook %s: endpoint answered %d", event_id, reply.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("webhook %s: %s", event_id, exc)
            await asyncio.sleep(0.5 * 2**attempt)
        log.error("webhook %s not delivered after %d attempts", event_id, ATTEMPTS)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
