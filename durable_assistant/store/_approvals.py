"""Approval requests of tool calls (Table Storage): one row per call that waits for a person.

Table ``approvals``: PartitionKey = conversation id, RowKey = ``{turn:06d}|{number:04d}``. The row is the one
place a decision lives: the approval route writes it (first decision wins, by ETag), the orchestration reads it
when an approval event or its timer wakes it, so a decision whose event was lost still counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from durable_assistant.contracts import ApprovalStatus
from durable_assistant.storage_clients import StorageClients
from durable_assistant.store._rows import delete_partition

APPROVALS_TABLE = "approvals"
ARGUMENTS_CHARS = 30_000
"""Arguments kept on the row for the approver to read (a table property holds 32K UTF-16 characters)."""

Decision = Literal["approve", "deny"]
_DECIDED: dict[Decision, ApprovalStatus] = {"approve": "approved", "deny": "denied"}


class ApprovalNotFoundError(LookupError):
    pass


class ApprovalClosedError(Exception):
    """The request can no longer be decided: decided otherwise, expired, or its turn ended."""

    def __init__(self, record: ApprovalRecord) -> None:
        super().__init__(f"approval {record.approval_id} is {record.status}")
        self.record = record


@dataclass(frozen=True)
class ApprovalRecord:
    conversation_id: str
    turn: int
    number: int
    call_id: str
    tool: str
    arguments: str
    instance_id: str
    requested_at: str
    expires_at: str
    approvers: tuple[str, ...]
    status: ApprovalStatus
    decided_by: str | None = None
    reason: str | None = None
    decided_at: str | None = None

    @property
    def approval_id(self) -> str:
        """``{turn}.{number}``: unique within the conversation."""
        return f"{self.turn}.{self.number}"

    def expired_at(self, now: datetime) -> bool:
        return now >= datetime.fromisoformat(self.expires_at)

    def to_api(self) -> dict[str, Any]:
        return {"approvalId": self.approval_id, "conversationId": self.conversation_id, "turn": self.turn,
                "callId": self.call_id, "tool": self.tool, "arguments": self.arguments, "status": self.status,
                "requestedAt": self.requested_at, "expiresAt": self.expires_at,
                "approvers": list(self.approvers) or None, "decidedBy": self.decided_by, "reason": self.reason,
                "decidedAt": self.decided_at}

    def transcript(self) -> dict[str, Any]:
        """What the turn record keeps of the decision."""
        return {"status": self.status, "requestedAt": self.requested_at, "expiresAt": self.expires_at,
                "decidedBy": self.decided_by, "reason": self.reason, "decidedAt": self.decided_at}


def parse_approval_id(value: str) -> tuple[int, int] | None:
    turn, _, number = value.partition(".")
    if not (turn.isdigit() and number.isdigit() and len(turn) <= 6 and len(number) <= 4):
        return None
    return int(turn), int(number)


@dataclass
class ApprovalStore:
    storage: StorageClients

    def _table(self) -> Any:
        return self.storage.table(APPROVALS_TABLE)

    def ensure(self) -> None:
        self.storage.ensure_table(APPROVALS_TABLE)

    def request(self, conversation_id: str, turn: int, instance_id: str,
                calls: list[tuple[int, str, str, str]], expires_at: str,
                approvers: tuple[str, ...]) -> list[ApprovalRecord]:
        """Open a request per ``(number, call id, tool, arguments)`` unless it exists (a retried activity keeps
        the first request, its expiry included). Returns the rows as stored."""
        now = _now()
        records = []
        for number, call_id, tool, arguments in calls:
            row = {"PartitionKey": conversation_id, "RowKey": _row_key(turn, number), "turn": turn, "number": number,
                   "callId": call_id, "tool": tool, "arguments": arguments[:ARGUMENTS_CHARS],
                   "instanceId": instance_id, "requestedAt": now, "expiresAt": expires_at,
                   "approvers": json.dumps(list(approvers)), "status": "pending"}
            try:
                self._table().create_entity(row)
            except ResourceExistsError:
                row = self._table().get_entity(conversation_id, _row_key(turn, number))
            records.append(_record(row))
        return records

    def get(self, conversation_id: str, turn: int, number: int) -> ApprovalRecord:
        try:
            return _record(self._table().get_entity(conversation_id, _row_key(turn, number)))
        except ResourceNotFoundError:
            raise ApprovalNotFoundError(f"{turn}.{number}") from None

    def decide(self, conversation_id: str, turn: int, number: int, decision: Decision, by: str,
               reason: str | None) -> tuple[ApprovalRecord, bool]:
        """Record a person's decision; returns (record, changed). The same decision again is accepted
        unchanged (a retried request); anything else on a closed request raises ApprovalClosedError."""
        wanted = _DECIDED[decision]
        for _ in range(20):
            try:
                row = self._table().get_entity(conversation_id, _row_key(turn, number))
            except ResourceNotFoundError:
                raise ApprovalNotFoundError(f"{turn}.{number}") from None
            record = _record(row)
            if record.status == wanted:
                return record, False
            if record.status != "pending" or record.expired_at(datetime.now(UTC)):
                raise ApprovalClosedError(record)
            patch = {"PartitionKey": conversation_id, "RowKey": row["RowKey"], "status": wanted,
                     "decidedBy": by, "reason": reason, "decidedAt": _now()}
            try:
                self._table().update_entity(patch, mode=UpdateMode.MERGE, etag=row.metadata["etag"],
                                            match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                continue  # decided or expired meanwhile: read again
            return self.get(conversation_id, turn, number), True
        raise RuntimeError(f"could not record the decision on {turn}.{number}: too much contention")

    def settle(self, conversation_id: str, turn: int, numbers: list[int],
               close_as: ApprovalStatus | None = None) -> list[ApprovalRecord]:
        """The rows of ``numbers``; with ``close_as`` ("expired" or "cancelled") still-pending ones are closed
        first (by ETag: a decision that lands first wins)."""
        return [self._close(conversation_id, turn, n, close_as) for n in numbers]

    def _close(self, conversation_id: str, turn: int, number: int,
               close_as: ApprovalStatus | None) -> ApprovalRecord:
        for _ in range(20):
            row = self._table().get_entity(conversation_id, _row_key(turn, number))
            if close_as is None or row["status"] != "pending":
                return _record(row)
            patch = {"PartitionKey": conversation_id, "RowKey": row["RowKey"], "status": close_as, "decidedAt": _now()}
            try:  # then read again: the loop returns the closed row
                self._table().update_entity(patch, mode=UpdateMode.MERGE, etag=row.metadata["etag"],
                                            match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                continue
        raise RuntimeError(f"could not close approval {turn}.{number}: too much contention")

    def for_turn(self, conversation_id: str, turn: int) -> list[ApprovalRecord]:
        rows = self._table().query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": conversation_id, "lo": f"{turn:06d}|", "hi": f"{turn:06d}}}"})
        return sorted((_record(r) for r in rows), key=lambda r: r.number)

    def close_turn(self, conversation_id: str, turn: int) -> list[ApprovalRecord]:
        """Close the turn's still-pending requests as ``cancelled`` (the turn ended); returns every request of it."""
        records = self.for_turn(conversation_id, turn)
        open_numbers = [r.number for r in records if r.status == "pending"]
        if not open_numbers:
            return records
        closed = {r.number: r for r in self.settle(conversation_id, turn, open_numbers, close_as="cancelled")}
        return [closed.get(r.number, r) for r in records]

    def pending(self, conversation_id: str) -> list[ApprovalRecord]:
        """Open requests of the conversation that can still be decided, oldest first."""
        rows = self._table().query_entities("PartitionKey eq @pk and status eq 'pending'",
                                            parameters={"pk": conversation_id})
        now = datetime.now(UTC)
        return sorted((r for r in map(_record, rows) if not r.expired_at(now)), key=lambda r: (r.turn, r.number))

    def all(self, conversation_id: str) -> list[ApprovalRecord]:
        rows = self._table().query_entities("PartitionKey eq @pk", parameters={"pk": conversation_id})
        return sorted(map(_record, rows), key=lambda r: (r.turn, r.number))

    def forget_conversation(self, conversation_id: str) -> int:
        """Delete every request of the conversation (it is being deleted); returns how many there were."""
        return delete_partition(self._table(), conversation_id)


def _row_key(turn: int, number: int) -> str:
    return f"{turn:06d}|{number:04d}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _record(row: Any) -> ApprovalRecord:
    return ApprovalRecord(
        conversation_id=row["PartitionKey"], turn=int(row["turn"]), number=int(row["number"]),
        call_id=str(row["callId"]), tool=str(row["tool"]), arguments=str(row.get("arguments") or ""),
        instance_id=str(row["instanceId"]), requested_at=str(row["requestedAt"]), expires_at=str(row["expiresAt"]),
        approvers=tuple(json.loads(row.get("approvers") or "[]")), status=row["status"],
        decided_by=row.get("decidedBy"), reason=row.get("reason"), decided_at=row.get("decidedAt"))
