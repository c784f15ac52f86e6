"""The provider webhook route's logic: verify a Standard Webhooks signature with the openai SDK, map the
response id to the turn waiting for it, and say whether to wake it (the route raises the event)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import cache
from typing import Literal

import openai
from openai import OpenAI

from durable_assistant import json_limits
from durable_assistant.api._http import ApiError, ApiResponse, limit_error
from durable_assistant.services import Services

RUN_END_EVENTS = frozenset({"response.completed", "response.failed", "response.cancelled", "response.incomplete"})
WEBHOOK_MAX_BYTES = 64 * 1024
"""A run-end event carries ids only: a few hundred bytes."""
OWNER_WAIT_SECONDS = 1.6
"""A run that ends within create_run's first look may be reported before the step has routed it: wait a little."""


@dataclass(frozen=True)
class WebhookOutcome:
    action: Literal["wake", "seen", "unknown", "ignored", "adopted", "discarded"]
    event_type: str
    run_id: str | None = None
    instance_id: str | None = None

    def response(self) -> ApiResponse:
        return ApiResponse(200, {"status": self.action, "type": self.event_type, "runId": self.run_id})


@cache
def _verifier() -> OpenAI:
    # Only webhooks.unwrap is used: it verifies locally and never calls the API.
    return OpenAI(api_key="webhook-verification-only", base_url="http://127.0.0.1:9/v1", max_retries=0)


async def accept_webhook(services: Services, body: bytes, headers: dict[str, str]) -> WebhookOutcome:
    """Raises ApiError 404 when webhooks are not configured, 413/400 for a body past the JSON limits and 400 for
    a forged, unsigned or stale call. Waiting for a run's owner holds no thread: under load many webhooks can
    arrive before their runs are routed, and blocked threads would starve every other ``to_thread`` call."""
    secret = services.settings.webhook_secret
    if secret is None:
        raise ApiError(404, "webhooks_disabled", "provider webhooks are not configured (ASSISTANT_WEBHOOK_SECRET)")
    try:
        # Before the signature: the SDK parses the body with json.loads once the signature holds.
        json_limits.check(body, max_bytes=WEBHOOK_MAX_BYTES)
    except json_limits.JsonLimitError as exc:
        raise limit_error(exc) from None
    try:
        event = _verifier().webhooks.unwrap(body, {k.lower(): v for k, v in headers.items()}, secret=secret)
    except (openai.InvalidWebhookSignatureError, ValueError, KeyError) as exc:
        raise ApiError(400, "invalid_signature", f"webhook rejected: {exc}") from None
    event_type = str(getattr(event, "type", "unknown"))
    if event_type not in RUN_END_EVENTS:
        return WebhookOutcome("ignored", event_type)
    run_id = str(event.data.id)  # type: ignore[union-attr]
    deadline = time.monotonic() + OWNER_WAIT_SECONDS
    while True:
        notice, instance_id = await asyncio.to_thread(services.turns.take_run_end, run_id)
        if notice != "unknown" or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.2)
    # "unknown": no turn claimed it (the route then asks steps.adopt_orphan whose it is)
    return WebhookOutcome(notice, event_type, run_id, instance_id)
