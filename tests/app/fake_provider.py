"""A FAKE provider, in process, for unit tests of the turn's steps: scripted run states, and a count of every
call, so a test can tell whether a step called the provider again. It journals like the real adapters."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

from durable_assistant.providers import (
    RESPONSE_STEP_KEY,
    ObjectsDeleted,
    PermanentProviderError,
    ProviderObjects,
    RunRef,
    RunRequest,
    RunState,
    StepJournal,
    ToolCall,
    ToolOutput,
    create_once,
)


@dataclass
class FakeProvider:
    """Each created run starts ``queued``; ``finish`` sets where a run stands. Runs asked for tools
    (``tool_calls``) end in requires_action; submitted outputs start a new run that ends ``completed``."""

    tool_calls: list[ToolCall] = field(default_factory=list)
    runs: dict[str, RunState] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    submitted: dict[str, list[ToolOutput]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    answers: set[str] = field(default_factory=set)
    """Runs started by submitted outputs: they answer instead of asking for tools."""

    def finish(self, run_id: str) -> RunState:
        if self.tool_calls and run_id not in self.answers:
            done = RunState("requires_action", run_id, tool_calls=list(self.tool_calls), provider_ids=[run_id],
                            step_key=self.runs[run_id].step_key)
        else:
            done = RunState("completed", run_id, conversation_ref=run_id, final_text=f"answer of {run_id}",
                            provider_ids=[run_id])
        self.runs[run_id] = done
        return done

    def _new(self, step_key: str) -> RunState:
        run_id = f"run_{next(self._ids)}"
        self.runs[run_id] = RunState("queued", run_id, provider_ids=[run_id], step_key=step_key)
        return self.runs[run_id]

    async def create_run(self, request: RunRequest, journal: StepJournal) -> RunState:
        async def create() -> RunState:
            self.calls["create"] += 1
            return self._new(journal.key)

        return await create_once(journal, RESPONSE_STEP_KEY, create, self._adopt, self.cancel_state)

    async def _adopt(self, run_id: str) -> RunState:
        return await self.poll(RunRef(run_id))

    async def cancel_state(self, state: RunState) -> RunState:
        return await self.cancel(state.ref)

    async def poll(self, run: RunRef) -> RunState:
        self.calls["poll"] += 1
        if run.run_id not in self.runs:
            raise PermanentProviderError(f"no run {run.run_id!r}", 404)
        return self.runs[run.run_id]

    async def wait_for_end(self, run: RunRef, seconds: float) -> RunState | None:
        return None

    async def submit_tool_outputs(self, run: RunRef, outputs: list[ToolOutput], journal: StepJournal) -> RunState:
        async def submit() -> RunState:
            self.calls["submit"] += 1
            self.submitted[run.run_id] = outputs
            state = self._new(journal.key)
            self.answers.add(state.run_id)
            return state

        return await create_once(journal, RESPONSE_STEP_KEY, submit, self._adopt, self.cancel_state)

    async def cancel(self, run: RunRef) -> RunState:
        self.calls["cancel"] += 1
        state = self.runs[run.run_id]
        if state.status in ("queued", "in_progress", "requires_action"):
            state = RunState("cancelled", run.run_id, provider_ids=[run.run_id])
            self.runs[run.run_id] = state
        return state

    async def delete_objects(self, objects: ProviderObjects) -> ObjectsDeleted:
        self.calls["delete"] += len(objects.runs)
        present = sorted(r for r in objects.runs if r in self.runs)
        for run_id in present:
            del self.runs[run_id]
        return ObjectsDeleted(deleted=tuple(present), missing=tuple(sorted(objects.runs - set(present))))

    async def close(self) -> None:
        return None
