"""Delete a conversation and everything of it, crash-safe and idempotent.

Order (a retried DELETE finds whatever is left and completes it):
1. mark the index row ``deletingSince``: from then on no message is accepted (409 conversation_deleting) and a
   turn that has not created its run yet never will (``steps.create_run`` reports it ``already_done``);
2. running turns: refused (``turn_running``), or, with cancel, CANCEL_EVENT raised at each and waited for;
3. what the provider created (ids read from the turn-work blobs, which are deleted only later);
4. ``runowners`` rows of those runs, the tools' exactly-once records of the conversation's calls, its approval
   requests;
5. chat histories, turn records, then the turn-work blobs (run documents, tool calls, step journals);
6. the orchestration history of every turn (purge), the partition's message and pointer rows, the listing
   row, and the index row last: while it exists the deletion is unfinished and ``nextSeq`` names every turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from azure.core.exceptions import ResourceModifiedError

from durable_assistant.lifecycle._instances import ACTIVE_RUNTIME_STATUSES, TurnInstances
from durable_assistant.providers import ObjectsDeleted
from durable_assistant.services import Services
from durable_assistant.store import Conversation, UnknownConversationError, instance_id_for
from durable_assistant.tools import forget_conversation_operations

CANCEL_WAIT_SECONDS = 30.0
"""How long a DELETE with cancel waits for the cancelled turns to end before answering turn_still_running."""
CANCEL_CHECK_SECONDS = 0.5
STATUS_CONCURRENCY = 16
CANCEL_PAYLOAD = {"by": "delete", "reason": "conversation deleted"}

T = TypeVar("T")
DeletionStatus = Literal["deleted", "not_found", "turn_running", "turn_still_running", "changed"]


@dataclass(frozen=True)
class BusyTurn:
    """A turn that may still write to the conversation."""

    turn: int
    instance_id: str
    runtime_status: str | None
    """None: the message was accepted but its orchestration does not exist (not started yet)."""


@dataclass(frozen=True)
class Removed:
    """What one deletion removed (a retried deletion counts only what was left)."""

    turn_records: int
    work_blobs: int
    chat_state_blobs: int
    conversation_rows: int
    run_owner_rows: int
    tool_records: int
    approvals: int
    instances_purged: int
    provider: ObjectsDeleted


@dataclass(frozen=True)
class DeletionResult:
    status: DeletionStatus
    """deleted; not_found (unknown or already deleted); turn_running (refused, nothing changed); turn_still_running
    (cancelled turns did not end in time: the conversation stays marked, a retry completes it); changed (the
    conversation was active again since it was judged: retention only)."""
    conversation_id: str
    busy: tuple[BusyTurn, ...] = ()
    cancelled: tuple[int, ...] = ()
    """Turns CANCEL_EVENT was raised at."""
    removed: Removed | None = None


async def delete_conversation(services: Services, instances: TurnInstances, conversation_id: str, *,
                              cancel: bool = False, wait_seconds: float = CANCEL_WAIT_SECONDS,
                              unchanged_since: Conversation | None = None) -> DeletionResult:
    """Delete the conversation (see the module's docstring). ``unchanged_since``: delete only if the conversation
    has not changed since that read (the retention sweep's judgement of it), never cancelling anything.
    Raises TransientProviderError when the provider cannot be reached (nothing lost: try again later)."""
    try:
        conv = await asyncio.to_thread(services.conversations.get, conversation_id)
    except UnknownConversationError:
        return DeletionResult("not_found", conversation_id)
    # Refuse before marking: a refused DELETE leaves the conversation exactly as it was. (An unfinished earlier
    # deletion is marked already: its turns must have ended, or be cancelled now, before it goes on.)
    busy = await busy_turns(instances, conv)
    if busy and not cancel:
        return DeletionResult("turn_running", conversation_id, busy)
    if conv.deleting_since is None:
        checked = conv
        try:
            conv = await asyncio.to_thread(services.conversations.mark_deleting, conversation_id,
                                           unchanged_since.etag if unchanged_since is not None else None)
        except UnknownConversationError:
            return DeletionResult("not_found", conversation_id)
        except ResourceModifiedError:
            return DeletionResult("changed", conversation_id)
        if conv.next_seq != checked.next_seq:
            busy = await busy_turns(instances, conv)  # accepted between the check and the mark: they lose the race
    cancelled: tuple[int, ...] = ()
    if busy:
        started = [b for b in busy if b.runtime_status is not None]
        raised = await asyncio.gather(*(instances.cancel(b.instance_id, CANCEL_PAYLOAD) for b in started))
        cancelled = tuple(b.turn for b, ok in zip(started, raised, strict=True) if ok)
        busy = await _wait_until_ended(instances, conv, wait_seconds)
        if busy:
            return DeletionResult("turn_still_running", conversation_id, busy, cancelled)
    removed = await _remove(services, instances, conv)
    return DeletionResult("deleted", conversation_id, cancelled=cancelled, removed=removed)


async def busy_turns(instances: TurnInstances, conv: Conversation) -> tuple[BusyTurn, ...]:
    """Turns whose orchestration is active, and accepted turns whose orchestration does not exist (yet)."""
    statuses = await _map_bounded(instances.runtime_status, _instance_ids(conv))
    busy = []
    for seq, status in enumerate(statuses, start=1):
        unfinished = seq > conv.completed_seq
        if status in ACTIVE_RUNTIME_STATUSES or (status is None and unfinished):
            busy.append(BusyTurn(seq, instance_id_for(conv.conversation_id, seq), status))
    return tuple(busy)


async def _wait_until_ended(instances: TurnInstances, conv: Conversation, seconds: float) -> tuple[BusyTurn, ...]:
    """Wait (bounded) until no turn is active. A turn that never started counts as ended: with the conversation
    marked it cannot be started any more (its POST is refused; a POST racing the mark creates no run)."""
    deadline = time.monotonic() + seconds
    while True:
        active = tuple(b for b in await busy_turns(instances, conv) if b.runtime_status is not None)
        if not active or time.monotonic() >= deadline:
            return active
        await asyncio.sleep(min(CANCEL_CHECK_SECONDS, max(0.0, deadline - time.monotonic())))


async def _remove(services: Services, instances: TurnInstances, conv: Conversation) -> Removed:
    cid = conv.conversation_id
    objects = await asyncio.to_thread(services.turns.recorded_objects, cid)
    provider = await services.provider().delete_objects(objects)
    run_owner_rows = await asyncio.to_thread(services.turns.forget_runs, objects.runs)
    tool_records = await asyncio.to_thread(forget_conversation_operations, services.storage, cid)
    approvals = await asyncio.to_thread(services.approvals.forget_conversation, cid)
    chat_state_blobs = await asyncio.to_thread(services.chat_state.delete_prefix, f"chat/{cid}/")
    turn_records, work_blobs = await asyncio.to_thread(services.turns.delete_conversation, cid)
    purged = await _map_bounded(instances.purge, _instance_ids(conv))
    rows = await asyncio.to_thread(services.conversations.delete_rows, cid)
    rows += await asyncio.to_thread(services.conversations.delete_index, conv)
    return Removed(turn_records=turn_records, work_blobs=work_blobs, chat_state_blobs=chat_state_blobs,
                   conversation_rows=rows, run_owner_rows=run_owner_rows, tool_records=tool_records,
                   approvals=approvals,
                   instances_purged=sum(purged), provider=provider)


def _instance_ids(conv: Conversation) -> list[str]:
    """Every turn's orchestration instance, in turn order (turns are numbered from 1)."""
    return [instance_id_for(conv.conversation_id, seq) for seq in range(1, conv.next_seq)]


async def _map_bounded(call: Callable[[str], Awaitable[T]], instance_ids: list[str]) -> list[T]:
    limit = asyncio.Semaphore(STATUS_CONCURRENCY)

    async def one(instance_id: str) -> T:
        async with limit:
            return await call(instance_id)

    return list(await asyncio.gather(*(one(i) for i in instance_ids)))
