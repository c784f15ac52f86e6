"""The work behind each activity of the turn orchestration (plain Python, testable without a host).

Every step is safe to run twice: provider calls that create something go through the step's journal
(``TurnStore.journal``), tool calls store their outcome once, the checkpoint writes its record once. Every
step reports failure as a value (``status="error"``, ``retry=True``) instead of raising, so the orchestration
decides about retries on durable timers and never meets the SDK's fail-fast ``task_all`` with a retrying child.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from durable_assistant.contracts import (
    ApprovalsResult,
    ApprovalView,
    CancelRunInput,
    CheckpointInput,
    CheckpointResult,
    CreateRunInput,
    PollRunInput,
    RequestApprovalsInput,
    RunToolInput,
    SettleApprovalsInput,
    StepResult,
    SubmitOutputsInput,
    ToolCallRef,
    ToolRunResult,
)
from durable_assistant.providers import (
    ACTIVE_STATUSES,
    RESPONSE_STEP_KEY,
    PermanentProviderError,
    Provider,
    ProviderError,
    RunRef,
    RunRequest,
    RunState,
    ToolCall,
    ToolOutput,
    TransientProviderError,
)
from durable_assistant.services import Services
from durable_assistant.store import (
    ApprovalRecord,
    UnknownConversationError,
    instance_id_for,
    submit,
    turn_record_key,
)
from durable_assistant.tools import ToolContext, ToolResult

log = logging.getLogger("durable_assistant.steps")
TOOL_ATTEMPTS = 3
"""Attempts of one tool call inside its activity when it raises a transient error (storage, network)."""


async def create_run(services: Services, inp: CreateRunInput) -> StepResult:
    """Create the turn's run once every earlier turn of the conversation has finished."""
    try:
        conv = await asyncio.to_thread(services.conversations.get, inp.conversation_id)
    except UnknownConversationError:
        return StepResult(status="already_done")  # deleted: nothing to run, nothing to record
    if conv.deleting_since is not None:
        # Being deleted: a turn that has no run yet never gets one. already_done records nothing (see checkpoint).
        return StepResult(status="already_done")
    if conv.completed_seq < inp.turn - 1:
        return StepResult(status="not_ready")
    if conv.completed_seq >= inp.turn:
        # This turn already ran (its instance was purged and the POST retried): never run it twice.
        return StepResult(status="already_done")
    message = await asyncio.to_thread(_message_for_turn, services, inp.conversation_id, inp.turn)
    provider = services.provider()
    request = RunRequest(user_message=message, conversation_ref=conv.provider_ref,
                         conversation_id=inp.conversation_id, turn_key=f"{inp.conversation_id}:{inp.turn}")
    journal = services.turns.journal(inp.conversation_id, inp.turn, "create")
    created_at = datetime.now(UTC).isoformat()
    try:
        state = await provider.create_run(request, journal)
    except ProviderError as exc:
        return _error_result(exc)
    result = await _look_and_record(services, provider, inp.conversation_id, inp.turn, state, inp.look_seconds,
                                    inp.instance_id)
    return dataclasses.replace(result, created_at=created_at)


async def poll_run(services: Services, inp: PollRunInput) -> StepResult:
    """One read of the run's status (the orchestration waits between reads on durable timers)."""
    try:
        state = await services.provider().poll(RunRef(inp.run_id, inp.thread_id))
    except ProviderError as exc:
        return _error_result(exc, run_id=inp.run_id, thread_id=inp.thread_id, reads=1)
    return await _record(services, inp.conversation_id, inp.turn, state, reads=1)


async def submit_outputs(services: Services, inp: SubmitOutputsInput) -> StepResult:
    outputs = await asyncio.to_thread(_collect_outputs, services, inp)
    provider = services.provider()
    # One journal per round: the round's first call number is unique within the turn.
    journal = services.turns.journal(inp.conversation_id, inp.turn, f"submit-{min(inp.numbers):03d}")
    try:
        state = await provider.submit_tool_outputs(RunRef(inp.run_id, inp.thread_id), outputs, journal)
    except ProviderError as exc:
        return _error_result(exc, run_id=inp.run_id, thread_id=inp.thread_id)
    return await _look_and_record(services, provider, inp.conversation_id, inp.turn, state, inp.look_seconds,
                                  inp.instance_id)


async def cancel_run(services: Services, inp: CancelRunInput) -> StepResult:
    """Cancel the run at the provider; a run that already ended is left as it is and reported."""
    provider = services.provider()
    ref = RunRef(inp.run_id, inp.thread_id)
    try:
        state = await provider.cancel(ref)
    except PermanentProviderError:
        try:
            state = await provider.poll(ref)  # refused because it already ended (or was cancelled before)
        except ProviderError as exc:
            return _error_result(exc, run_id=inp.run_id, thread_id=inp.thread_id)
    except ProviderError as exc:
        return _error_result(exc, run_id=inp.run_id, thread_id=inp.thread_id)
    await asyncio.to_thread(services.turns.record_run, inp.conversation_id, inp.turn, state)
    return StepResult(status=state.status, run_id=state.run_id, thread_id=state.thread_id)


def run_tool(services: Services, inp: RunToolInput) -> ToolRunResult:
    """Run one stored tool call and store its outcome, once. A tool that raises becomes an error output for
    the model; only a storage failure asks the orchestration to run this call again later."""
    try:
        call, doc = services.turns.load_call(inp.conversation_id, inp.turn, inp.number)
    except Exception as exc:
        return ToolRunResult(number=inp.number, ok=False, retry=True, error=f"loading the call failed: {exc}")
    if "output" in doc:
        return ToolRunResult(number=inp.number, ok=bool(doc["ok"]))  # a retried activity: already done
    ctx = ToolContext(storage=services.storage, call_key=f"{inp.conversation_id}:{inp.turn}:{call.call_id}")
    result = _run_call(services, call, ctx)
    try:
        services.turns.save_call_result(inp.conversation_id, inp.turn, inp.number, result)
    except Exception as exc:
        return ToolRunResult(number=inp.number, ok=result.ok, retry=True, error=f"storing the output failed: {exc}")
    return ToolRunResult(number=inp.number, ok=result.ok, error=result.error)


def _run_call(services: Services, call: ToolCall, ctx: ToolContext) -> ToolResult:
    started = time.perf_counter()
    for attempt in range(TOOL_ATTEMPTS):
        try:
            return services.tools.run(call.name, call.arguments, ctx)
        except Exception as exc:
            if attempt + 1 < TOOL_ATTEMPTS and _transient(exc):
                time.sleep(0.2 * 2**attempt)
                continue
            log.warning("tool %s raised %s: %s", call.name, type(exc).__name__, exc)
            message = f"{call.name} failed: {type(exc).__name__}: {exc}"
            return services.tools.error_result(message, int((time.perf_counter() - started) * 1000))
    raise AssertionError("unreachable")


def _transient(exc: Exception) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError | ConnectionError | TimeoutError):
        return True
    status = exc.status_code if isinstance(exc, HttpResponseError) else None
    return status is not None and (status in (408, 429) or status >= 500)


APPROVAL_PREVIEW_CHARS = 200


def request_approvals(services: Services, inp: RequestApprovalsInput) -> ApprovalsResult:
    """Open an approval request per call (once: a retry finds the first request and its expiry)."""
    try:
        loaded = [(n, services.turns.load_call(inp.conversation_id, inp.turn, n)[0]) for n in inp.numbers]
        calls = [(n, call.call_id, call.name, call.arguments) for n, call in loaded]
        records = services.approvals.request(inp.conversation_id, inp.turn, inp.instance_id, calls, inp.expires_at,
                                             tuple(inp.approvers))
    except Exception as exc:
        return ApprovalsResult(error=f"requesting approval failed: {type(exc).__name__}: {exc}"[:500])
    return ApprovalsResult(tuple(_view(r) for r in records))


def settle_approvals(services: Services, inp: SettleApprovalsInput) -> ApprovalsResult:
    """Read the decisions on ``numbers`` (closing still-pending ones as expired when the timer fired) and store
    the model's output for each call that will not run: a clear "denied" result."""
    try:
        records = services.approvals.settle(inp.conversation_id, inp.turn, inp.numbers,
                                            close_as="expired" if inp.expire else None)
        for record in records:
            if record.status in ("denied", "expired"):
                services.turns.save_call_result(inp.conversation_id, inp.turn, record.number, _refusal(record))
    except Exception as exc:
        return ApprovalsResult(error=f"settling approvals failed: {type(exc).__name__}: {exc}"[:500])
    return ApprovalsResult(tuple(_view(r) for r in records))


def _refusal(record: ApprovalRecord) -> ToolResult:
    if record.status == "denied":
        why = f"denied by {record.decided_by or 'an approver'}" + (f": {record.reason}" if record.reason else "")
    else:
        why = "nobody approved it before its approval request expired at " + record.expires_at
    message = f"{record.tool} was not run: {why}. Tell the user it was not done."
    output = json.dumps({"success": False, "approved": False, "status": record.status, "error": message})
    return ToolResult(output=output, ok=False, error=message)


def _view(record: ApprovalRecord) -> ApprovalView:
    return ApprovalView(number=record.number, tool=record.tool, status=record.status, expires_at=record.expires_at,
                        arguments_preview=record.arguments[:APPROVAL_PREVIEW_CHARS], decided_by=record.decided_by)


def checkpoint(services: Services, inp: CheckpointInput) -> CheckpointResult:
    """Write the turn record (once), then release the conversation to its next turn. Failures come back as
    a value; with ``minimal`` a small failure record replaces the full one and the release happens anyway."""
    try:
        return _minimal_checkpoint(services, inp) if inp.minimal else _checkpoint(services, inp)
    except Exception as exc:
        log.warning("checkpoint of %s turn %d failed: %s", inp.conversation_id, inp.turn, exc)
        return CheckpointResult(answer=None, record_written=False, error=f"{type(exc).__name__}: {exc}")


def _checkpoint(services: Services, inp: CheckpointInput) -> CheckpointResult:
    turns = services.turns
    if inp.status == "already_done":
        existing = turns.transcripts.load(turn_record_key(inp.conversation_id, inp.turn))
        if existing is None:
            return CheckpointResult(answer=None, record_written=False, status=_unrecorded_status(services, inp))
        return CheckpointResult(answer=existing.get("answer"), record_written=False,
                                status=existing.get("status", "unknown"))
    # Independent reads, in flight together (the checkpoint is on every turn's critical path).
    run_doc_f = submit(lambda: turns.run_doc(inp.conversation_id, inp.turn))
    message_f = submit(lambda: services.conversations.get_message(inp.conversation_id, inp.message_id))
    calls_f = submit(lambda: turns.calls(inp.conversation_id, inp.turn))
    approvals_f = submit(lambda: _turn_approvals(services, inp))
    run_doc, message = run_doc_f.result(), message_f.result()
    latest = RunState.from_json(run_doc["latest"]) if run_doc.get("latest") else None
    answer = latest.final_text if latest is not None and inp.status == "completed" else None
    approvals = approvals_f.result()
    calls = [{"round": c.get("round"), "callId": c["callId"], "name": c["name"], "arguments": c["arguments"],
              "output": c.get("output"), "ok": c.get("ok"), "error": c.get("error"),
              "durationMs": c.get("durationMs"),
              **({"approval": approvals[int(c["number"])]} if int(c["number"]) in approvals else {})}
             for c in calls_f.result()]
    record = {
        "conversationId": inp.conversation_id,
        "turn": inp.turn,
        "messageId": inp.message_id,
        "instanceId": inp.instance_id,
        "userMessage": message.content if message is not None else None,
        "status": inp.status,
        "answer": answer,
        "error": inp.error,
        "toolCalls": calls,
        "provider": services.settings.provider,
        "providerIds": run_doc.get("providerIds", []),
        "usage": run_doc.get("usage", {}),
        "reads": inp.reads,
        **({"cancelledBy": inp.cancel.by, "cancelReason": inp.cancel.reason,
            "cancelRequestedAt": inp.cancel.requested_at} if inp.cancel is not None else {}),
        "timings": {"receivedAt": message.received_at if message is not None else None,
                    "startedAt": inp.started_at, "runCreatedAt": inp.run_created_at,
                    "finishedAt": inp.finished_at},
    }
    written = turns.write_record(record)
    provider_ref = latest.conversation_ref if latest is not None and inp.status == "completed" else None
    return _release(services, inp, answer, written, inp.status, provider_ref)


def _turn_approvals(services: Services, inp: CheckpointInput) -> dict[int, dict[str, object]]:
    """The turn's approval decisions by call number; requests still open are closed as ``cancelled``."""
    if not inp.approvals:
        return {}
    return {r.number: r.transcript() for r in services.approvals.close_turn(inp.conversation_id, inp.turn)}


def _unrecorded_status(services: Services, inp: CheckpointInput) -> str:
    """Why an already_done turn has no record: its conversation is (being) deleted, or it is unknown."""
    try:
        conv = services.conversations.get(inp.conversation_id)
    except UnknownConversationError:
        return "conversation_deleted"
    return "conversation_deleted" if conv.deleting_since is not None else "unknown"


def _minimal_checkpoint(services: Services, inp: CheckpointInput) -> CheckpointResult:
    """The fallback when the full checkpoint keeps failing: a small failure record if the store takes it,
    the failure noted on the conversation's index either way, and the conversation released."""
    error = f"the turn could not be checkpointed: {inp.error or 'unknown error'}"
    record = {"conversationId": inp.conversation_id, "turn": inp.turn, "messageId": inp.message_id,
              "instanceId": inp.instance_id, "status": "failed", "answer": None, "error": error,
              "toolCalls": [], "timings": {"startedAt": inp.started_at, "finishedAt": inp.finished_at}}
    try:
        written = services.turns.write_record(record)
    except Exception as exc:
        log.warning("minimal record of %s turn %d not written: %s", inp.conversation_id, inp.turn, exc)
        written = False
    services.conversations.note_turn_failure(inp.conversation_id, inp.turn, error)
    return _release(services, inp, None, written, "failed", None)


def _release(services: Services, inp: CheckpointInput, answer: str | None, written: bool, status: str,
             provider_ref: str | None) -> CheckpointResult:
    release = services.conversations.complete_turn(inp.conversation_id, inp.turn, provider_ref,
                                                   skipped=inp.skipped)
    following = release.next_turn_after(inp.turn)
    next_instance = instance_id_for(inp.conversation_id, following) if following is not None else None
    return CheckpointResult(answer=answer, record_written=written, next_instance_id=next_instance, status=status)


OrphanFate = Literal["adopted", "discarded", "unknown"]


async def adopt_orphan(services: Services, run_id: str) -> OrphanFate:
    """A provider webhook for a run no turn has claimed. If the run carries the key of the step that created it
    (``metadata.step``), that step crashed between the provider's answer and its journal write: journal the run
    for it now ("adopted": the step's retry reads it instead of creating another), or, when the step has
    journaled a run of its own since, cancel this one ("discarded"). Anything else is "unknown"."""
    provider = services.provider()
    try:
        state = await provider.poll(RunRef(run_id))
    except ProviderError:
        return "unknown"
    journal = services.turns.journal_for_key(state.step_key) if state.step_key else None
    if journal is None:
        return "unknown"
    try:
        conv = await asyncio.to_thread(services.conversations.get, journal.key.rsplit(":", 2)[0])
    except UnknownConversationError:
        return "unknown"  # not a conversation of this app (another app sharing the provider project)
    if conv.deleting_since is not None:
        return "unknown"  # its journals are being deleted: write none
    if await journal.record(RESPONSE_STEP_KEY, run_id) == run_id:
        log.warning("adopted run %s for step %s: its creator crashed before journaling it", run_id, journal.key)
        return "adopted"
    with contextlib.suppress(ProviderError):
        await provider.cancel(state.ref)
    return "discarded"


# Orchestration states from which a turn can no longer reach its checkpoint (an operator terminated it, or the
# orchestrator itself crashed before checkpointing). A missing instance is NOT one of them: its POST may have
# stored the message and not yet started the orchestration.
ABANDONED_STATES = frozenset({"Terminated", "Failed"})


async def release_abandoned_turn(
    services: Services, conversation_id: str, turn: int,
    runtime_status: Callable[[str], Awaitable[str | None]],
) -> bool:
    """Turn ``turn`` waits for the conversation's first unfinished turn. If that turn's orchestration ended
    without checkpointing, record it as abandoned and release the conversation; True when one was released."""
    conv = await asyncio.to_thread(services.conversations.get, conversation_id)
    head = conv.completed_seq + 1
    if head >= turn:
        return False
    instance_id = instance_id_for(conversation_id, head)
    state = await runtime_status(instance_id)
    if state not in ABANDONED_STATES:
        return False
    message = await asyncio.to_thread(services.conversations.message_for_turn, conversation_id, head)
    record = {
        "conversationId": conversation_id, "turn": head, "instanceId": instance_id,
        "messageId": message.message_id if message is not None else None,
        "userMessage": message.content if message is not None else None,
        "status": "abandoned", "answer": None, "toolCalls": [],
        "error": f"the turn's orchestration is {state} and never checkpointed; released by turn {turn}",
    }
    await asyncio.to_thread(services.turns.write_record, record)
    await asyncio.to_thread(services.conversations.complete_turn, conversation_id, head, None)
    return True


def _message_for_turn(services: Services, conversation_id: str, turn: int) -> str:
    content = services.conversations.message_content_for_turn(conversation_id, turn)
    if content is None:
        raise LookupError(f"no message stored for turn {turn} of conversation {conversation_id}")
    return content


def _collect_outputs(services: Services, inp: SubmitOutputsInput) -> list[ToolOutput]:
    outputs = []
    for n in inp.numbers:
        call, doc = services.turns.load_call(inp.conversation_id, inp.turn, n)
        output = doc.get("output")
        if output is None:
            # The tool's outcome could never be stored: tell the model instead of failing the turn.
            output = '{"success": false, "error": "the tool failed to run (infrastructure error); try again later"}'
        outputs.append(ToolOutput(call_id=call.call_id, output=output))
    return outputs


async def _look_and_record(services: Services, provider: Provider, conversation_id: str, turn: int,
                           state: RunState, look_seconds: float, instance_id: str) -> StepResult:
    """Watch a new run for up to ``look_seconds`` (a pushed end, or reads every poll_interval_seconds), so
    a fast run needs no durable timer at all; then record where it stands and, with webhooks, route the
    run's webhook to this turn (saying whether the turn has seen its end already)."""
    interval = services.settings.poll_interval_seconds
    until = time.monotonic() + max(0.0, look_seconds)
    reads = 0
    retry_after: float | None = None
    while state.status in ACTIVE_STATUSES and time.monotonic() < until:
        pushed = await provider.wait_for_end(state.ref, until - time.monotonic())
        if pushed is not None:
            state, reads = pushed, reads + 1
            continue
        if time.monotonic() >= until:
            break
        await asyncio.sleep(min(interval, max(0.0, until - time.monotonic())))
        try:
            state = await provider.poll(state.ref)
        except TransientProviderError as exc:
            retry_after = exc.retry_after
            break  # the run is fine; the orchestration reads it again after its timer
        except PermanentProviderError as exc:
            return _error_result(exc, run_id=state.run_id, thread_id=state.thread_id, reads=reads + 1)
        reads += 1
    result = await _record(services, conversation_id, turn, state, reads, force=True)
    if services.settings.webhook_secret and instance_id:
        ended = state.status not in ACTIVE_STATUSES
        await asyncio.to_thread(services.turns.claim_run, state.run_id, instance_id, ended)
    return result if retry_after is None else dataclasses.replace(result, retry_after=retry_after)


async def _record(services: Services, conversation_id: str, turn: int, state: RunState, reads: int,
                  force: bool = False) -> StepResult:
    """Store the run's state once it changed (a still-running run needs no write) and number its calls."""
    numbers: list[int] = []
    if force or state.status not in ACTIVE_STATUSES:
        numbers = await asyncio.to_thread(services.turns.record_run, conversation_id, turn, state)
    calls = tuple(ToolCallRef(n, c.name) for n, c in zip(numbers, state.tool_calls, strict=False))
    return StepResult(status=state.status, run_id=state.run_id, thread_id=state.thread_id, tool_calls=calls,
                      error=_short(state.error), reads=reads)


def _error_result(exc: ProviderError, run_id: str | None = None, thread_id: str | None = None,
                  reads: int = 0) -> StepResult:
    transient = isinstance(exc, TransientProviderError)
    retry_after = exc.retry_after if isinstance(exc, TransientProviderError) else None
    return StepResult(status="error", run_id=run_id, thread_id=thread_id, error=_short(str(exc)),
                      transient=transient, retry_after=retry_after, reads=reads)


ERROR_CHARS = 500
"""Errors in step results (and so in history and customStatus) are cut to this length; records keep them whole
where the provider's state is stored."""


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= ERROR_CHARS:
        return text
    return text[:ERROR_CHARS] + f"... [{len(text) - ERROR_CHARS} more characters]"
