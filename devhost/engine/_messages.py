"""Failure texts, worded like the Durable extension and DTFx so logs and statuses read the same as in Azure."""

from __future__ import annotations

from collections.abc import Sequence

CUSTOM_STATUS_MAX_UTF16_BYTES = 16 * 1024


def orchestrator_failed(name: str, error: str) -> str:
    """The extension's OrchestrationFailureException message (spec 2.8)."""
    return f"Orchestrator function '{name}' failed: {error}"


def orchestrator_failure_details(error: str) -> str:
    # The extension's details are "Message: <error>, StackTrace: <.NET stack>"; devhost has no .NET stack.
    return f"Message: {error}, StackTrace: "


def unknown_function(kind: str, name: str, known: Sequence[str] | None) -> str:
    """The extension's ThrowIfFunctionDoesNotExist text; ``kind`` is "activity" or "orchestrator"."""
    message = (
        f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. Additional info: "
    )
    if known:
        joined = "', '".join(known)
        return message + f"The following are the known {kind} functions: '{joined}'."
    if known is None:
        return message + f"devhost has no {kind} function with that name."
    return message + f"No {kind} functions are currently registered!"


def unsupported_action(description: str) -> str:
    if description.startswith("CallHttp"):
        return (
            f"CallHttp is not supported by devhost ({description}); call HTTP endpoints from an activity function "
            "instead, or run the app on the real Functions host."
        )
    return (
        f"Durable entities are not supported by devhost ({description}); signal_entity/call_entity need the real "
        "Functions host."
    )


def invalid_child_instance_id(instance_id: str, reason: str) -> str:
    return f"Invalid sub-orchestration instance ID '{instance_id}': {reason}"


def custom_status_too_large(size_bytes: int) -> str:
    return (
        "The UTF-16 size of the JSON-serialized custom status payload must not exceed 16 KB. "
        f"The current payload size is {size_bytes / 1024:.2f} KB."
    )


def nondeterministic(previous: str, current: str | None) -> str:
    """DTFx NonDeterministicOrchestrationException text, naming both the recorded and the replayed decision."""
    head = f"Non-Deterministic workflow detected: A previous execution of this orchestration scheduled {previous}, "
    tail = " Was a change made to the orchestrator code after this instance had already started running?"
    if current is None:
        return head + "but the current replay execution hasn't (yet?) scheduled this task." + tail
    return (
        head + f"but the current replay execution scheduled {current} with that sequence ID instead." + tail
    )


def describe_activity(task_id: int, name: str) -> str:
    return f"an activity task with sequence ID {task_id} and name '{name}' (version '')"


def describe_timer(task_id: int) -> str:
    return f"a timer task with sequence ID {task_id}"


def describe_sub_orchestration(task_id: int, name: str, instance_id: str | None) -> str:
    return (
        f"a sub-orchestration task with sequence ID {task_id} and name '{name}' (version '', "
        f"instance ID '{instance_id}')"
    )


def task_all_fails_fast(later_actions: int) -> str:
    return (
        f"task_all failed fast in the Python SDK and the orchestrator moved on to {later_actions} more action(s), "
        "but DTFx (like the real Durable Functions host) waits for every task_all child before scheduling them. "
        "If a remaining child fails and retries meanwhile, DTFx and the SDK assign different task ids and the "
        "orchestrator receives wrong results (spec 2.5). Let such children return errors as values instead."
    )


def too_many_actions(limit: int) -> str:
    return (
        f"Maximum amount of orchestration actions ({limit}) has been reached. This value can be configured in "
        "host.json file as MaxOrchestrationActions."
    )


def id_divergence(dtfx: str, sdk: str) -> str:
    return (
        f"DTFx scheduled {dtfx}, but the Python SDK expects {sdk}: from here on the orchestrator receives results "
        "meant for other tasks. This is how the real Durable Functions host behaves too (fail-fast task_all or a "
        "cancelled timer racing a retry; spec 2.5)."
    )
