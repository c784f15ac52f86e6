"""The turn's activities: thin wrappers that decode ONE dataclass-shaped JSON input, call the core step
and return a small JSON-ready dict. Provider steps are async so many concurrent turns share one event loop
while they watch their runs; tool and storage steps are sync (they run on the worker's thread pool)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict  # noqa: UP035 (see Payload)

import azure.durable_functions as df

from durable_assistant import turn
from durable_assistant.turn import TURN_READY_EVENT, ActivityNames, get_services

bp = df.Blueprint()
log = logging.getLogger("durable_assistant.activities")

# The Python worker accepts a class or a typing generic as a binding's annotation but refuses a built-in generic
# such as dict[str, Any] ("invalid non-type annotation", azure-functions-python-worker issue 1034): one refused
# function fails the whole app's indexing in Azure. Keep binding parameters annotated with this alias.
Payload = Dict[str, Any]  # noqa: UP006


async def create_run(payload: Payload, client: df.DurableOrchestrationClient) -> dict[str, Any]:
    services, inp = get_services(), turn.CreateRunInput.from_json(payload)
    result = await turn.create_run(services, inp)
    if result.status == "not_ready":

        async def runtime_status(instance_id: str) -> str | None:
            status = await client.get_status(instance_id)
            return status.runtime_status.value if status and status.runtime_status else None

        # A turn terminated by an operator never checkpoints: release the conversation rather than wait forever.
        if await turn.release_abandoned_turn(services, inp.conversation_id, inp.turn, runtime_status):
            result = await turn.create_run(services, inp)
    return result.to_json()


async def watch_run(payload: Payload) -> dict[str, Any]:
    return (await turn.watch_run(get_services(), turn.WatchRunInput.from_json(payload))).to_json()


def run_tool(payload: Payload) -> dict[str, Any]:
    return turn.run_tool(get_services(), turn.RunToolInput.from_json(payload)).to_json()


async def submit_outputs(payload: Payload) -> dict[str, Any]:
    return (await turn.submit_outputs(get_services(), turn.SubmitOutputsInput.from_json(payload))).to_json()


async def cancel_run(payload: Payload) -> dict[str, Any]:
    return (await turn.cancel_run(get_services(), turn.CancelRunInput.from_json(payload))).to_json()


async def checkpoint(payload: Payload, client: df.DurableOrchestrationClient) -> dict[str, Any]:
    result = await asyncio.to_thread(turn.checkpoint, get_services(), turn.CheckpointInput.from_json(payload))
    if result.next_instance_id is not None:
        # Wake the next turn now instead of at its next check. Best effort: it may not have started yet
        # (it then finds the conversation ready on its first check) or may already be past waiting.
        try:
            await client.raise_event(result.next_instance_id, TURN_READY_EVENT, {"after": payload.get("turn")})
        except Exception as exc:
            log.info("could not wake %s: %s", result.next_instance_id, exc)
    return result.to_json()


# Registered by call (not decorator syntax) so mypy keeps the functions typed; names must equal ActivityNames.
for _activity in (watch_run, run_tool, submit_outputs, cancel_run):
    bp.activity_trigger(input_name="payload")(_activity)
for _client_activity in (create_run, checkpoint):
    bp.activity_trigger(input_name="payload")(bp.durable_client_input(client_name="client")(_client_activity))
_names = {f.__name__ for f in (create_run, watch_run, run_tool, submit_outputs, cancel_run, checkpoint)}
if _names != {v for k, v in vars(ActivityNames).items() if not k.startswith("_")}:
    raise RuntimeError(f"activity functions {sorted(_names)} do not match ActivityNames")
