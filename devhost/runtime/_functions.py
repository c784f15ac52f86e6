"""What the runtime needs from the loaded app: lookups and invocations of durable functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ActivityOutcome:
    """The result of one activity invocation.

    ``result_json`` is the compact JSON text the activity returned (None for a null result) when ``succeeded``;
    otherwise ``error`` is the worker's exception text ("<ExceptionType>: <message>") and ``details`` the traceback.
    """

    succeeded: bool
    result_json: str | None = None
    error: str | None = None
    details: str | None = None


class DurableFunctions(Protocol):
    """The app's orchestrator and activity functions, addressed by durable name (case-insensitive)."""

    def has_orchestrator(self, name: str) -> bool: ...

    def has_activity(self, name: str) -> bool: ...

    def invoke_orchestrator(self, name: str, context_json: str) -> object:
        """Call the orchestrator wrapper synchronously; return its return value, or the exception it raised."""
        ...

    async def invoke_activity(self, name: str, input_text: str | None, *, instance_id: str) -> ActivityOutcome: ...
