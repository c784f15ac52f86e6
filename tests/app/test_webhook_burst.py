"""A burst of provider webhooks for runs not routed yet must not take the threads the turn's own steps need.

Under load a run can end before ``create_run`` records its owner, so the webhook waits (up to
``OWNER_WAIT_SECONDS``) for the row. That wait used to sleep in a ``to_thread`` worker: a dozen such webhooks held
every thread of the event loop's default executor (6 on a 2-core machine, also in the Python worker), and the
activities' own ``to_thread`` storage calls queued behind them. Real Azurite table, real openai signature check.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from standardwebhooks import Webhook

from durable_assistant.api import accept_webhook
from durable_assistant.api._webhooks import OWNER_WAIT_SECONDS
from durable_assistant.config import Settings
from durable_assistant.services import Services

BURST = 12
THREADS = 2


def signed(webhook: Webhook, run_id: str, n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"id": f"evt_{n}", "object": "event", "type": "response.completed",
                       "created_at": int(time.time()), "data": {"id": run_id}}).encode()
    event_id, now = f"evt_{n}", datetime.now(UTC).replace(microsecond=0)
    signature = webhook.sign(event_id, now, body.decode())
    return body, {"webhook-id": event_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}


def test_webhooks_waiting_for_unrouted_runs_leave_the_default_executor_free(app_env: dict[str, str]) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    services = Services(Settings.from_env({**app_env, "ASSISTANT_WEBHOOK_SECRET": secret}))
    services.ensure_storage()
    signer = Webhook(secret)
    calls = [signed(signer, f"resp_unrouted_{n}", n) for n in range(BURST)]

    async def scenario() -> tuple[list[str], float, float]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=THREADS))
        began = loop.time()
        waits = [asyncio.ensure_future(accept_webhook(services, body, headers)) for body, headers in calls]
        await asyncio.sleep(0.3)  # every webhook is now waiting for its run's owner
        await asyncio.to_thread(lambda: None)  # an activity's storage call meanwhile
        probe_done = loop.time() - began
        outcomes = await asyncio.gather(*waits)
        return [o.action for o in outcomes], probe_done, loop.time() - began

    actions, probe_done, all_done = asyncio.run(scenario())
    assert actions == ["unknown"] * BURST  # no turn claimed these runs: the route asks adopt_orphan next
    # The probe ran while the webhooks still waited (they wait OWNER_WAIT_SECONDS each), not after them.
    assert probe_done < OWNER_WAIT_SECONDS <= all_done, (probe_done, all_done)
