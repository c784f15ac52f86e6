"""What devhost knows about each function of the app: kind, trigger, bindings, durable name, HTTP route."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

HTTP_TRIGGER = "httpTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
TIMER_TRIGGER = "timerTrigger"
QUEUE_TRIGGER = "queueTrigger"
DURABLE_CLIENT = "durableClient"


class FunctionKind(enum.StrEnum):
    HTTP = "http"
    ORCHESTRATOR = "orchestrator"
    ACTIVITY = "activity"
    ENTITY = "entity"
    TIMER = "timer"
    QUEUE = "queue"
    OTHER = "other"


_KIND_BY_TRIGGER = {
    HTTP_TRIGGER: FunctionKind.HTTP,
    ORCHESTRATION_TRIGGER: FunctionKind.ORCHESTRATOR,
    ACTIVITY_TRIGGER: FunctionKind.ACTIVITY,
    ENTITY_TRIGGER: FunctionKind.ENTITY,
    TIMER_TRIGGER: FunctionKind.TIMER,
    QUEUE_TRIGGER: FunctionKind.QUEUE,
}

# The binding key that carries a durable function's registered name (spec §1.2); absent → the function name.
_DURABLE_NAME_KEY = {
    FunctionKind.ORCHESTRATOR: "orchestration",
    FunctionKind.ACTIVITY: "activity",
    FunctionKind.ENTITY: "entityName",
}


def kind_of_trigger(trigger_type: str) -> FunctionKind:
    return _KIND_BY_TRIGGER.get(trigger_type, FunctionKind.OTHER)


def durable_name_key(kind: FunctionKind) -> str | None:
    return _DURABLE_NAME_KEY.get(kind)


@dataclass(frozen=True)
class HttpRoute:
    """An HTTP trigger: route template (without the route prefix), allowed methods (empty = any), auth level."""

    template: str
    methods: tuple[str, ...]
    auth_level: str  # "anonymous" | "function" | "admin"


@dataclass(frozen=True)
class DurableClientBinding:
    name: str
    task_hub: str | None
    connection_name: str | None


@dataclass(frozen=True)
class TimerSchedule:
    schedule: str
    run_on_startup: bool
    use_monitor: bool


@dataclass(frozen=True)
class QueueSource:
    queue_name: str
    connection: str


@dataclass(frozen=True)
class FunctionInfo:
    """One indexed function. ``user_function`` is what the worker calls (a wrapper for durable triggers)."""

    name: str
    kind: FunctionKind
    trigger: dict[str, Any]
    bindings: tuple[dict[str, Any], ...]
    user_function: Callable[..., Any]
    is_async: bool
    requires_context: bool
    durable_name: str | None = None
    http: HttpRoute | None = None
    durable_client: DurableClientBinding | None = None
    timer: TimerSchedule | None = None
    queue: QueueSource | None = None
    has_return: bool = False
    unsupported_bindings: tuple[str, ...] = field(default=())  # binding types devhost cannot provide

    @property
    def trigger_name(self) -> str:
        return str(self.trigger["name"])


class FunctionIndex:
    """All functions of the app with the lookups the host needs (durable names are case-insensitive)."""

    def __init__(self, functions: list[FunctionInfo], *, script_file: str) -> None:
        self.script_file = script_file
        self._functions = tuple(functions)
        self._by_name = {f.name.lower(): f for f in functions}
        self._durable: dict[tuple[FunctionKind, str], FunctionInfo] = {}
        for f in functions:
            if f.durable_name is not None:
                self._durable[(f.kind, f.durable_name.lower())] = f

    def __iter__(self) -> Iterator[FunctionInfo]:
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)

    def get(self, function_name: str) -> FunctionInfo | None:
        return self._by_name.get(function_name.lower())

    def orchestrator(self, name: str) -> FunctionInfo | None:
        return self._durable.get((FunctionKind.ORCHESTRATOR, name.lower()))

    def activity(self, name: str) -> FunctionInfo | None:
        return self._durable.get((FunctionKind.ACTIVITY, name.lower()))

    def entity(self, name: str) -> FunctionInfo | None:
        return self._durable.get((FunctionKind.ENTITY, name.lower()))

    def exists(self, kind: str, name: str) -> bool:
        """The engine's ``function_exists(kind, name)`` with kind "activity" | "orchestrator" | "entity"."""
        return self._durable.get((FunctionKind(kind), name.lower())) is not None

    def with_unsupported_bindings(self) -> list[FunctionInfo]:
        return [f for f in self._functions if f.unsupported_bindings]

    def of_kind(self, kind: FunctionKind) -> list[FunctionInfo]:
        return [f for f in self._functions if f.kind is kind]
