"""The retention sweep: delete the conversations idle for longer than ASSISTANT_RETENTION_DAYS, with the same code
as DELETE, never cancelling a running turn (a busy conversation waits for the next sweep)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from durable_assistant.lifecycle._deletion import delete_conversation
from durable_assistant.lifecycle._instances import TurnInstances
from durable_assistant.providers import TransientProviderError
from durable_assistant.services import Services
from durable_assistant.store import Conversation, UnknownConversationError

log = logging.getLogger("durable_assistant.lifecycle")

MAX_DELETIONS_PER_SWEEP = 500
"""Bounds one run of the timer function; what is left goes at the next run."""


@dataclass(frozen=True)
class SweepReport:
    cutoff: str
    """Conversations whose last activity is older than this were due."""
    examined: int
    deleted: tuple[str, ...] = ()
    busy: tuple[str, ...] = ()
    """Due, but a turn is running (or was accepted and not started): left for the next sweep."""
    failed: tuple[str, ...] = ()
    """Due, but the provider could not be reached (or the conversation became active again meanwhile)."""


def is_due(conv: Conversation, cutoff: datetime) -> bool:
    """Idle since before ``cutoff`` (the index row's last change), or an unfinished deletion."""
    if conv.deleting_since is not None:
        return True
    last = conv.last_activity_at or conv.created_at
    return datetime.fromisoformat(last) < cutoff


async def sweep(services: Services, instances: TurnInstances, now: datetime) -> SweepReport | None:
    """Delete the due conversations; None when retention is off (ASSISTANT_RETENTION_DAYS unset or 0)."""
    days = services.settings.retention_days
    if days <= 0:
        return None
    cutoff = now - timedelta(days=days)
    # A conversation created after the cutoff cannot have been idle since before it: only older ones are read.
    ids = await asyncio.to_thread(lambda: list(services.conversations.created_before(cutoff)))
    examined = 0
    deleted: list[str] = []
    busy: list[str] = []
    failed: list[str] = []
    for cid in ids:
        if len(deleted) >= MAX_DELETIONS_PER_SWEEP:
            break
        try:
            conv = await asyncio.to_thread(services.conversations.get, cid)
        except UnknownConversationError:
            continue  # deleted meanwhile (a listing row is removed just before its index row)
        examined += 1
        if not is_due(conv, cutoff):
            continue
        try:
            result = await delete_conversation(services, instances, cid, unchanged_since=conv)
        except TransientProviderError as exc:
            log.warning("retention: %s not deleted now, the provider is unavailable: %s", cid, exc)
            failed.append(cid)
            continue
        if result.status == "deleted":
            deleted.append(cid)
        elif result.status in ("turn_running", "turn_still_running"):
            busy.append(cid)
        elif result.status == "changed":
            failed.append(cid)
    report = SweepReport(cutoff.isoformat(), examined, tuple(deleted), tuple(busy), tuple(failed))
    log.info("retention sweep: cutoff %s, examined %d, deleted %d, busy %d, failed %d", report.cutoff,
             examined, len(deleted), len(busy), len(failed))
    return report
