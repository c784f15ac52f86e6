"""The monitor's reads: conversation rows and turn records from the app's stores, orchestration statuses and
histories from the Durable status API through the durable client binding (so it works on devhost, under
``func start`` and in Azure alike). Blocking storage calls run in worker threads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df

from durable_assistant.services import Services
from durable_assistant.store import (
    Conversation,
    ConversationPage,
    UnknownConversationError,
    instance_id_for,
    map_concurrently,
    turn_record_key,
)
from monitor.timeline import build_timeline
from monitor.views import (
    ApprovalView,
    LiveStatus,
    TurnSummary,
    TurnView,
    approval_views,
    gantt,
    live_status,
    short,
    tool_calls,
)


class NotFound(LookupError):
    """The page's conversation or turn does not exist."""


@dataclass(frozen=True)
class OrchestrationState:
    status: LiveStatus
    history: list[dict[str, Any]] | None


async def orchestration_state(client: df.DurableOrchestrationClient, instance_id: str,
                              history: bool = False) -> OrchestrationState | None:
    """None when the instance does not exist (not started yet, or purged)."""
    status = await client.get_status(instance_id, show_history=history, show_history_output=history,
                                     show_input=history)
    if not status or status.runtime_status is None:
        return None
    # The SDK keeps the payload's "historyEvents" as an attribute of that name (its `history` stays None).
    events = getattr(status, "historyEvents", None) or status.history
    created, updated = status.created_time, status.last_updated_time
    return OrchestrationState(
        live_status(status.runtime_status.value, status.custom_status, status.output,
                    created.isoformat() if created else None, updated.isoformat() if updated else None),
        list(events) if history and events is not None else None)


@dataclass(frozen=True)
class ListedConversations:
    page: ConversationPage
    first_messages: dict[str, str]
    """conversationId -> its first message (shortened), for conversations that have one."""


def list_page(services: Services, top: int, token: str | None) -> ListedConversations:
    """Blocking: the page, then every listed conversation's first message, read side by side."""
    store = services.conversations
    page = store.list_page(top, token)
    ids = [c.conversation_id for c in page.conversations]
    firsts = map_concurrently(lambda cid: store.message_content_for_turn(cid, 1), ids)
    return ListedConversations(page, {cid: short(m, 90) for cid, m in zip(ids, firsts, strict=True) if m})


@dataclass(frozen=True)
class ConversationView:
    conv: Conversation
    turns: list[TurnSummary]
    approvals: list[ApprovalView]
    """Requests that can still be decided."""


async def conversation(services: Services, client: df.DurableOrchestrationClient,
                       conversation_id: str) -> ConversationView:
    conv = await _conversation(services, conversation_id)
    transcript, pending_approvals = await asyncio.gather(
        asyncio.to_thread(services.turns.transcript, conversation_id),
        asyncio.to_thread(services.approvals.pending, conversation_id))
    records = {int(r["turn"]): r for r in transcript}
    pending = [seq for seq in range(1, conv.next_seq) if seq not in records]
    states = await asyncio.gather(*(orchestration_state(client, instance_id_for(conversation_id, seq))
                                    for seq in pending))
    messages = await asyncio.gather(*(asyncio.to_thread(services.conversations.message_content_for_turn,
                                                        conversation_id, seq) for seq in pending))
    summaries = [_finished_summary(r) for r in records.values()]
    for seq, state, message in zip(pending, states, messages, strict=True):
        if state is None:
            status = "not started"
        else:
            status = state.status.runtime_status + (f" · {state.status.phase}" if state.status.phase else "")
        summaries.append(TurnSummary(turn=seq, message=short(message), status=status, answer="", tool_names=[],
                                     finished=state is not None and not state.status.running))
    return ConversationView(conv, sorted(summaries, key=lambda s: s.turn),
                            approval_views(pending_approvals, datetime.now(UTC)))


def _finished_summary(record: dict[str, Any]) -> TurnSummary:
    return TurnSummary(turn=int(record["turn"]), message=short(record.get("userMessage")),
                       status=str(record.get("status", "?")), answer=short(record.get("answer") or record.get("error")),
                       tool_names=[str(c.get("name")) for c in record.get("toolCalls") or []], finished=True)


async def turn(services: Services, client: df.DurableOrchestrationClient, conversation_id: str,
               seq: int) -> TurnView:
    conv = await _conversation(services, conversation_id)
    if not 1 <= seq < conv.next_seq:
        raise NotFound(f"conversation {conversation_id} has no turn {seq}")
    record = await asyncio.to_thread(services.turns.transcripts.load, turn_record_key(conversation_id, seq))
    instance_id = str((record or {}).get("instanceId") or instance_id_for(conversation_id, seq))
    state, approvals = await asyncio.gather(
        orchestration_state(client, instance_id, history=True),
        asyncio.to_thread(services.approvals.for_turn, conversation_id, seq))
    if record is not None:
        calls, message = tool_calls(record.get("toolCalls") or [], approvals), record.get("userMessage")
    else:
        docs, message = await asyncio.gather(
            asyncio.to_thread(services.turns.calls, conversation_id, seq),
            asyncio.to_thread(services.conversations.message_content_for_turn, conversation_id, seq))
        calls = tool_calls(docs, approvals)
    view = TurnView(conversation_id=conversation_id, turn=seq, instance_id=instance_id, user_message=message,
                    record=record, status=state.status if state else None, calls=calls,
                    approvals=approval_views(approvals, datetime.now(UTC)))
    if state is not None and state.history:
        view.chart = gantt(build_timeline(state.history, datetime.now(UTC)), calls)
    return view


async def _conversation(services: Services, conversation_id: str) -> Conversation:
    try:
        return await asyncio.to_thread(services.conversations.get, conversation_id)
    except UnknownConversationError:
        raise NotFound(f"conversation {conversation_id} does not exist") from None
