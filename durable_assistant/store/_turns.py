"""Per-turn working data (run states, tool call payloads and outputs) and the final turn record.

Layout (Blob Storage):
- turn-work/{conversationId}/{turn:06d}/run.json                 latest run state + every provider id seen
- turn-work/{conversationId}/{turn:06d}/calls/{n:03d}.json        one tool call: name, arguments, output
- turn-work/{conversationId}/{turn:06d}/steps/{step}.{key}.json   the step journal: provider ids, write-once
- conversations/{conversationId}/{turn:06d}.json                 the turn record (write-once)
Deleting a conversation reads the provider ids recorded here (``recorded_objects``) before deleting the blobs.
Table ``runowners``: PartitionKey = provider run id -> the turn's instance (routes provider webhooks).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from durable_assistant.providers import ProviderObjects, RunState, ToolCall
from durable_assistant.storage_clients import StorageClients
from durable_assistant.store._blobs import TRANSCRIPTS_CONTAINER, WORK_CONTAINER, JsonBlobs
from durable_assistant.store._conversations import valid_conversation_id
from durable_assistant.store._parallel import map_concurrently
from durable_assistant.tools import ToolResult

TURN_RECORD_SCHEMA = 1
RUN_OWNERS_TABLE = "runowners"
RunEndNotice = Literal["wake", "seen", "unknown"]


def turn_record_key(conversation_id: str, turn: int) -> str:
    return f"{conversation_id}/{turn:06d}.json"


@dataclass
class TurnStore:
    storage: StorageClients

    @property
    def work(self) -> JsonBlobs:
        return JsonBlobs(self.storage, WORK_CONTAINER)

    @property
    def transcripts(self) -> JsonBlobs:
        return JsonBlobs(self.storage, TRANSCRIPTS_CONTAINER)

    def ensure(self) -> None:
        self.work.ensure()
        self.transcripts.ensure()
        self.storage.ensure_table(RUN_OWNERS_TABLE)

    def journal(self, conversation_id: str, turn: int, step: str) -> BlobStepJournal:
        """The journal of one provider step of a turn (``create``, ``submit-001`` ...)."""
        return BlobStepJournal(self.work, self._prefix(conversation_id, turn) + f"steps/{step}.",
                               f"{conversation_id}:{turn}:{step}")

    def journal_for_key(self, key: str) -> BlobStepJournal | None:
        """The journal named by ``BlobStepJournal.key`` (None for a key that is not one of ours)."""
        parts = key.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not valid_conversation_id(parts[0]) or not parts[2]:
            return None
        return self.journal(parts[0], int(parts[1]), parts[2])

    def claim_run(self, run_id: str, instance_id: str, ended: bool) -> None:
        """Route the provider's webhooks for ``run_id`` to the turn's orchestration (idempotent upsert).
        ``ended``: the turn has already seen the run end, so a webhook for it has nothing to wake."""
        self.storage.table(RUN_OWNERS_TABLE).upsert_entity(
            {"PartitionKey": run_id, "RowKey": "owner", "instanceId": instance_id, "ended": ended})

    def take_run_end(self, run_id: str) -> tuple[RunEndNotice, str | None]:
        """For a webhook saying ``run_id`` ended: ("wake", instance) for the first notice of a run a turn
        waits for; ("seen", instance) when the turn saw the end itself or another notice came first (a
        duplicated webhook); ("unknown", None) for a run no turn has claimed (yet)."""
        table = self.storage.table(RUN_OWNERS_TABLE)
        try:
            row = table.get_entity(run_id, "owner")
        except ResourceNotFoundError:
            return "unknown", None
        instance_id = str(row["instanceId"])
        if row.get("ended"):
            return "seen", instance_id
        try:
            table.update_entity({"PartitionKey": run_id, "RowKey": "owner", "ended": True}, mode=UpdateMode.MERGE,
                                etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            return "seen", instance_id
        return "wake", instance_id

    def recorded_objects(self, conversation_id: str) -> ProviderObjects:
        """Every provider object the conversation's turns recorded: the ids in each run document and the runs
        and threads in each step journal (a run created and journaled just before a crash is there too)."""
        keys = self.work.list(conversation_id + "/")
        wanted = [k for k in keys if k.endswith("/run.json") or _journal_kind(k) in _JOURNALED_OBJECTS]
        docs = map_concurrently(self.work.load, wanted)
        runs: set[str] = set()
        threads: set[str] = set()
        for key, doc in zip(wanted, docs, strict=True):
            if doc is None:
                continue
            if key.endswith("/run.json"):
                runs.update(str(i) for i in doc.get("providerIds", []))
                thread_id = (doc.get("latest") or {}).get("thread_id")
                if thread_id:
                    threads.add(str(thread_id))
            elif _journal_kind(key) == "thread":
                threads.add(str(doc["value"]))
            else:
                runs.add(str(doc["value"]))
        # Chat "runs" are our own history keys (chat/{conversation}/{uuid}), never a provider's id.
        return ProviderObjects(runs=frozenset(r for r in runs - threads if "/" not in r), threads=frozenset(threads))

    def forget_runs(self, run_ids: frozenset[str]) -> int:
        """Delete the ``runowners`` rows of these runs (webhooks for them then find no turn); returns how many
        ids were asked for (a run that never had a row is no error)."""
        table = self.storage.table(RUN_OWNERS_TABLE)
        map_concurrently(lambda run_id: table.delete_entity(run_id, "owner"), sorted(run_ids))
        return len(run_ids)

    def delete_conversation(self, conversation_id: str) -> tuple[int, int]:
        """Delete the turn records, then the working blobs (run documents, tool calls, step journals: the last
        place provider ids are recorded). Returns (records, working blobs) deleted."""
        records = self.transcripts.delete_prefix(conversation_id + "/")
        return records, self.work.delete_prefix(conversation_id + "/")

    @staticmethod
    def _prefix(conversation_id: str, turn: int) -> str:
        return f"{conversation_id}/{turn:06d}/"

    def record_run(self, conversation_id: str, turn: int, state: RunState) -> list[int]:
        """Store the latest run state; on requires_action also store each call's payload (once per round).
        Returns the call numbers (turn-wide, in call order) the orchestration uses to address the payloads."""
        key = self._prefix(conversation_id, turn) + "run.json"
        doc = self.work.load(key) or {"providerIds": [], "usageByRun": {}, "calls": 0, "rounds": {}}
        doc["providerIds"] += [pid for pid in state.provider_ids if pid not in doc["providerIds"]]
        if state.usage:
            doc["usageByRun"][state.run_id] = state.usage  # a run's usage is cumulative: the latest wins
        numbers: list[int] = []
        if state.status == "requires_action" and state.tool_calls:
            # threads/runs reuse the run id across rounds, so a round is the run id plus its call ids; a
            # retried activity that sees the same round again gets the same numbers.
            round_key = "|".join([state.run_id, *(c.call_id for c in state.tool_calls)])
            if round_key not in doc["rounds"]:
                start = int(doc["calls"])
                fresh = list(range(start + 1, start + 1 + len(state.tool_calls)))
                payloads = {
                    self._call_key(conversation_id, turn, n): {
                        "number": n, "round": len(doc["rounds"]) + 1, "callId": call.call_id,
                        "name": call.name, "arguments": call.arguments}
                    for n, call in zip(fresh, state.tool_calls, strict=True)}
                map_concurrently(lambda key: self.work.save(key, payloads[key]), payloads)
                doc["rounds"][round_key] = fresh
                doc["calls"] = start + len(fresh)
            numbers = list(doc["rounds"][round_key])
        usage: dict[str, int] = {}
        for run_usage in doc["usageByRun"].values():
            for name, value in run_usage.items():
                usage[name] = usage.get(name, 0) + int(value)
        doc["usage"] = usage
        doc["latest"] = state.to_json()
        self.work.save(key, doc)
        return numbers

    def run_doc(self, conversation_id: str, turn: int) -> dict[str, Any]:
        return self.work.load(self._prefix(conversation_id, turn) + "run.json") or {}

    def latest_run(self, conversation_id: str, turn: int) -> RunState | None:
        latest = self.run_doc(conversation_id, turn).get("latest")
        return RunState.from_json(latest) if latest else None

    def _call_key(self, conversation_id: str, turn: int, number: int) -> str:
        return self._prefix(conversation_id, turn) + f"calls/{number:03d}.json"

    def load_call(self, conversation_id: str, turn: int, number: int) -> tuple[ToolCall, dict[str, Any]]:
        doc = self.work.load(self._call_key(conversation_id, turn, number))
        if doc is None:
            raise LookupError(f"tool call {number} of turn {turn} in {conversation_id} is not stored")
        return ToolCall(doc["callId"], doc["name"], doc["arguments"]), doc

    def save_call_result(self, conversation_id: str, turn: int, number: int, result: ToolResult) -> None:
        call, doc = self.load_call(conversation_id, turn, number)
        doc.update({"output": result.output, "ok": result.ok, "error": result.error,
                    "durationMs": result.duration_ms})
        self.work.save(self._call_key(conversation_id, turn, number), doc)

    def calls(self, conversation_id: str, turn: int) -> list[dict[str, Any]]:
        keys = self.work.list(self._prefix(conversation_id, turn) + "calls/")
        docs = map_concurrently(self.work.load, keys)
        return sorted((d for d in docs if d is not None), key=lambda d: int(d["number"]))

    def write_record(self, record: dict[str, Any]) -> bool:
        """Write the turn record once; a replayed checkpoint finds it and leaves it unchanged."""
        key = turn_record_key(record["conversationId"], int(record["turn"]))
        return self.transcripts.create(key, {"schemaVersion": TURN_RECORD_SCHEMA, **record})

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        keys = self.transcripts.list(conversation_id + "/")
        docs = [self.transcripts.load(k) for k in keys]
        return [d for d in docs if d is not None]


_JOURNALED_OBJECTS = frozenset({"response", "run", "submitted", "thread"})
"""Step-journal keys whose value is a provider object id (``message`` goes with its thread; ``response-intent``
and ``response-refused`` hold no id)."""


def _journal_kind(blob_name: str) -> str | None:
    """``response`` for ``{conversation}/{turn}/steps/create.response.json``; None for other blobs."""
    head, _, name = blob_name.rpartition("/steps/")
    if not head or not name.endswith(".json") or "." not in name[:-5]:
        return None
    return name[:-5].split(".", 1)[1]


@dataclass
class BlobStepJournal:
    """A provider step's journal (``StepJournal``): one write-once blob per key, so the first writer wins."""

    blobs: JsonBlobs
    prefix: str
    key: str

    async def recall(self, key: str) -> str | None:
        doc = await asyncio.to_thread(self.blobs.load, f"{self.prefix}{key}.json")
        return None if doc is None else str(doc["value"])

    async def record(self, key: str, value: str) -> str:
        doc = {"value": value, "recordedAt": datetime.now(UTC).isoformat()}
        if await asyncio.to_thread(self.blobs.create, f"{self.prefix}{key}.json", doc):
            return value
        recorded = await self.recall(key)
        return value if recorded is None else recorded
