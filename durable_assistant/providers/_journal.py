"""Run a provider call that creates something at most once per step, using the step's journal."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from durable_assistant.providers._types import ProviderError, RunState, StepJournal

log = logging.getLogger("durable_assistant.providers")


async def create_once(journal: StepJournal, key: str, create: Callable[[], Awaitable[RunState]],
                      adopt: Callable[[str], Awaitable[RunState]],
                      discard: Callable[[RunState], Awaitable[object]]) -> RunState:
    """``create()`` unless the journal already names the run under ``key`` (then ``adopt`` it: one read).
    The new run id is journaled right after the provider answers, before anything else. If a racing attempt
    journaled another run first, ours is discarded (cancelled, best effort) and theirs adopted."""
    recorded = await journal.recall(key)
    if recorded is not None:
        return await adopt(recorded)
    state = await create()
    winner = await journal.record(key, state.run_id)
    if winner == state.run_id:
        return state
    log.warning("step %s: run %s lost the race to %s; cancelling it", key, state.run_id, winner)
    with contextlib.suppress(ProviderError):
        await discard(state)
    return await adopt(winner)
