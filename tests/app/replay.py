"""A minimal history builder that drives an orchestrator through the Durable Functions SDK exactly like the
host does (context JSON in, OrchestratorState JSON out), one episode at a time. Used by the replay tests:
the test decides which tasks complete (and with what) and asserts on the actions and customStatus."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df

TS_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _ts(value: datetime) -> str:
    return value.strftime(TS_FMT)


def leaf_actions(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten WhenAll/WhenAny compounds into the scheduled leaf actions, in id order."""
    out: list[dict[str, Any]] = []
    for action in actions:
        if action.get("compoundActions") is not None:
            out.extend(leaf_actions(action["compoundActions"]))
        else:
            out.append(action)
    return out


@dataclass
class Episode:
    state: dict[str, Any]
    new_actions: list[tuple[int, dict[str, Any]]]
    """(task id, action) scheduled by this episode."""

    @property
    def custom_status(self) -> Any:
        return self.state.get("customStatus")

    @property
    def done(self) -> bool:
        return bool(self.state.get("isDone"))

    def names(self, *, cancel_waits: bool = False) -> list[str]:
        """What this episode scheduled; the cancel request's wait that comes with every wait of the turn is left
        out unless ``cancel_waits``."""
        def name(a: dict[str, Any]) -> str:
            if a["actionType"] == 5:
                return "timer"
            if a["actionType"] == 6:
                return "event:" + str(a["externalEventName"])
            return str(a.get("functionName") or a["actionType"])

        names = [name(a) for _, a in self.new_actions]
        return names if cancel_waits else [n for n in names if n != "event:cancel_turn"]


@dataclass
class Replay:
    orchestrator: Callable[..., Any]
    input: Any
    instance_id: str = "turn-conv1-000001"
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC))
    history: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    seen_leaves: int = 0
    next_id: int = 0
    error: str | None = None

    def __post_init__(self) -> None:
        self._handle = df.Orchestrator.create(self.orchestrator)
        self.pending.append({"EventType": 0, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(self.now),
                             "OrchestrationInstance": {"InstanceId": self.instance_id, "ExecutionId": "e" * 32},
                             "ParentInstance": None, "Name": "turn_orchestration", "Version": "",
                             "Input": json.dumps(json.dumps(self.input)), "Tags": None, "Correlation": None,
                             "ScheduledStartTime": None, "Generation": 0})

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def complete(self, task_id: int, result: Any) -> None:
        self.pending.append({"EventType": 5, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(self.now),
                             "TaskScheduledId": task_id, "Result": json.dumps(result)})

    def fail(self, task_id: int, reason: str) -> None:
        self.pending.append({"EventType": 6, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(self.now),
                             "TaskScheduledId": task_id, "Reason": reason, "Details": "details"})

    def raise_event(self, name: str, data: Any) -> None:
        self.pending.append({"EventType": 15, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(self.now),
                             "Name": name, "Input": json.dumps(data)})

    def fire(self, timer_id: int) -> None:
        self.pending.append({"EventType": 11, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(self.now),
                             "TimerId": timer_id, "FireAt": _ts(self.now)})

    def host_retry(self, timer_id: int, name: str) -> None:
        """What the host appends for a retry it drives itself: the retry timer (created and fired) and the
        next attempt's TaskScheduled; these never appear in the SDK's action list."""
        self.pending.append({"EventType": 10, "EventId": timer_id, "IsPlayed": False, "Timestamp": _ts(self.now),
                             "FireAt": _ts(self.now)})
        self.fire(timer_id)
        self.pending.append({"EventType": 4, "EventId": timer_id + 1, "IsPlayed": False,
                             "Timestamp": _ts(self.now), "Name": name, "Version": ""})
        self.next_id += 2

    def host_final_retry_timer(self, timer_id: int) -> None:
        self.pending.append({"EventType": 10, "EventId": timer_id, "IsPlayed": False, "Timestamp": _ts(self.now),
                             "FireAt": _ts(self.now)})
        self.fire(timer_id)
        self.next_id += 1

    def run(self) -> Episode:
        for event in self.history:
            event["IsPlayed"] = True
        episode_events = [{"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(self.now)},
                          *self.pending]
        self.pending = []
        self.history.extend(episode_events)
        context = {"history": self.history, "input": json.dumps(self.input), "instanceId": self.instance_id,
                   "isReplaying": False, "parentInstanceId": None, "upperSchemaVersion": 1,
                   "upperSchemaVersionNew": 2}
        try:
            raw = self._handle(json.dumps(context))
        except Exception as exc:  # the SDK reports orchestrator failures by raising with the state attached
            text = str(exc)
            marker = "\n\n$OutOfProcData$:"
            if marker not in text:
                raise
            self.error, _, tail = text.partition(marker)
            state = json.loads(tail)
        else:
            state = json.loads(raw)
        leaves = leaf_actions(state["actions"][0]) if state["actions"] else []
        new: list[tuple[int, dict[str, Any]]] = []
        for action in leaves[self.seen_leaves:]:
            if action["actionType"] == 6:  # WaitForExternalEvent: matched by name, takes no sequence id
                new.append((-1, action))
            else:
                new.append((self.next_id, action))
                self.next_id += 1
        for task_id, action in new:
            if task_id < 0:
                continue
            if action["actionType"] == 5:
                self.history.append({"EventType": 10, "EventId": task_id, "IsPlayed": False,
                                     "Timestamp": _ts(self.now), "FireAt": action["fireAt"]})
            elif "functionName" in action:
                self.history.append({"EventType": 4, "EventId": task_id, "IsPlayed": False,
                                     "Timestamp": _ts(self.now), "Name": action["functionName"], "Version": ""})
        self.seen_leaves = len(leaves)
        self.history.append({"EventType": 13, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(self.now)})
        return Episode(state, new)

    def task_id(self, episode: Episode, name: str, index: int = 0) -> int:
        """The id of the ``index``-th activity (or "timer") called ``name`` that ``episode`` scheduled."""
        return [task_id for task_id, a in episode.new_actions
                if (a.get("functionName") or ("timer" if a["actionType"] == 5 else None)) == name][index]

    def activity_input(self, episode: Episode, index: int = 0) -> Any:
        return json.loads(episode.new_actions[index][1]["input"])
