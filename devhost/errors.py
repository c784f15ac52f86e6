"""Typed errors that cross package boundaries: the runtime raises them, the HTTP layer maps them to status codes.

Status codes and messages follow the Durable Functions extension's HTTP API handler (spec §5).
"""

from __future__ import annotations


class DurableError(Exception):
    """Base class of the errors a ``DurableBackend`` raises on purpose."""


class InstanceNotFound(DurableError):
    """No instance with that id exists (HTTP 404)."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"No instance with ID '{instance_id}' found.")
        self.instance_id = instance_id


class InstanceGone(DurableError):
    """The instance is in a terminal state, so the operation no longer applies (HTTP 410)."""

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(f"The instance '{instance_id}' is in a terminal state ({status}).")
        self.instance_id = instance_id
        self.status = status


class UnknownOrchestrator(DurableError):
    """Start request for a name that is not an orchestrator function (HTTP 400)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
            "Additional info: No orchestrator functions are currently registered with that name."
        )
        self.name = name


class InstanceAlreadyExists(DurableError):
    """Start request for an id whose instance is still active (HTTP 500, DTFx OrchestrationAlreadyExistsException)."""

    def __init__(self, instance_id: str, status: str = "Running") -> None:
        super().__init__(f"An Orchestration instance with the status {status} already exists.")
        self.instance_id = instance_id
        self.status = status


class InvalidInstanceId(DurableError):
    """An instance id the extension rejects (starts with '@', contains / \\ # ? or control chars, > 256 chars).

    The HTTP layer answers 400 with the message.
    """


__all__ = [
    "DurableError",
    "InstanceAlreadyExists",
    "InstanceGone",
    "InstanceNotFound",
    "InvalidInstanceId",
    "UnknownOrchestrator",
]
