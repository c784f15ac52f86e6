"""A minimal in-memory host around the pure engine, for tests: the "rest of devhost" simulated in one process.

It runs real orchestrator functions through the real azure-functions-durable SDK (called exactly like the worker
does, spec 1.5), keeps instances in dicts instead of Azure Storage, runs activities in-process, and uses a
virtual clock so timers fire instantly. Tests either let it run to quiescence or deliver events by hand.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.decorators.metadata import ActivityTrigger, OrchestrationTrigger

from devhost import engine
from devhost.model import EventType, HistoryEvent, RuntimeStatus, compact_json

T0 = datetime(2026, 1, 1, tzinfo=UTC)


_FunctionTable = dict[str, Callable[..., Any]]
_INDEXED: dict[int, tuple[_FunctionTable, _FunctionTable]] = {}


def _index(app: df.DFApp) -> tuple[_FunctionTable, _FunctionTable]:
    """Orchestrators and activities by lower-cased durable name (``get_functions`` may run once per app)."""
    if id(app) not in _INDEXED:
        orchestrators: _FunctionTable = {}
        activities: _FunctionTable = {}
        for function in app.get_functions():
            trigger = function.get_trigger()
            if isinstance(trigger, OrchestrationTrigger):
                name = trigger.orchestration or function.get_function_name()
                orchestrators[name.lower()] = function.get_user_function()
            elif isinstance(trigger, ActivityTrigger):
                name = trigger.activity or function.get_function_name()
                activities[name.lower()] = function.get_user_function()
        _INDEXED[id(app)] = (orchestrators, activities)
    return _INDEXED[id(app)]


@dataclass
class StoredInstance:
    instance_id: str
    name: str
    execution_id: str
    history: list[HistoryEvent] = field(default_factory=list)
    status: RuntimeStatus = RuntimeStatus.Pending
    output: str | None = None
    custom_status: str | None = None
    input_text: str | None = None
    parent: dict[str, Any] | None = None
    outcomes: list[engine.EpisodeOutcome] = field(default_factory=list)


@dataclass
class PendingTimer:
    instance_id: str
    timer_id: int
    fire_at: datetime


class InMemoryHost:
    """Indexes a DFApp's functions and drives episodes through ``devhost.engine.run_episode``."""

    def __init__(self, app: df.DFApp) -> None:
        orchestrators, activities = _index(app)
        # Copies, so a test can swap in new code for an orchestrator (non-determinism tests).
        self.orchestrators, self.activities = dict(orchestrators), dict(activities)
        self.now = T0
        self.instances: dict[str, StoredInstance] = {}
        self.inbox: dict[str, list[HistoryEvent]] = defaultdict(list)
        self.pending_activities: list[tuple[str, engine.ActivityRequest]] = []
        self.pending_timers: list[PendingTimer] = []
        self._ids = (f"{n:032x}" for n in itertools.count(1))
        self.invocations = 0
        self.max_orchestration_actions = 100_000

    # ----- client operations ---------------------------------------------------------------------------------
    def start(self, name: str, input_value: Any = None, *, instance_id: str = "inst") -> str:
        # Like client.start_new: df_dumps, then the HTTP client JSON-encodes that text again (spec 2.10).
        input_text = compact_json(json.dumps(input_value))
        execution_id = next(self._ids)
        self.instances[instance_id] = StoredInstance(instance_id, name, execution_id, input_text=input_text)
        self.send(
            instance_id,
            engine.execution_started(
                name=name,
                instance_id=instance_id,
                execution_id=execution_id,
                input_text=input_text,
                timestamp=self.now,
            ),
        )
        return instance_id

    def send(self, instance_id: str, event: HistoryEvent) -> None:
        self.inbox[instance_id].append(event)

    def raise_event(self, instance_id: str, name: str, payload: Any) -> None:
        self.send(instance_id, engine.event_raised(name, json.dumps(payload), timestamp=self.now))

    # ----- the engine's callbacks ----------------------------------------------------------------------------
    def invoke(self, name: str, body: str) -> engine.InvocationResult:
        self.invocations += 1
        orchestrator = self.orchestrators[name.lower()]
        try:
            # Exactly like the worker: keyword = the trigger's parameter name, value = OrchestrationContext.
            result = orchestrator(context=func.OrchestrationContext(body))
        except Exception as exc:
            return engine.parse_invocation(exc)
        return engine.parse_invocation(result)

    def function_exists(self, kind: str, name: str) -> bool:
        table = self.activities if kind == "activity" else self.orchestrators
        return name.lower() in table

    def known_functions(self, kind: str) -> list[str]:
        return sorted(self.activities if kind == "activity" else self.orchestrators)

    # ----- episodes ------------------------------------------------------------------------------------------
    def run_episode(self, instance_id: str) -> engine.EpisodeOutcome:
        """Deliver every queued message of one instance in one episode and apply the outcome."""
        stored = self.instances[instance_id]
        messages = self.inbox.pop(instance_id, [])
        self.now += timedelta(seconds=1)
        outcome = engine.run_episode(
            instance=engine.EpisodeInput(
                instance_id=instance_id,
                name=stored.name,
                execution_id=stored.execution_id,
                history=stored.history,
                input_text=stored.input_text,
                parent=stored.parent,
                custom_status=stored.custom_status,
            ),
            messages=messages,
            now=self.now,
            invoke=self.invoke,
            function_exists=self.function_exists,
            new_execution_id=lambda: next(self._ids),
            known_functions=self.known_functions,
            max_orchestration_actions=self.max_orchestration_actions,
        )
        self._apply(stored, outcome)
        return outcome

    def _apply(self, stored: StoredInstance, outcome: engine.EpisodeOutcome) -> None:
        stored.outcomes.append(outcome)
        if not outcome.changed:
            return
        stored.history = outcome.history
        stored.execution_id = outcome.execution_id
        stored.input_text = outcome.input_text
        stored.status = outcome.runtime_status
        stored.custom_status = outcome.custom_status
        if outcome.output is not None:
            stored.output = outcome.output
        self.pending_activities += [(stored.instance_id, request) for request in outcome.activities]
        self.pending_timers += [
            PendingTimer(stored.instance_id, t.timer_id, t.fire_at) for t in outcome.timers
        ]
        for child in outcome.sub_orchestrations:
            child_execution = next(self._ids)
            parent = engine.parent_instance(
                name=stored.name,
                instance_id=stored.instance_id,
                execution_id=outcome.execution_id,
                task_scheduled_id=child.task_id,
            )
            self.instances[child.instance_id] = StoredInstance(
                child.instance_id, child.name, child_execution, input_text=child.input_text, parent=parent
            )
            self.send(
                child.instance_id,
                engine.execution_started(
                    name=child.name,
                    instance_id=child.instance_id,
                    execution_id=child_execution,
                    input_text=child.input_text,
                    parent=parent,
                    timestamp=self.now,
                ),
            )
        if outcome.parent_notification is not None:
            self.send(outcome.parent_notification.instance_id, outcome.parent_notification.event)

    # ----- work ----------------------------------------------------------------------------------------------
    def run_activity(self, instance_id: str, request: engine.ActivityRequest) -> None:
        """Run one activity like the worker (df_loads of the input, compact JSON result) and send the result."""
        self.pending_activities.remove((instance_id, request))
        function = self.activities[request.name.lower()]
        argument = None if request.input_text is None else json.loads(request.input_text)
        try:
            value = function(argument)
        except Exception as exc:
            self.send(
                instance_id,
                engine.activity_failed(request.task_id, request.name, f"{type(exc).__name__}: {exc}"),
            )
            return
        result = None if value is None else compact_json(value)
        self.send(instance_id, engine.activity_completed(request.task_id, result, timestamp=self.now))

    def fire_timer(self, timer: PendingTimer) -> None:
        self.pending_timers.remove(timer)
        self.now = max(self.now, timer.fire_at)
        self.send(timer.instance_id, engine.timer_fired(timer.timer_id, timer.fire_at, timestamp=self.now))

    def run_until_idle(self, *, max_steps: int = 500) -> None:
        """Episodes first, then all pending activities, then the earliest timer; until nothing is left."""
        for _ in range(max_steps):
            ready = [instance_id for instance_id, events in self.inbox.items() if events]
            if ready:
                self.run_episode(ready[0])
            elif self.pending_activities:
                for instance_id, request in list(self.pending_activities):
                    self.run_activity(instance_id, request)
            elif self.pending_timers:
                self.fire_timer(min(self.pending_timers, key=lambda t: (t.fire_at, t.timer_id)))
            else:
                return
        raise AssertionError("the orchestration did not settle")


def timeline(history: list[HistoryEvent]) -> list[str]:
    """A compact, readable rendering of a history for exact assertions."""
    rendered = []
    for event in history:
        kind = event.event_type
        if kind in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated):
            rendered.append(f"{kind.name}#{event.event_id}:{event.get('Name')}")
        elif kind is EventType.TimerCreated:
            rendered.append(f"TimerCreated#{event.event_id}")
        elif kind in (
            EventType.TaskCompleted,
            EventType.TaskFailed,
            EventType.SubOrchestrationInstanceCompleted,
            EventType.SubOrchestrationInstanceFailed,
        ):
            rendered.append(f"{kind.name}->{event.get('TaskScheduledId')}")
        elif kind is EventType.TimerFired:
            rendered.append(f"TimerFired->{event.get('TimerId')}")
        elif kind is EventType.ExecutionCompleted:
            rendered.append(f"ExecutionCompleted#{event.event_id}:{event.get('OrchestrationStatus')}")
        elif kind is EventType.EventRaised:
            rendered.append(f"EventRaised:{event.get('Name')}")
        else:
            rendered.append(kind.name)
    return rendered
