"""devhost's durable runtime: dispatchers that run episodes through the engine and persist them in storage.

See docs/devhost-architecture.md for the message flow and the durability argument.
"""

from ._client import DurableClientOperations, validate_instance_id
from ._functions import ActivityOutcome, DurableFunctions
from ._options import RuntimeOptions
from ._runtime import DurableRuntime

__all__ = [
    "ActivityOutcome",
    "DurableClientOperations",
    "DurableFunctions",
    "DurableRuntime",
    "RuntimeOptions",
    "validate_instance_id",
]
