"""One orchestration episode: messages in, new history rows + outbound work + instance status out (spec 2.5, 2.9).

Pure: storage, the clock and id generation belong to the caller (``now`` and ``new_execution_id`` are passed in),
and the orchestrator function is reached only through the ``invoke`` callback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devhost.engine import _messages as msg
from devhost.engine._events import execution_started, sub_orchestration_completed, sub_orchestration_failed
from devhost.engine._history import (
    execution_id_of,
    filter_messages,
    input_text_of,
    mark_played,
    new_event,
    recorded_sequence,
    status_of,
)
from devhost.engine._invocation import Invoker, build_context_json
from devhost.engine._replay import (
    DEFAULT_MAX_ORCHESTRATION_ACTIONS,
    Decision,
    DecisionKind,
    NonDeterminismError,
    ReplayContext,
    ShadowReplay,
)
from devhost.engine._state import InvalidOrchestratorState, OrchestratorState, parse_state
from devhost.engine._types import (
    ActivityRequest,
    DroppedMessage,
    EpisodeInput,
    EpisodeOutcome,
    FunctionExists,
    ParentNotification,
    SubOrchestrationRequest,
    TimerRequest,
)
from devhost.model import EventType, HistoryEvent, RuntimeStatus, compact_json

# A runaway orchestrator that continues-as-new without ever waiting would otherwise loop forever in one episode.
MAX_CONTINUE_AS_NEW_PER_EPISODE = 1000


def run_episode(
    *,
    instance: EpisodeInput,
    messages: list[HistoryEvent],
    now: datetime,
    invoke: Invoker,
    function_exists: FunctionExists,
    new_execution_id: Callable[[], str],
    known_functions: Callable[[str], Sequence[str]] | None = None,
    max_orchestration_actions: int = DEFAULT_MAX_ORCHESTRATION_ACTIONS,
) -> EpisodeOutcome:
    """Run one episode of one instance (see the package docstring for the rules).

    ``max_orchestration_actions`` is host.json ``extensions.durableTask.maxOrchestrationActions``.
    """
    episode = _Episode(instance, now, invoke, function_exists, new_execution_id, known_functions)
    episode.max_actions = max_orchestration_actions
    return episode.run(messages)


def _custom_status_text(state: OrchestratorState, previous: str) -> tuple[str, str | None]:
    """The custom status to store and, when it is too large, the failure it causes."""
    if not state.has_custom_status:
        return previous, None
    text = compact_json(state.custom_status)
    size = len(text.encode("utf-16-le"))
    if size > msg.CUSTOM_STATUS_MAX_UTF16_BYTES:
        return previous, msg.custom_status_too_large(size)
    return text, None


@dataclass
class _Identity:
    """The execution-scoped facts taken from ExecutionStarted."""

    name: str
    execution_id: str
    input_text: str | None
    parent: dict[str, Any] | None
    generation: int

    @property
    def parent_instance_id(self) -> str | None:
        if not self.parent:
            return None
        return str((self.parent.get("OrchestrationInstance") or {}).get("InstanceId")) or None

    @property
    def parent_execution_id(self) -> str | None:
        if not self.parent:
            return None
        value = (self.parent.get("OrchestrationInstance") or {}).get("ExecutionId")
        return str(value) if value is not None else None


class _Episode:
    def __init__(
        self,
        instance: EpisodeInput,
        now: datetime,
        invoke: Invoker,
        function_exists: FunctionExists,
        new_execution_id: Callable[[], str],
        known_functions: Callable[[str], Sequence[str]] | None,
    ) -> None:
        self.instance = instance
        self.now = now
        self.invoke = invoke
        self.function_exists = function_exists
        self.new_execution_id = new_execution_id
        self.known_functions = known_functions
        self.max_actions = DEFAULT_MAX_ORCHESTRATION_ACTIONS
        self.custom_status = instance.custom_status or "null"
        self.invocations = 0

    # ----- entry point ---------------------------------------------------------------------------------------
    def run(self, messages: list[HistoryEvent]) -> EpisodeOutcome:
        history = list(self.instance.history)
        dropped: list[DroppedMessage] = []
        restart = self._restart_position(history, messages)
        if restart is not None:
            # A finished instance id started again: a new execution replaces the old history (RowKeys from 0).
            status, _ = status_of(history)
            dropped += [DroppedMessage(e, f"instance is {status.value}") for e in messages[:restart]]
            history, messages = [], messages[restart:]
        accepted, duplicates = filter_messages(history, messages)
        dropped += duplicates
        status, _ = status_of(history)
        was_suspended = status is RuntimeStatus.Suspended
        if status.is_terminal:
            dropped += [DroppedMessage(e, f"instance is {status.value}") for e in accepted]
            accepted = []
        elif not history and not any(e.event_type is EventType.ExecutionStarted for e in accepted):
            dropped += [DroppedMessage(e, "instance has not started") for e in accepted]
            accepted = []
        if not accepted:
            return self._unchanged(history, status, dropped)

        if not history:
            # The SDK expects ExecutionStarted right after the first OrchestratorStarted (it reads history[1]).
            accepted.sort(key=lambda e: e.event_type is not EventType.ExecutionStarted)
        first_new_index = len(history)
        new_events = [dataclasses.replace(e, is_played=False, fields=dict(e.fields)) for e in accepted]
        history += [new_event(EventType.OrchestratorStarted, self.now), *new_events]
        identity = self._identity(history)

        terminated = next((e for e in new_events if e.event_type is EventType.ExecutionTerminated), None)
        if terminated is not None:
            return self._terminate(history, first_new_index, identity, terminated, dropped)

        status, suspend_reason = status_of(history)
        if status is RuntimeStatus.Suspended:
            # While suspended, events are recorded but the orchestrator does not run (spec 2.9).
            history.append(new_event(EventType.OrchestratorCompleted, self.now))
            outcome = self._outcome(history, first_new_index, identity, RuntimeStatus.Suspended, dropped)
            outcome.output = suspend_reason
            return outcome

        resumed = [e for e in new_events if e.event_type is EventType.ExecutionResumed]
        outcome = self._execute(history, first_new_index, identity, new_events, dropped)
        resumed_now = was_suspended and bool(resumed)
        if resumed_now and outcome.runtime_status is RuntimeStatus.Running and outcome.continued_as_new == 0:
            outcome.output = resumed[-1].get("Reason")  # the provider overwrites Output with the reason
        return outcome

    @staticmethod
    def _restart_position(history: Sequence[HistoryEvent], messages: Sequence[HistoryEvent]) -> int | None:
        """Index of an ExecutionStarted that begins a new execution of a terminal instance, if any."""
        status, _ = status_of(history)
        if not history or not status.is_terminal:
            return None
        current = execution_id_of(history)
        for index in range(len(messages) - 1, -1, -1):
            event = messages[index]
            if event.event_type is EventType.ExecutionStarted and execution_id_of([event]) not in (
                None,
                current,
            ):
                return index
        return None

    # ----- outcomes ------------------------------------------------------------------------------------------
    def _identity(self, history: Sequence[HistoryEvent]) -> _Identity:
        started = next((e for e in history if e.event_type is EventType.ExecutionStarted), None)
        if started is None:
            return _Identity(
                self.instance.name,
                self.instance.execution_id or "",
                self.instance.input_text,
                self.instance.parent,
                self.instance.generation,
            )
        orchestration = started.get("OrchestrationInstance") or {}
        return _Identity(
            name=str(started.get("Name") or self.instance.name),
            execution_id=str(orchestration.get("ExecutionId") or self.instance.execution_id or ""),
            input_text=started.get("Input"),
            parent=started.get("ParentInstance") or None,
            generation=int(started.get("Generation") or 0),
        )

    def _unchanged(
        self, history: list[HistoryEvent], status: RuntimeStatus, dropped: list[DroppedMessage]
    ) -> EpisodeOutcome:
        """Nothing new: describe the stored state completely anyway. After a crash between the History write and
        the Instances write, the re-delivered (now duplicate) messages land here, and this outcome is what repairs
        the Instances row, so it must carry the output and completion time the finished history implies."""
        identity = self._identity(history)
        outcome = self._outcome(history, len(history), identity, status, dropped)
        completed = next((e for e in reversed(history) if e.event_type is EventType.ExecutionCompleted), None)
        if completed is not None:
            outcome.output = completed.get("Result")
            outcome.completed_time = completed.timestamp
        elif status is RuntimeStatus.Suspended:
            outcome.output = status_of(history)[1]
        return outcome

    def _outcome(
        self,
        history: list[HistoryEvent],
        first_new_index: int,
        identity: _Identity,
        status: RuntimeStatus,
        dropped: list[DroppedMessage],
    ) -> EpisodeOutcome:
        return EpisodeOutcome(
            instance_id=self.instance.instance_id,
            name=identity.name,
            execution_id=identity.execution_id,
            history=history,
            first_new_index=first_new_index,
            runtime_status=status,
            custom_status=self.custom_status,
            input_text=identity.input_text,
            generation=identity.generation,
            dropped_messages=dropped,
            invocations=self.invocations,
        )

    def _finish(
        self,
        history: list[HistoryEvent],
        first_new_index: int,
        identity: _Identity,
        dropped: list[DroppedMessage],
        *,
        status: RuntimeStatus,
        sequence: int,
        result: str | None,
        failure_details: str | None = None,
    ) -> EpisodeOutcome:
        """Append ExecutionCompleted + OrchestratorCompleted and build the terminal outcome."""
        history.append(
            new_event(
                EventType.ExecutionCompleted, self.now, sequence, OrchestrationStatus=status, Result=result
            )
        )
        history.append(new_event(EventType.OrchestratorCompleted, self.now))
        outcome = self._outcome(history, first_new_index, identity, status, dropped)
        outcome.output = result
        outcome.completed_time = self.now
        if identity.parent is not None and identity.parent_instance_id is not None:
            task_id = int(identity.parent.get("TaskScheduleId", -1))
            if status is RuntimeStatus.Completed:
                note = sub_orchestration_completed(task_id, result, timestamp=self.now)
            else:
                note = sub_orchestration_failed(task_id, result or "", failure_details, timestamp=self.now)
            outcome.parent_notification = ParentNotification(
                identity.parent_instance_id, identity.parent_execution_id, note
            )
        if status is RuntimeStatus.Failed:
            outcome.failure = result
        return outcome

    def _terminate(
        self,
        history: list[HistoryEvent],
        first_new_index: int,
        identity: _Identity,
        terminated: HistoryEvent,
        dropped: list[DroppedMessage],
    ) -> EpisodeOutcome:
        mark_played(history[first_new_index:])
        reason = terminated.get("Input")
        return self._finish(
            history,
            first_new_index,
            identity,
            dropped,
            status=RuntimeStatus.Terminated,
            sequence=recorded_sequence(history),
            result=reason,
        )

    # ----- running the orchestrator --------------------------------------------------------------------------
    def _execute(
        self,
        history: list[HistoryEvent],
        first_new_index: int,
        identity: _Identity,
        new_events: list[HistoryEvent],
        dropped: list[DroppedMessage],
    ) -> EpisodeOutcome:
        continued = 0
        while True:
            step = self._replay_once(history, identity)
            mark_played(new_events)
            if not step.continue_as_new:
                break
            continued += 1
            if continued > MAX_CONTINUE_AS_NEW_PER_EPISODE:
                step.failure = msg.orchestrator_failed(
                    identity.name,
                    f"devhost stopped the instance after {MAX_CONTINUE_AS_NEW_PER_EPISODE} continue-as-new calls "
                    "in one episode without waiting for anything",
                )
                step.continue_as_new = False
                break
            # A new execution: history restarts at row 0 (spec 2.9) and the orchestrator runs again at once.
            identity = _Identity(
                identity.name,
                self.new_execution_id(),
                step.next_input,
                identity.parent,
                identity.generation + 1,
            )
            started = execution_started(
                name=identity.name,
                instance_id=self.instance.instance_id,
                execution_id=identity.execution_id,
                input_text=identity.input_text,
                parent=identity.parent,
                generation=identity.generation,
                timestamp=self.now,
            )
            carried = [dataclasses.replace(e, is_played=False, fields=dict(e.fields)) for e in step.carryover]
            history = [
                new_event(EventType.OrchestratorStarted, self.now),
                started,
                *carried,
                new_event(EventType.OrchestratorCompleted, self.now),
            ]
            new_events = [started, *carried]
            first_new_index = 0

        outcome = self._settle(history, first_new_index, identity, step, dropped)
        outcome.continued_as_new = continued
        outcome.invocations = self.invocations
        outcome.warnings = step.warnings
        return outcome

    def _replay_once(self, history: list[HistoryEvent], identity: _Identity) -> _Step:
        """Invoke the orchestrator on ``history``, replay, append the new decision rows."""
        body = build_context_json(
            instance_id=self.instance.instance_id,
            history=history,
            input_text=identity.input_text,
            parent_instance_id=identity.parent_instance_id,
        )
        self.invocations += 1
        result = self.invoke(identity.name, body)
        if result.state is None:
            error = result.error or "the orchestrator returned nothing"
            return _Step(
                sequence=recorded_sequence(history), failure=msg.orchestrator_failed(identity.name, error)
            )
        try:
            state = parse_state(result.state)
        except InvalidOrchestratorState as exc:
            detail = f"devhost could not replay the orchestrator's reply: {exc}"
            return _Step(
                sequence=recorded_sequence(history), failure=msg.orchestrator_failed(identity.name, detail)
            )

        replay = ShadowReplay(
            state,
            ReplayContext(
                instance_id=self.instance.instance_id,
                execution_id=identity.execution_id,
                parent_instance_id=identity.parent_instance_id,
                function_exists=self.function_exists,
                known_functions=self.known_functions,
                max_actions=self.max_actions,
            ),
        )
        try:
            replay.run(history)
        except NonDeterminismError as exc:
            text = str(exc)
            return _Step(sequence=replay.sequence, failure=text, nondeterminism=text)

        step = _Step(sequence=replay.sequence, warnings=replay.divergence_warnings())
        divergence = self._id_divergence(replay, history)
        if divergence is not None:
            step.warnings.append(divergence)
        for decision in replay.new_decisions():
            step.record(decision, history, self.now)

        custom_status, custom_status_failure = _custom_status_text(state, self.custom_status)
        self.custom_status = custom_status
        if custom_status_failure is not None:
            step.failure = msg.orchestrator_failed(identity.name, custom_status_failure)
            step.sequence = replay.sequence
            return step

        if not replay.shim_finished or replay.has_open_tasks:
            return step  # still waiting (spec 2.5 rule 5)
        failure_text = replay.fault or state.error or result.error
        if failure_text is not None:
            step.failure = msg.orchestrator_failed(identity.name, failure_text)
            step.failure_details = msg.orchestrator_failure_details(failure_text)
        elif state.is_done and replay.continue_as_new is not None:
            step.continue_as_new = True
            step.next_input = input_text_of(replay.continue_as_new.input_text)
            step.carryover = replay.carryover_events
        elif state.is_done:
            step.result = compact_json(state.output if state.has_output else None)
            step.completed = True
        return step

    @staticmethod
    def _id_divergence(replay: ShadowReplay, history: list[HistoryEvent]) -> str | None:
        """Replay once more with the SDK's semantics; report the first id both sides assign differently."""
        sdk_view = ShadowReplay(replay.state, dataclasses.replace(replay.context, sdk_semantics=True))
        sdk_view.run(history)
        return replay.first_id_divergence(sdk_view)

    def _settle(
        self,
        history: list[HistoryEvent],
        first_new_index: int,
        identity: _Identity,
        step: _Step,
        dropped: list[DroppedMessage],
    ) -> EpisodeOutcome:
        if step.failure is not None:
            outcome = self._finish(
                history,
                first_new_index,
                identity,
                dropped,
                status=RuntimeStatus.Failed,
                sequence=step.sequence,
                result=step.failure,
                failure_details=step.failure_details,
            )
            outcome.nondeterminism = step.nondeterminism
            return outcome
        if step.completed:
            return self._finish(
                history,
                first_new_index,
                identity,
                dropped,
                status=RuntimeStatus.Completed,
                sequence=step.sequence,
                result=step.result,
            )
        history.append(new_event(EventType.OrchestratorCompleted, self.now))
        outcome = self._outcome(history, first_new_index, identity, RuntimeStatus.Running, dropped)
        outcome.activities = step.activities
        outcome.timers = step.timers
        outcome.sub_orchestrations = step.sub_orchestrations
        return outcome


@dataclass
class _Step:
    """The result of one invocation + replay of one execution."""

    sequence: int
    warnings: list[str] = field(default_factory=list)
    failure: str | None = None
    failure_details: str | None = None
    nondeterminism: str | None = None
    completed: bool = False
    result: str | None = None
    continue_as_new: bool = False
    next_input: str | None = None
    """ExecutionStarted.Input of the next execution after continue-as-new."""
    carryover: list[HistoryEvent] = field(default_factory=list)
    activities: list[ActivityRequest] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)
    sub_orchestrations: list[SubOrchestrationRequest] = field(default_factory=list)

    def record(self, decision: Decision, history: list[HistoryEvent], now: datetime) -> None:
        """Append the history row of a new decision and remember the work to send."""
        task_id = decision.task_id
        if decision.kind is DecisionKind.ACTIVITY:
            history.append(new_event(EventType.TaskScheduled, now, task_id, Name=decision.name, Version=""))
            self.activities.append(ActivityRequest(task_id, decision.name, decision.input_text))
        elif decision.kind is DecisionKind.TIMER:
            assert decision.fire_at is not None
            history.append(new_event(EventType.TimerCreated, now, task_id, FireAt=decision.fire_at))
            self.timers.append(TimerRequest(task_id, decision.fire_at))
        else:
            assert decision.instance_id is not None
            history.append(
                new_event(
                    EventType.SubOrchestrationInstanceCreated,
                    now,
                    task_id,
                    Name=decision.name,
                    Version="",
                    InstanceId=decision.instance_id,
                )
            )
            self.sub_orchestrations.append(
                SubOrchestrationRequest(
                    task_id, decision.name, decision.instance_id, input_text_of(decision.input_text)
                )
            )
