"""devhost's orchestration engine: what DurableTask.Core and the Durable extension's out-of-proc shim do for one
episode of one orchestration instance, with no I/O (spec: shared/reference/durable-functions-host.md §2, §3).

Public API
----------
``run_episode(*, instance, messages, now, invoke, function_exists, new_execution_id, known_functions=None,
max_orchestration_actions=100_000)``
    One episode: ``OrchestratorStarted(now)`` + the deduplicated ``messages`` are appended to
    ``instance.history``; the orchestrator is invoked ONCE with the full history through
    ``invoke(orchestrator_name, context_json)``; its actions are replayed against the whole history like DTFx (one
    sequence counter, the shim awaiting each action in order, completion events running continuations
    depth-first, host-side retries); new decisions become ``TaskScheduled`` / ``TimerCreated`` /
    ``SubOrchestrationInstanceCreated`` rows (ascending id) plus outbound work; the instance completes only when
    the orchestrator is done, the shim finished and no activity, timer or sub-orchestration is open.
    Returns an ``EpisodeOutcome``: write ``history[first_new_index:]`` (``changed`` is False when every message
    was dropped), send ``activities`` / ``timers`` / ``sub_orchestrations`` / ``parent_notification``, store
    ``runtime_status``, ``output`` (None = leave as is), ``custom_status``, ``input_text``, ``completed_time``.

    * Dropped (``dropped_messages``, with reasons): a ``message_id`` already in history, a second
      ExecutionStarted, a completion for a task that already has one or that this execution never scheduled,
      anything sent to a terminal instance or to an instance that has not started. Messages addressed to an
      older execution (continue-as-new) must be filtered by the caller.
    * Terminate (``execution_terminated``): Terminated at once, no invocation; a child notifies its parent.
    * Suspend/resume: while suspended, events are recorded and the orchestrator is not run (status Suspended,
      Output = reason); after resume the recorded events are replayed in order.
    * Continue-as-new: a new execution id from ``new_execution_id()``, history restarting at row 0 with
      ``[OrchestratorStarted, ExecutionStarted, (carried-over EventRaised...), OrchestratorCompleted]``, the
      orchestrator run again immediately (``continued_as_new`` counts them); custom status carried over.
    * Failures: ``"Orchestrator function '<name>' failed: <error>"``; non-determinism:
      ``"Non-Deterministic workflow detected: ..."`` (also in ``nondeterminism``); unknown functions: the
      extension's "doesn't exist" text (``known_functions(kind)`` lists the alternatives). Deliberate
      difference: with Python the real host swallows that error and the instance hangs forever
      (azure-functions-durable-python issue #132); devhost fails it instead.
    * ``warnings``: Python SDK / DTFx divergences (the real host has them too): a fail-fast ``task_all`` followed
      by more work, and any sequence id that DTFx and the SDK assign to different work (found by replaying a
      second time with the SDK's semantics). Behaviour stays that of the real host; log these.
    * Not supported: CallHttp and entities (call/signal) fail the orchestration with a message naming the gap.

``build_context_json(*, instance_id, history, input_text, parent_instance_id) -> str``
    The orchestration trigger payload (schema V3 request, Azure Storage timer durations).

``parse_invocation(value) -> InvocationResult``
    Turn what the orchestrator wrapper returned (str) or raised (exception with ``$OutOfProcData$``) into
    ``InvocationResult(state, error)``.

Message constructors for the runtime (formats live here so both sides agree; all take ``timestamp=``):
``execution_started``, ``parent_instance``, ``activity_completed``, ``activity_failed``
(``activity_failure_reason``), ``timer_fired``, ``sub_orchestration_completed``, ``sub_orchestration_failed``,
``event_raised``, ``execution_terminated``, ``execution_suspended``, ``execution_resumed``.

Encodings: ``ActivityRequest.input_text`` is the SDK's JSON text (the activity gets ``df_loads`` of it);
``SubOrchestrationRequest.input_text`` and continue-as-new inputs are already ExecutionStarted.Input (the SDK's
text JSON-encoded once more, as DTFx stores it). ``ExecutionCompleted.OrchestrationStatus`` holds a
``RuntimeStatus``; ``FireAt`` values are aware datetimes.
"""

from devhost.engine._episode import run_episode
from devhost.engine._events import (
    activity_completed,
    activity_failed,
    activity_failure_reason,
    event_raised,
    execution_resumed,
    execution_started,
    execution_suspended,
    execution_terminated,
    parent_instance,
    sub_orchestration_completed,
    sub_orchestration_failed,
    timer_fired,
)
from devhost.engine._invocation import InvocationResult, Invoker, build_context_json, parse_invocation
from devhost.engine._types import (
    ActivityRequest,
    DroppedMessage,
    EpisodeInput,
    EpisodeOutcome,
    ParentNotification,
    SubOrchestrationRequest,
    TimerRequest,
)

__all__ = [
    "ActivityRequest",
    "DroppedMessage",
    "EpisodeInput",
    "EpisodeOutcome",
    "InvocationResult",
    "Invoker",
    "ParentNotification",
    "SubOrchestrationRequest",
    "TimerRequest",
    "activity_completed",
    "activity_failed",
    "activity_failure_reason",
    "build_context_json",
    "event_raised",
    "execution_resumed",
    "execution_started",
    "execution_suspended",
    "execution_terminated",
    "parent_instance",
    "parse_invocation",
    "run_episode",
    "sub_orchestration_completed",
    "sub_orchestration_failed",
    "timer_fired",
]
