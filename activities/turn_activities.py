"""The turn's activities: thin wrappers that decode ONE dataclass-shaped JSON input, call the core step
and return a small JSON-ready dict. Each is short (one provider call plus at most a first look of about a
second) and reports every failure as a value, so the orchestration retries on durable timers.

Parameter and return annotations use ``typing.Dict``/``Any`` on purpose: the Azure Functions Python worker
refuses a built-in generic such as ``dict[str, Any]`` on a binding parameter and then loads no function."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Dict  # noqa: UP035 -- the worker's binding check needs typing.Dict, see above

import azure.durable_functions as df

from durable_assistant import contracts, steps
from durable_assistant.contracts import TURN_READY_EVENT, ActivityNames, StepResult
from durable_assistant.services import get_services

bp = df.Blueprint()
log = logging.getLogger("durable_assistant.activities")
Json = Dict[str, Any]  # noqa: UP006


async def _step(name: str, work: Awaitable[StepResult]) -> Json:
    """Run a provider step; an exception (a storage hiccup, a bug) becomes a transient error value."""
    try:
        result = await work
    except Exception as exc:
        log.warning("%s failed: %s: %s", name, type(exc).__name__, exc)
        result = StepResult(status="error", error=f"{name} failed: {type(exc).__name__}: {exc}"[:500],
                            transient=True)
    return result.to_json()


async def create_run(payload: Json, client: df.DurableOrchestrationClient) -> Json:
    services, inp = get_services(), contracts.CreateRunInput.from_json(payload)

    async def create() -> StepResult:
        result = await steps.create_run(services, inp)
        if result.status != "not_ready":
            return result

        async def runtime_status(instance_id: str) -> str | None:
            status = await client.get_status(instance_id)
            return status.runtime_status.value if status and status.runtime_status else None

        # A turn terminated by an operator never checkpoints: release the conversation rather than wait forever.
        if await steps.release_abandoned_turn(services, inp.conversation_id, inp.turn, runtime_status):
            return await steps.create_run(services, inp)
        return result

    return await _step(ActivityNames.CREATE_RUN, create())


async def poll_run(payload: Json) -> Json:
    return await _step(ActivityNames.POLL_RUN, steps.poll_run(get_services(), contracts.PollRunInput.from_json(payload)))


def run_tool(payload: Json) -> Json:
    inp = contracts.RunToolInput.from_json(payload)
    try:
        return steps.run_tool(get_services(), inp).to_json()
    except Exception as exc:  # the step reports its own failures; this covers the unexpected
        return contracts.ToolRunResult(number=inp.number, ok=False, retry=True, error=f"{type(exc).__name__}: {exc}"[:500]).to_json()


async def submit_outputs(payload: Json) -> Json:
    inp = contracts.SubmitOutputsInput.from_json(payload)
    return await _step(ActivityNames.SUBMIT_OUTPUTS, steps.submit_outputs(get_services(), inp))


async def cancel_run(payload: Json) -> Json:
    inp = contracts.CancelRunInput.from_json(payload)
    return await _step(ActivityNames.CANCEL_RUN, steps.cancel_run(get_services(), inp))


def request_approvals(payload: Json) -> Json:
    return steps.request_approvals(get_services(), contracts.RequestApprovalsInput.from_json(payload)).to_json()


def settle_approvals(payload: Json) -> Json:
    return steps.settle_approvals(get_services(), contracts.SettleApprovalsInput.from_json(payload)).to_json()


async def checkpoint(payload: Json, client: df.DurableOrchestrationClient) -> Json:
    inp = contracts.CheckpointInput.from_json(payload)
    result = await asyncio.to_thread(steps.checkpoint, get_services(), inp)
    if result.next_instance_id is not None:
        # Wake the next turn now instead of at its next check. Best effort: it may not have started yet
        # (it then finds the conversation ready on its first check) or may already be past waiting.
        try:
            await client.raise_event(result.next_instance_id, TURN_READY_EVENT, {"after": inp.turn})
        except Exception as exc:
            log.info("could not wake %s: %s", result.next_instance_id, exc)
    return result.to_json()


# Registered by call (not decorator syntax) so mypy keeps the functions typed; names must equal ActivityNames.
for _activity in (poll_run, run_tool, submit_outputs, cancel_run, request_approvals, settle_approvals):
    bp.activity_trigger(input_name="payload")(_activity)
for _client_activity in (create_run, checkpoint):
    bp.activity_trigger(input_name="payload")(bp.durable_client_input(client_name="client")(_client_activity))
_names = {f.__name__ for f in (create_run, poll_run, run_tool, submit_outputs, cancel_run, checkpoint,
                               request_approvals, settle_approvals)}
if _names != {v for k, v in vars(ActivityNames).items() if not k.startswith("_")}:
    raise RuntimeError(f"activity functions {sorted(_names)} do not match ActivityNames")
