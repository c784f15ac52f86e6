"""The work behind each activity of the turn orchestration (plain Python, testable without a host)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from durable_assistant.providers import (
    ACTIVE_STATUSES,
    PermanentProviderError,
    Provider,
    ProviderError,
    RunRef,
    RunRequest,
    RunState,
    ToolOutput,
    TransientProviderError,
)
from durable_assistant.store import instance_id_for, submit, turn_record_key
from durable_assistant.tools import ToolContext
from durable_assistant.turn._contracts import (
    CancelRunInput,
    CheckpointInput,
    CheckpointResult,
    CreateRunInput,
    RunToolInput,
    StepResult,
    SubmitOutputsInput,
    ToolRunResult,
    WatchRunInput,
)
from durable_assistant.turn._services import Services


async def create_run(services: Services, inp: CreateRunInput) -> StepResult:
    """Create the turn's run once every earlier turn of the conversation has finished."""
    conv = await asyncio.to_thread(services.conversations.get, inp.conversation_id)
    if conv.completed_seq < inp.turn - 1:
        return StepResult(status="not_ready")
    if conv.completed_seq >= inp.turn:
        # This turn already ran (its instance was purged and the POST retried): never run it twice.
        return StepResult(status="already_done")
    message = await asyncio.to_thread(_message_for_turn, services, inp.conversation_id, inp.turn)
    provider = services.provider()
    request = RunRequest(user_message=message, conversation_ref=conv.provider_ref,
                         conversation_id=inp.conversation_id)
    try:
        state = await provider.create_run(request)
    except ProviderError as exc:
        return _error_result(exc)
    return await _watch_and_record(services, provider, inp.conversation_id, inp.turn, state, inp.wait_seconds)


async def watch_run(services: Services, inp: WatchRunInput) -> StepResult:
    provider = services.provider()
    try:
        state = await provider.poll(RunRef(inp.run_id, inp.thread_id))
    except ProviderError as exc:
        return _error_result(exc, run_id=inp.run_id, thread_id=inp.thread_id, polls=1)
    return await _watch_and_record(services, provider, inp.conversation_id, inp.turn, state, inp.wait_seconds,
                                   polls=1)


async def submit_outputs(services: Services, inp: SubmitOutputsInput) -> StepResult:
    outputs = await asyncio.to_thread(_collect_outputs, services, inp)
    provider = services.provider()
    try:
        state = await provider.submit_tool_outputs(RunRef(inp.run_id, inp.thread_id), outputs)
    except ProviderError as exc:
        return _error_result(exc, run_id=inp.run_id, thread_id=inp.thread_id)
    return await _watch_and_record(services, provider, inp.conversation_id, inp.turn, state, inp.wait_seconds)


async def cancel_run(services: Services, inp: CancelRunInput) -> StepResult:
    try:
        state = await services.provider().cancel(RunRef(inp.run_id, inp.thread_id))
    except ProviderError as exc:
        return _error_result(exc, run_id=inp.run_id, thread_id=inp.thread_id)
    await asyncio.to_thread(services.turns.record_run, inp.conversation_id, inp.turn, state)
    return StepResult(status=state.status, run_id=state.run_id, thread_id=state.thread_id)


def run_tool(services: Services, inp: RunToolInput) -> ToolRunResult:
    """Run one stored tool call and store its output. Unexpected exceptions propagate (activity retry)."""
    call, doc = services.turns.load_call(inp.conversation_id, inp.turn, inp.number)
    if "output" in doc:
        return ToolRunResult(number=inp.number, ok=bool(doc["ok"]))  # a retried activity: already done
    ctx = ToolContext(storage=services.storage, call_key=f"{inp.conversation_id}:{inp.turn}:{call.call_id}")
    result = services.tools.run(call.name, call.arguments, ctx)
    services.turns.save_call_result(inp.conversation_id, inp.turn, inp.number, result)
    return ToolRunResult(number=inp.number, ok=result.ok)


def checkpoint(services: Services, inp: CheckpointInput) -> CheckpointResult:
    """Write the turn record (once), then release the conversation to its next turn."""
    turns = services.turns
    if inp.status == "already_done":
        existing = turns.transcripts.load(turn_record_key(inp.conversation_id, inp.turn)) or {}
        return CheckpointResult(answer=existing.get("answer"), record_written=False,
                                status=existing.get("status", "unknown"))
    # Three independent reads, in flight together (the checkpoint is on every turn's critical path).
    run_doc_f = submit(lambda: turns.run_doc(inp.conversation_id, inp.turn))
    message_f = submit(lambda: services.conversations.get_message(inp.conversation_id, inp.message_id))
    calls_f = submit(lambda: turns.calls(inp.conversation_id, inp.turn))
    run_doc, message = run_doc_f.result(), message_f.result()
    latest = RunState.from_json(run_doc["latest"]) if run_doc.get("latest") else None
    answer = latest.final_text if latest is not None and inp.status == "completed" else None
    calls = [{"round": c.get("round"), "callId": c["callId"], "name": c["name"], "arguments": c["arguments"],
              "output": c.get("output"), "ok": c.get("ok"), "error": c.get("error"),
              "durationMs": c.get("durationMs")} for c in calls_f.result()]
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
        "polls": inp.polls,
        "timings": {"receivedAt": message.received_at if message is not None else None,
                    "startedAt": inp.started_at, "runCreatedAt": inp.run_created_at,
                    "finishedAt": inp.finished_at},
    }
    written = turns.write_record(record)
    provider_ref = latest.conversation_ref if latest is not None and inp.status == "completed" else None
    following = services.conversations.complete_turn(inp.conversation_id, inp.turn, provider_ref) > inp.turn + 1
    next_instance = instance_id_for(inp.conversation_id, inp.turn + 1) if following else None
    return CheckpointResult(answer=answer, record_written=written, next_instance_id=next_instance,
                            status=inp.status)


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
            # The tool's activity failed even after retries: tell the model instead of failing the turn.
            output = '{"success": false, "error": "the tool failed to run (infrastructure error); try again later"}'
        outputs.append(ToolOutput(call_id=call.call_id, output=output))
    return outputs


async def _watch_and_record(services: Services, provider: Provider, conversation_id: str, turn: int,
                            state: RunState, wait_seconds: float, polls: int = 0) -> StepResult:
    """Poll every poll_interval_seconds while the run is queued/in_progress, for up to ``wait_seconds``."""
    interval = services.settings.poll_interval_seconds
    until = time.monotonic() + max(0.0, wait_seconds)
    retry_after: float | None = None
    while state.status in ACTIVE_STATUSES:
        remaining = until - time.monotonic()
        if remaining <= 0:
            break
        # A provider that pushes the run's end saves the wait for the next read (and the reads themselves).
        pushed = await provider.wait_for_end(state.ref, remaining)
        if pushed is not None:
            state = pushed
            polls += 1
            continue
        if time.monotonic() >= until:
            break
        await asyncio.sleep(min(interval, max(0.0, until - time.monotonic())))
        try:
            state = await provider.poll(state.ref)
        except TransientProviderError as exc:
            retry_after = exc.retry_after if exc.retry_after is not None else 1.0
            break  # the run is fine; the orchestration waits on a durable timer before reading again
        except PermanentProviderError as exc:
            return _error_result(exc, run_id=state.run_id, thread_id=state.thread_id, polls=polls + 1)
        polls += 1
    numbers: list[int] = []
    if state.status not in ACTIVE_STATUSES or polls == 0:
        numbers = await asyncio.to_thread(services.turns.record_run, conversation_id, turn, state)
    calls = [{"number": n, "name": c.name} for n, c in zip(numbers, state.tool_calls, strict=False)]
    return StepResult(status=state.status, run_id=state.run_id, thread_id=state.thread_id, tool_calls=calls,
                      error=state.error, retry_after=retry_after, polls=polls)


def _error_result(exc: ProviderError, run_id: str | None = None, thread_id: str | None = None,
                  polls: int = 0) -> StepResult:
    transient = isinstance(exc, TransientProviderError)
    retry_after = exc.retry_after if isinstance(exc, TransientProviderError) else None
    return StepResult(status="error", run_id=run_id, thread_id=thread_id, error=str(exc), transient=transient,
                      retry_after=retry_after, polls=polls)
