"""Conversation index in Table Storage: one partition per conversation holding the index row (provider
handle, sequence counters) and one row per accepted message (for messageId idempotency and ordering).

Messages get consecutive sequence numbers through an optimistic-concurrency table transaction (index row
update with its ETag + message row insert), so concurrent POSTs never share or skip a number; turn N may run
once turn N-1 is complete (``completed_seq``)."""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from durable_assistant.storage_clients import StorageClients

CONVERSATIONS_TABLE = "conversations"
INDEX_ROW = "conversation"
SCHEMA_VERSION = 1

# Persisted field names: renaming one is a breaking change for stored data.
F_NEXT_SEQ = "nextSeq"
F_COMPLETED_SEQ = "completedSeq"
F_PROVIDER_REF = "providerRef"
F_CREATED_AT = "createdAt"
F_SCHEMA = "schemaVersion"
F_FAILURE = "failure"

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


class UnknownConversationError(LookupError):
    pass


def valid_conversation_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def valid_message_id(value: str) -> bool:
    return bool(_MESSAGE_ID_RE.match(value))


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    created_at: str
    next_seq: int
    """Sequence number the next accepted message will get (turns are numbered from 1)."""
    completed_seq: int
    """Highest turn that has finished (successfully or not)."""
    provider_ref: str | None


@dataclass(frozen=True)
class MessageRecord:
    conversation_id: str
    message_id: str
    seq: int
    instance_id: str
    content: str
    received_at: str
    created: bool
    """True when this call accepted the message; False when it was already known (a retried POST)."""


def instance_id_for(conversation_id: str, seq: int) -> str:
    return f"turn-{conversation_id}-{seq:06d}"


@dataclass
class ConversationStore:
    storage: StorageClients

    def _table(self) -> Any:
        return self.storage.table(CONVERSATIONS_TABLE)

    def ensure(self) -> None:
        self.storage.ensure_table(CONVERSATIONS_TABLE)

    def create(self, conversation_id: str | None = None) -> Conversation:
        cid = conversation_id or uuid.uuid4().hex
        now = _now()
        self._table().create_entity({"PartitionKey": cid, "RowKey": INDEX_ROW, F_NEXT_SEQ: 1, F_COMPLETED_SEQ: 0,
                                     F_CREATED_AT: now, F_SCHEMA: SCHEMA_VERSION})
        return Conversation(cid, now, 1, 0, None)

    def get(self, conversation_id: str) -> Conversation:
        if not valid_conversation_id(conversation_id):
            raise UnknownConversationError(conversation_id)
        try:
            row = self._table().get_entity(conversation_id, INDEX_ROW)
        except ResourceNotFoundError:
            raise UnknownConversationError(conversation_id) from None
        return _conversation(row)

    def get_message(self, conversation_id: str, message_id: str) -> MessageRecord | None:
        try:
            row = self._table().get_entity(conversation_id, "message|" + message_id)
        except ResourceNotFoundError:
            return None
        return _message(row, created=False)

    def accept_message(self, conversation_id: str, message_id: str, content: str) -> MessageRecord:
        """Give the message the next sequence number, or return the existing record for ``message_id``."""
        table = self._table()
        for _ in range(50):
            existing = self.get_message(conversation_id, message_id)
            if existing is not None:
                return existing
            try:
                index = table.get_entity(conversation_id, INDEX_ROW)
            except ResourceNotFoundError:
                raise UnknownConversationError(conversation_id) from None
            seq = int(index[F_NEXT_SEQ])
            row = {"PartitionKey": conversation_id, "RowKey": "message|" + message_id, "messageId": message_id,
                   "seq": seq, "instanceId": instance_id_for(conversation_id, seq), "content": content,
                   "receivedAt": _now()}
            try:
                table.submit_transaction([
                    ("update", {"PartitionKey": conversation_id, "RowKey": INDEX_ROW, F_NEXT_SEQ: seq + 1},
                     {"mode": UpdateMode.MERGE, "etag": index.metadata["etag"],
                      "match_condition": MatchConditions.IfNotModified}),
                    ("create", row),
                    ("create", {"PartitionKey": conversation_id, "RowKey": f"seq|{seq:06d}", "messageId": message_id}),
                ])
            except TableTransactionError:
                continue  # another POST won the race (same message or the same sequence number): re-read
            return _message(row, created=True)
        raise RuntimeError(f"could not record message {message_id!r}: too much contention")

    def message_for_turn(self, conversation_id: str, seq: int) -> MessageRecord | None:
        try:
            pointer = self._table().get_entity(conversation_id, f"seq|{seq:06d}")
        except ResourceNotFoundError:
            return None
        return self.get_message(conversation_id, pointer["messageId"])

    def message_content_for_turn(self, conversation_id: str, seq: int) -> str | None:
        record = self.message_for_turn(conversation_id, seq)
        return record.content if record is not None else None

    def is_turn_ready(self, conversation_id: str, seq: int) -> bool:
        """True when every earlier turn of the conversation has finished."""
        return self.get(conversation_id).completed_seq >= seq - 1

    def complete_turn(self, conversation_id: str, seq: int, provider_ref: str | None) -> int:
        """Mark turn ``seq`` finished (idempotent) and remember the provider handle for the next turn.
        Returns the conversation's next free sequence number as read (a later message finds the turn done)."""
        table = self._table()
        for _ in range(50):
            row = table.get_entity(conversation_id, INDEX_ROW)
            if int(row[F_COMPLETED_SEQ]) >= seq:
                return int(row[F_NEXT_SEQ])
            patch: dict[str, Any] = {"PartitionKey": conversation_id, "RowKey": INDEX_ROW, F_COMPLETED_SEQ: seq}
            if provider_ref is not None:
                patch[F_PROVIDER_REF] = provider_ref
            try:
                table.update_entity(patch, mode=UpdateMode.MERGE, etag=row.metadata["etag"],
                                    match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                continue
            return int(row[F_NEXT_SEQ])
        raise RuntimeError(f"could not complete turn {seq} of {conversation_id}: too much contention")

    def note_turn_failure(self, conversation_id: str, seq: int, error: str) -> None:
        """Keep why a turn failed on its ``seq|`` row, for a turn whose record could not be written."""
        self._table().upsert_entity({"PartitionKey": conversation_id, "RowKey": f"seq|{seq:06d}",
                                     F_FAILURE: error[:4000]}, mode=UpdateMode.MERGE)

    def turn_failures(self, conversation_id: str) -> dict[int, str]:
        """Failures noted by ``note_turn_failure``, by turn."""
        rows = self._table().query_entities(
            "PartitionKey eq @pk and RowKey ge 'seq|' and RowKey lt 'seq}'", parameters={"pk": conversation_id},
            select=["RowKey", F_FAILURE])
        return {int(r["RowKey"][4:]): str(r[F_FAILURE]) for r in rows if r.get(F_FAILURE)}

    def create_if_missing(self, conversation_id: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.create(conversation_id)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _conversation(row: Any) -> Conversation:
    return Conversation(conversation_id=row["PartitionKey"], created_at=row[F_CREATED_AT],
                        next_seq=int(row[F_NEXT_SEQ]), completed_seq=int(row[F_COMPLETED_SEQ]),
                        provider_ref=row.get(F_PROVIDER_REF))


def _message(row: Any, created: bool) -> MessageRecord:
    return MessageRecord(conversation_id=row["PartitionKey"], message_id=row["messageId"], seq=int(row["seq"]),
                         instance_id=row["instanceId"], content=row["content"], received_at=row["receivedAt"],
                         created=created)
