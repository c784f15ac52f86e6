"""One assistant turn as durable steps: contracts (activity inputs/outputs), the step implementations and
the process-wide services they share. The orchestrator itself lives in ``orchestrations/``."""

from durable_assistant.turn._contracts import (
    TURN_ORCHESTRATION,
    TURN_READY_EVENT,
    ActivityNames,
    CancelRunInput,
    CheckpointInput,
    CheckpointResult,
    CreateRunInput,
    RunToolInput,
    StepResult,
    SubmitOutputsInput,
    ToolCallRef,
    ToolRunResult,
    TurnInput,
    WatchRunInput,
)
from durable_assistant.turn._services import Services, get_services
from durable_assistant.turn._steps import (
    cancel_run,
    checkpoint,
    create_run,
    release_abandoned_turn,
    run_tool,
    submit_outputs,
    watch_run,
)

__all__ = [
    "TURN_ORCHESTRATION",
    "TURN_READY_EVENT",
    "ActivityNames",
    "CancelRunInput",
    "CheckpointInput",
    "CheckpointResult",
    "CreateRunInput",
    "RunToolInput",
    "Services",
    "StepResult",
    "SubmitOutputsInput",
    "ToolCallRef",
    "ToolRunResult",
    "TurnInput",
    "WatchRunInput",
    "cancel_run",
    "checkpoint",
    "create_run",
    "get_services",
    "release_abandoned_turn",
    "run_tool",
    "submit_outputs",
    "watch_run",
]
