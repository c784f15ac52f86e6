"""Conversation index in Table Storage: one partition per conversation holding the index row (provider
handle, sequence counters) and one row per accepted message (for messageId idempotency and ordering), plus one
listing partition (``LIST_PARTITION``) with a row per conversation keyed newest first, for paged listing.

Messages get consecutive sequence numbers through an optimistic-concurrency table transaction (index row
update with its ETag + message row insert), so concurrent POSTs never share or skip a number; turn N may run
once turn N-1 is complete (``completed_seq``).

Deleting a conversation first marks its index row (``deletingSince``, ETag-checked, so no message is accepted
after the mark), then removes everything else, the index row last (``durable_assistant.lifecycle``)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from durable_assistant.storage_clients import StorageClients
from durable_assistant.store._parallel import map_concurrently
from durable_assistant.store._rows import delete_partition

CONVERSATIONS_TABLE = "conversations"
INDEX_ROW = "conversation"
# Conversation ids never contain "|", so this partition cannot collide with a conversation's own partition.
LIST_PARTITION = "list|newest-first"
_MAX_EPOCH_MS = 10**13 - 1  # RowKey = this minus the creation time in ms: ascending RowKeys are newest first
SCHEMA_VERSION = 1

# Persisted field names: renaming one is a breaking change for stored data.
F_NEXT_SEQ = "nextSeq"
F_COMPLETED_SEQ = "completedSeq"
F_PROVIDER_REF = "providerRef"
F_CREATED_AT = "createdAt"
F_SCHEMA = "schemaVersion"
F_FAILURE = "failure"
F_DELETING = "deletingSince"
F_SKIPPED = "skipped"

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


class UnknownConversationError(LookupError):
    pass


class ConversationDeletingError(RuntimeError):
    """The conversation is being deleted: it accepts no more messages."""


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
    deleting_since: str | None = None
    """When its deletion began (None: not being deleted)."""
    last_activity_at: str | None = None
    """When the index row last changed (a message accepted, a turn finished): the row's Timestamp."""
    etag: str | None = None
    """Version of the index row, for a change conditional on nothing having happened since it was read."""


@dataclass(frozen=True)
class ConversationPage:
    conversations: list[Conversation]
    """Newest first."""
    continuation_token: str | None
    """Pass it back to get the next page; None on the last page."""


class InvalidContinuationTokenError(ValueError):
    pass


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


@dataclass(frozen=True)
class TurnRelease:
    """Where the conversation stands after a turn released it."""

    completed_seq: int
    """Every turn up to this one has finished."""
    next_seq: int
    """The sequence number the next message will get (turns below it have been accepted)."""

    def next_turn_after(self, seq: int) -> int | None:
        """The turn to wake, if releasing ``seq`` made a waiting turn ready."""
        if self.completed_seq >= seq and self.next_seq > self.completed_seq + 1:
            return self.completed_seq + 1
        return None


@dataclass
class ConversationStore:
    storage: StorageClients

    def _table(self) -> Any:
        return self.storage.table(CONVERSATIONS_TABLE)

    def ensure(self) -> None:
        self.storage.ensure_table(CONVERSATIONS_TABLE)

    def create(self, conversation_id: str | None = None) -> Conversation:
        cid = conversation_id or uuid.uuid4().hex
        created = datetime.now(UTC)
        now = created.isoformat()
        table = self._table()
        table.create_entity({"PartitionKey": cid, "RowKey": INDEX_ROW, F_NEXT_SEQ: 1, F_COMPLETED_SEQ: 0,
                             F_CREATED_AT: now, F_SCHEMA: SCHEMA_VERSION})
        # Listed only after the conversation exists (a second create of the same id raised above). A crash in
        # between leaves the conversation usable but unlisted; tables have no transaction across partitions.
        table.upsert_entity({"PartitionKey": LIST_PARTITION, "RowKey": _list_row_key(created, cid),
                             "conversationId": cid, F_CREATED_AT: now})
        return Conversation(cid, now, 1, 0, None)

    def list_page(self, top: int, continuation_token: str | None = None) -> ConversationPage:
        """Up to ``top`` conversations, newest first, each read from its own index row (counters are current).
        Raises InvalidContinuationTokenError for a token this method did not hand out."""
        after = _decode_token(continuation_token) if continuation_token else ""
        query = self._table().query_entities(
            "PartitionKey eq @pk and RowKey gt @after", parameters={"pk": LIST_PARTITION, "after": after},
            select=["RowKey", "conversationId"], results_per_page=top + 1)
        # One row more than asked tells whether a next page exists; the iterator follows the service's own
        # continuation if it returns a short page.
        rows = list(itertools.islice(query, top + 1))
        listed, more = rows[:top], len(rows) > top
        found = map_concurrently(self._get_if_present, [str(r["conversationId"]) for r in listed])
        token = _encode_token(str(listed[-1]["RowKey"])) if more and listed else None
        return ConversationPage([c for c in found if c is not None], token)

    def _get_if_present(self, conversation_id: str) -> Conversation | None:
        try:
            return self.get(conversation_id)
        except UnknownConversationError:
            return None

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
        """Give the message the next sequence number, or return the existing record for ``message_id``.
        Raises ConversationDeletingError once the conversation's deletion has begun (a retried message too:
        its turn must not start now)."""
        table = self._table()
        for _ in range(50):
            try:
                index = table.get_entity(conversation_id, INDEX_ROW)
            except ResourceNotFoundError:
                raise UnknownConversationError(conversation_id) from None
            if index.get(F_DELETING):
                raise ConversationDeletingError(conversation_id)
            existing = self.get_message(conversation_id, message_id)
            if existing is not None:
                return existing
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

    def complete_turn(self, conversation_id: str, seq: int, provider_ref: str | None, *,
                      skipped: bool = False) -> TurnRelease:
        """Mark turn ``seq`` finished (idempotent) and remember the provider handle for the next turn.

        ``skipped``: the turn was cancelled before its run was created, so the turn ahead of it may still run.
        It is marked on its ``seq|`` row; whichever finishes last, it or the turn ahead, moves ``completedSeq``
        over it (each writes its own fact, then reads the other's, so one of them always sees both)."""
        table = self._table()
        if skipped:
            table.upsert_entity({"PartitionKey": conversation_id, "RowKey": f"seq|{seq:06d}", F_SKIPPED: True},
                                mode=UpdateMode.MERGE)
        for _ in range(50):
            row = table.get_entity(conversation_id, INDEX_ROW)
            completed, next_seq = int(row[F_COMPLETED_SEQ]), int(row[F_NEXT_SEQ])
            if completed < seq - 1:  # only a skipped turn gets here: the turn ahead will step over it
                return TurnRelease(completed, next_seq)
            target = self._past_skipped(conversation_id, max(completed, seq), next_seq)
            if target == completed:
                return TurnRelease(completed, next_seq)
            patch: dict[str, Any] = {"PartitionKey": conversation_id, "RowKey": INDEX_ROW, F_COMPLETED_SEQ: target}
            if provider_ref is not None and not skipped and completed < seq:
                patch[F_PROVIDER_REF] = provider_ref
            with contextlib.suppress(ResourceModifiedError):  # then read again: a turn skipped meanwhile counts
                table.update_entity(patch, mode=UpdateMode.MERGE, etag=row.metadata["etag"],
                                    match_condition=MatchConditions.IfNotModified)
        raise RuntimeError(f"could not complete turn {seq} of {conversation_id}: too much contention")

    def _past_skipped(self, conversation_id: str, completed: int, next_seq: int) -> int:
        """``completed`` moved over the skipped turns right after it."""
        if next_seq <= completed + 1:
            return completed
        rows = self._table().query_entities(
            "PartitionKey eq @pk and RowKey gt @lo and RowKey lt 'seq}'",
            parameters={"pk": conversation_id, "lo": f"seq|{completed:06d}"}, select=["RowKey", F_SKIPPED])
        for row in sorted(rows, key=lambda r: r["RowKey"]):
            if int(row["RowKey"][4:]) != completed + 1 or not row.get(F_SKIPPED):
                break
            completed += 1
        return completed

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

    # -- deletion -------------------------------------------------------------------------------------------

    def mark_deleting(self, conversation_id: str, etag: str | None = None) -> Conversation:
        """Begin the conversation's deletion (idempotent): once this returns, no message is accepted (the mark
        and accept_message's transaction both check the row's ETag), so ``next_seq`` of the result is final.
        With ``etag``: only if the row has not changed since it was read (else ResourceModifiedError).
        Raises UnknownConversationError."""
        table = self._table()
        for _ in range(50):
            try:
                row = table.get_entity(conversation_id, INDEX_ROW)
            except ResourceNotFoundError:
                raise UnknownConversationError(conversation_id) from None
            if row.get(F_DELETING):
                return _conversation(row)
            if etag is not None and row.metadata["etag"] != etag:
                raise ResourceModifiedError(f"conversation {conversation_id} changed since it was read")
            try:
                table.update_entity({"PartitionKey": conversation_id, "RowKey": INDEX_ROW, F_DELETING: _now()},
                                    mode=UpdateMode.MERGE, etag=row.metadata["etag"],
                                    match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                if etag is not None:
                    raise
                continue
            except ResourceNotFoundError:
                raise UnknownConversationError(conversation_id) from None
            return self.get(conversation_id)
        raise RuntimeError(f"could not mark {conversation_id} for deletion: too much contention")

    def delete_rows(self, conversation_id: str) -> int:
        """Delete every row of the conversation's partition except its index row; returns how many."""
        return delete_partition(self._table(), conversation_id, keep={INDEX_ROW})

    def delete_index(self, conv: Conversation) -> int:
        """Delete the listing row, then the index row (last: it is what marks the deletion as unfinished).
        Returns how many rows that was."""
        table = self._table()
        table.delete_entity(LIST_PARTITION, _list_row_key(datetime.fromisoformat(conv.created_at), conv.conversation_id))
        table.delete_entity(conv.conversation_id, INDEX_ROW)
        return 2

    def created_before(self, moment: datetime) -> Iterator[str]:
        """Ids of the listed conversations created before ``moment``, oldest last (a query of the listing
        partition, so only those rows are read)."""
        after = f"{_MAX_EPOCH_MS - int(moment.timestamp() * 1000):013d}"
        rows = self._table().query_entities("PartitionKey eq @pk and RowKey gt @after",
                                            parameters={"pk": LIST_PARTITION, "after": after},
                                            select=["conversationId"])
        return (str(r["conversationId"]) for r in rows)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _list_row_key(created: datetime, conversation_id: str) -> str:
    return f"{_MAX_EPOCH_MS - int(created.timestamp() * 1000):013d}|{conversation_id}"


def _encode_token(row_key: str) -> str:
    return base64.urlsafe_b64encode(row_key.encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    try:
        row_key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidContinuationTokenError(token) from None
    if not re.fullmatch(r"\d{13}\|[A-Za-z0-9_-]{1,64}", row_key):
        raise InvalidContinuationTokenError(token)
    return row_key


def _conversation(row: Any) -> Conversation:
    stamp = row.metadata.get("timestamp")
    return Conversation(conversation_id=row["PartitionKey"], created_at=row[F_CREATED_AT],
                        next_seq=int(row[F_NEXT_SEQ]), completed_seq=int(row[F_COMPLETED_SEQ]),
                        provider_ref=row.get(F_PROVIDER_REF), deleting_since=row.get(F_DELETING),
                        last_activity_at=stamp.isoformat() if isinstance(stamp, datetime) else None,
                        etag=row.metadata.get("etag"))


def _message(row: Any, created: bool) -> MessageRecord:
    return MessageRecord(conversation_id=row["PartitionKey"], message_id=row["messageId"], seq=int(row["seq"]),
                         instance_id=row["instanceId"], content=row["content"], received_at=row["receivedAt"],
                         created=created)
