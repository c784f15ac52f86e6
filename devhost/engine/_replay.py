"""Shadow replay: what DTFx + the extension's out-of-proc shim do with the actions of one invocation (spec 2.5).

The Python SDK is invoked once per episode and returns every action yielded since the execution began. DTFx then
replays the whole history while a shim walks those actions in order, awaiting each one. Sequence ids are taken
from one counter at the moment a piece of work is scheduled, and completion events run their continuations
(the shim's await, retry drivers, WhenAll/WhenAny) inline. Reproducing that walk is the only way to give every
task, retry timer and retry attempt the id the SDK expects.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from devhost.engine import _messages as msg
from devhost.engine._futures import (
    Coroutine,
    Future,
    completed_future,
    spawn,
    when_all,
    when_all_fail_fast,
    when_any,
)
from devhost.engine._state import (
    Action,
    CallActivity,
    CallSubOrchestrator,
    ContinueAsNew,
    CreateTimer,
    OrchestratorState,
    RetryPolicy,
    Unsupported,
    WaitForExternalEvent,
    WhenAll,
    WhenAny,
)
from devhost.model import EventType, HistoryEvent


class DecisionKind(enum.Enum):
    ACTIVITY = "activity"
    TIMER = "timer"
    SUB_ORCHESTRATION = "sub-orchestration"


_SCHEDULING_EVENTS = {
    EventType.TaskScheduled: DecisionKind.ACTIVITY,
    EventType.TimerCreated: DecisionKind.TIMER,
    EventType.SubOrchestrationInstanceCreated: DecisionKind.SUB_ORCHESTRATION,
}
_COMPLETION_EVENTS = {
    EventType.TaskCompleted: ("TaskScheduledId", True),
    EventType.TaskFailed: ("TaskScheduledId", False),
    EventType.SubOrchestrationInstanceCompleted: ("TaskScheduledId", True),
    EventType.SubOrchestrationInstanceFailed: ("TaskScheduledId", False),
    EventType.TimerFired: ("TimerId", True),
}
# The extension's MaxOrchestrationActions default (DurableTaskOptions).
DEFAULT_MAX_ORCHESTRATION_ACTIONS = 100_000

COMPLETION_EVENT_ID_FIELDS = {event_type: key for event_type, (key, _) in _COMPLETION_EVENTS.items()}


@dataclass
class Decision:
    """One piece of work the replay scheduled (DTFx ``OrchestratorAction``), keyed by its sequence id."""

    task_id: int
    kind: DecisionKind
    future: Future
    name: str = ""
    input_text: str | None = None
    fire_at: datetime | None = None
    instance_id: str | None = None
    canceled: bool = False
    recorded: bool = False  # a history row already records it

    @property
    def is_open(self) -> bool:
        """DTFx ``HasOpenTasks``: scheduled, not cancelled, result not yet arrived."""
        return not self.future.done

    def describe_with_payload(self) -> str:
        if self.kind is DecisionKind.TIMER:
            return f"{self.describe()} firing at {self.fire_at}"
        return f"{self.describe()} with input {self.input_text}"

    def describe(self) -> str:
        if self.kind is DecisionKind.ACTIVITY:
            return msg.describe_activity(self.task_id, self.name)
        if self.kind is DecisionKind.TIMER:
            return msg.describe_timer(self.task_id)
        return msg.describe_sub_orchestration(self.task_id, self.name, self.instance_id)


class NonDeterminismError(Exception):
    """A history row does not match what the current code scheduled with that sequence id."""


@dataclass
class ReplayContext:
    """What the replay needs to know about the instance besides the history and the actions."""

    instance_id: str
    execution_id: str
    parent_instance_id: str | None
    function_exists: Callable[[str, str], bool]
    known_functions: Callable[[str], Sequence[str]] | None = None
    max_actions: int = DEFAULT_MAX_ORCHESTRATION_ACTIONS
    sdk_semantics: bool = False
    """Replay as the Python SDK sees it (fail-fast task_all, cancelled timers stay pending, no host checks):
    used only to detect where the SDK and DTFx assign different ids."""


@dataclass
class ShadowReplay:
    """Replays one execution's history against the actions of one OrchestratorState."""

    state: OrchestratorState
    context: ReplayContext
    now: datetime | None = None
    sequence: int = 0
    decisions: dict[int, Decision] = field(default_factory=dict)
    fault: str | None = None
    continue_as_new: ContinueAsNew | None = None
    carryover_events: list[HistoryEvent] = field(default_factory=list)
    _shim: Future | None = None
    _action_count: int = 0  # the extension counts every activity/sub-orchestration call and durable timer
    _shim_position: int = 0  # index of the top-level action the shim is awaiting
    _shim_awaiting: Future | None = None
    _when_all_children: dict[Future, list[Future]] = field(default_factory=dict)
    _waiters: dict[str, list[Future]] = field(default_factory=dict)  # stacks, newest last
    _buffered_events: dict[str, deque[HistoryEvent]] = field(default_factory=dict)  # queues, oldest first

    # ----- results -------------------------------------------------------------------------------------------
    @property
    def shim_finished(self) -> bool:
        return self.fault is not None or (self._shim is not None and self._shim.done)

    @property
    def has_open_tasks(self) -> bool:
        return any(decision.is_open for decision in self.decisions.values())

    def divergence_warnings(self) -> list[str]:
        """Situations where the Python SDK and DTFx are known to part ways (reported, not corrected)."""
        awaiting = self._shim_awaiting
        if self.shim_finished or awaiting is None or awaiting.done:
            return []
        children = self._when_all_children.get(awaiting, [])
        later = len(self.state.actions) - self._shim_position - 1
        if later > 0 and any(child.done and not child.succeeded for child in children):
            return [msg.task_all_fails_fast(later)]
        return []

    def first_id_divergence(self, sdk_view: ShadowReplay) -> str | None:
        """Compare with a replay under SDK semantics: the first id the two assign to different work."""
        for task_id in sorted(self.decisions.keys() & sdk_view.decisions.keys()):
            ours, theirs = self.decisions[task_id], sdk_view.decisions[task_id]
            if ours.kind is not theirs.kind or ours.name.casefold() != theirs.name.casefold():
                return msg.id_divergence(ours.describe(), theirs.describe())
            # Same kind and name can still be different work (fan-outs call one activity many times).
            if (ours.input_text, ours.fire_at) != (theirs.input_text, theirs.fire_at):
                return msg.id_divergence(ours.describe_with_payload(), theirs.describe_with_payload())
        return None

    def new_decisions(self) -> list[Decision]:
        return [
            self.decisions[task_id]
            for task_id in sorted(self.decisions)
            if not self.decisions[task_id].recorded
        ]

    # ----- event walk ----------------------------------------------------------------------------------------
    def run(self, history: Sequence[HistoryEvent]) -> None:
        """Process every event in order; raises NonDeterminismError on a mismatching scheduling row."""
        for event in history:
            self._process(event)

    def _process(self, event: HistoryEvent) -> None:
        kind = event.event_type
        if kind is EventType.OrchestratorStarted:
            self.now = event.timestamp
        elif kind is EventType.ExecutionStarted:
            if self._shim is None:
                if self.now is None:
                    self.now = event.timestamp
                self._shim = spawn(self._run_shim())
        elif kind in _SCHEDULING_EVENTS:
            self._match_scheduling_event(event, _SCHEDULING_EVENTS[kind])
        elif kind in _COMPLETION_EVENTS:
            key, success = _COMPLETION_EVENTS[kind]
            decision = self.decisions.get(int(event.get(key, -1)))
            # A result for unknown or already completed work is ignored, as DTFx does (it logs a warning).
            if decision is not None:
                decision.future.resolve(success=success)
        elif kind is EventType.EventRaised:
            self._deliver_event(event)
        elif kind is EventType.EventSent and not self.context.sdk_semantics:
            raise NonDeterminismError(
                msg.nondeterministic(f"an entity or event message with sequence ID {event.event_id}", None)
            )

    def _match_scheduling_event(self, event: HistoryEvent, kind: DecisionKind) -> None:
        if self.context.sdk_semantics:
            return  # the SDK never checks scheduling rows
        recorded = _describe_recorded(event, kind)
        decision = self.decisions.get(event.event_id)
        if decision is None:
            raise NonDeterminismError(msg.nondeterministic(recorded, None))
        same_name = str(event.get("Name") or "").casefold() == decision.name.casefold()
        if decision.kind is not kind or (kind is not DecisionKind.TIMER and not same_name):
            raise NonDeterminismError(msg.nondeterministic(recorded, decision.describe()))
        decision.recorded = True

    def _deliver_event(self, event: HistoryEvent) -> None:
        if self.continue_as_new is not None:
            # DTFx (EventBehaviourForContinueAsNew.Carryover): events processed after ContinueAsNew move on.
            self.carryover_events.append(event)
            return
        key = str(event.get("Name") or "").casefold()  # .NET matches event names case-insensitively
        waiters = self._waiters.get(key)
        if waiters:
            # A stack, as in the extension: the newest waiter wins (a WhenAny loop abandons older ones), and
            # the SDK likewise resolves its most recent task for that name.
            waiters.pop().resolve(success=True)
        else:
            self._buffered_events.setdefault(key, deque()).append(event)

    # ----- the shim ------------------------------------------------------------------------------------------
    def _run_shim(self) -> Coroutine:
        for position, action in enumerate(self.state.actions):
            future = self._start(action)
            if self.fault is not None:
                return False
            self._shim_position, self._shim_awaiting = position, future
            yield future  # the shim swallows task failures; only completion matters
            if self.fault is not None:
                return False
        return True

    def _count_action(self) -> bool:
        """False (and the shim fails) once MaxOrchestrationActions is exceeded."""
        if self.context.sdk_semantics:
            return True
        if self._action_count >= self.context.max_actions:
            self._fail_shim(msg.too_many_actions(self.context.max_actions))
            return False
        self._action_count += 1
        return True

    def _start(self, action: Action) -> Future:
        if isinstance(action, CallActivity | CallSubOrchestrator | CreateTimer) and not self._count_action():
            return Future()
        if isinstance(action, CallActivity):
            activity = action
            if activity.retry is not None:
                return spawn(self._retry(lambda: self._schedule_activity(activity), activity.retry))
            return self._schedule_activity(activity)
        if isinstance(action, CallSubOrchestrator):
            sub = action
            if sub.retry is not None:
                return spawn(self._retry(lambda: self._schedule_sub_orchestration(sub), sub.retry))
            return self._schedule_sub_orchestration(sub)
        if isinstance(action, CreateTimer):
            return self._schedule_timer(action.fire_at, canceled=action.canceled)
        if isinstance(action, WaitForExternalEvent):
            return self._wait_for_event(action.name)
        if isinstance(action, ContinueAsNew):
            self.continue_as_new = action
            return completed_future(success=True)
        if isinstance(action, WhenAll | WhenAny):
            children: list[Future] = []
            for child in action.children:
                children.append(self._start(child))
                if self.fault is not None:
                    return Future()
            if isinstance(action, WhenAny):
                return when_any(children)
            combined = when_all_fail_fast(children) if self.context.sdk_semantics else when_all(children)
            self._when_all_children[combined] = children
            return combined
        assert isinstance(action, Unsupported)
        return self._fail_shim(msg.unsupported_action(action.description))

    def _fail_shim(self, message: str) -> Future:
        if self.fault is None:
            self.fault = message
        return Future()  # never completes: the shim stops here

    def _next_id(self) -> int:
        task_id = self.sequence
        self.sequence += 1
        return task_id

    def _current_time(self) -> datetime:
        assert self.now is not None, "ExecutionStarted is always preceded by OrchestratorStarted"
        return self.now

    def _function_missing(self, kind: str, name: str) -> bool:
        if self.context.sdk_semantics or self.context.function_exists(kind, name):
            return False
        known = self.context.known_functions(kind) if self.context.known_functions is not None else None
        self._fail_shim(msg.unknown_function(kind, name, known))
        return True

    def _schedule_activity(self, action: CallActivity) -> Future:
        if self._function_missing("activity", action.name):
            return Future()
        task_id = self._next_id()
        decision = Decision(
            task_id, DecisionKind.ACTIVITY, Future(), name=action.name, input_text=action.input_text
        )
        self.decisions[task_id] = decision
        return decision.future

    def _schedule_sub_orchestration(self, action: CallSubOrchestrator) -> Future:
        if self._function_missing("orchestrator", action.name):
            return Future()
        if action.instance_id is not None:
            problem = self._child_id_problem(action.instance_id)
            if problem is not None:
                return self._fail_shim(msg.invalid_child_instance_id(action.instance_id, problem))
        task_id = self._next_id()
        child_id = action.instance_id or f"{self.context.execution_id}:{task_id}"
        decision = Decision(
            task_id,
            DecisionKind.SUB_ORCHESTRATION,
            Future(),
            name=action.name,
            input_text=action.input_text,
            instance_id=child_id,
        )
        self.decisions[task_id] = decision
        return decision.future

    def _child_id_problem(self, child_id: str) -> str | None:
        # The extension's best-effort checks (case-insensitive, like .NET string comparison there).
        if child_id.startswith("@"):
            return "instance IDs starting with '@' are reserved for durable entities"
        related = {self.context.instance_id.casefold()}
        if self.context.parent_instance_id is not None:
            related.add(self.context.parent_instance_id.casefold())
        if child_id.casefold() in related:
            return "The instance ID of a sub-orchestration must be different than the instance ID of a parent orchestration."
        return None

    def _schedule_timer(self, fire_at: datetime, *, canceled: bool = False) -> Future:
        task_id = self._next_id()
        decision = Decision(task_id, DecisionKind.TIMER, Future(), fire_at=fire_at, canceled=canceled)
        self.decisions[task_id] = decision
        if canceled and not self.context.sdk_semantics:
            # DTFx still records the timer but cancels its task at once, so it never counts as open.
            decision.future.resolve(success=False)
        return decision.future

    def _wait_for_event(self, name: str) -> Future:
        key = name.casefold()
        buffered = self._buffered_events.get(key)
        if buffered:
            buffered.popleft()
            return completed_future(success=True)
        future = Future()
        self._waiters.setdefault(key, []).append(future)
        return future

    def _retry(self, schedule_attempt: Callable[[], Future], policy: RetryPolicy) -> Coroutine:
        """DTFx RetryInterceptor: attempt, on failure a delay timer, then the next attempt; after the last
        failure one timer firing "now" (kept for history compatibility), then the last failure surfaces."""
        first_attempt_at = self._current_time()
        attempts = max(1, policy.max_number_of_attempts)
        for attempt in range(attempts):
            result = schedule_attempt()
            yield result
            if result.succeeded:
                return True
            if self.fault is not None:
                return False
            if attempt + 1 == attempts:
                yield self._schedule_timer(self._current_time())
                break
            delay = _next_delay(policy, attempt, first_attempt_at, self._current_time())
            if delay is None:
                break
            yield self._schedule_timer(self._current_time() + delay)
        return False


def _next_delay(
    policy: RetryPolicy, attempt: int, first_attempt_at: datetime, now: datetime
) -> timedelta | None:
    if policy.retry_timeout_ms is not None and now >= first_attempt_at + timedelta(
        milliseconds=policy.retry_timeout_ms
    ):
        return None
    delay_ms = min(
        policy.first_retry_interval_ms * policy.backoff_coefficient**attempt, policy.max_retry_interval_ms
    )
    if delay_ms <= 0:
        return None
    return timedelta(milliseconds=delay_ms)


def _describe_recorded(event: HistoryEvent, kind: DecisionKind) -> str:
    name = str(event.get("Name") or "")
    if kind is DecisionKind.ACTIVITY:
        return msg.describe_activity(event.event_id, name)
    if kind is DecisionKind.TIMER:
        return msg.describe_timer(event.event_id)
    return msg.describe_sub_orchestration(event.event_id, name, event.get("InstanceId"))
