"""The turn's activities: thin wrappers that decode ONE dataclass-shaped JSON input, call the core step
and return a small JSON-ready dict. Provider steps are async so many concurrent turns share one event loop
while they watch their runs; tool and storage steps are sync (they run on the worker's thread pool)."""

from __future__ import annotations

from typing import Any

from azure import durable_functions as df

from durable_assistant import turn
from durable_assistant.turn import ActivityNames, get_services

bp = df.Blueprint()


async def create_run(payload: dict[str, Any]) -> dict[str, Any]:
    return (await turn.create_run(get_services(), turn.CreateRunInput.from_json(payload))).to_json()


async def watch_run(payload: dict[str, Any]) -> dict[str, Any]:
    return (await turn.watch_run(get_services(), turn.WatchRunInput.from_json(payload))).to_json()


def run_tool(payload: dict[str, Any]) -> dict[str, Any]:
    return turn.run_tool(get_services(), turn.RunToolInput.from_json(payload)).to_json()


async def submit_outputs(payload: dict[str, Any]) -> dict[str, Any]:
    return (await turn.submit_outputs(get_services(), turn.SubmitOutputsInput.from_json(payload))).to_json()


async def cancel_run(payload: dict[str, Any]) -> dict[str, Any]:
    return (await turn.cancel_run(get_services(), turn.CancelRunInput.from_json(payload))).to_json()


def checkpoint(payload: dict[str, Any]) -> dict[str, Any]:
    return turn.checkpoint(get_services(), turn.CheckpointInput.from_json(payload)).to_json()


# Registered by call (not decorator syntax) so mypy keeps the functions typed; names must equal ActivityNames.
for _activity in (create_run, watch_run, run_tool, submit_outputs, cancel_run, checkpoint):
    assert _activity.__name__ in vars(ActivityNames).values(), _activity.__name__
    bp.activity_trigger(input_name="payload")(_activity)
