"""Conversation index (Table Storage), turn working data and turn records (Blob Storage)."""

from durable_assistant.storage_clients import DEV_STORAGE_CONNECTION_STRING, StorageClients
from durable_assistant.store._approvals import (
    APPROVALS_TABLE,
    ApprovalClosedError,
    ApprovalNotFoundError,
    ApprovalRecord,
    ApprovalStore,
    Decision,
    parse_approval_id,
)
from durable_assistant.store._blobs import CHAT_CONTAINER, TRANSCRIPTS_CONTAINER, WORK_CONTAINER, JsonBlobs
from durable_assistant.store._conversations import (
    CONVERSATIONS_TABLE,
    Conversation,
    ConversationDeletingError,
    ConversationPage,
    ConversationStore,
    InvalidContinuationTokenError,
    MessageRecord,
    TurnRelease,
    UnknownConversationError,
    instance_id_for,
    valid_conversation_id,
    valid_message_id,
)
from durable_assistant.store._parallel import map_concurrently, submit
from durable_assistant.store._turns import BlobStepJournal, TurnStore, turn_record_key

__all__ = [
    "APPROVALS_TABLE",
    "ApprovalClosedError",
    "ApprovalNotFoundError",
    "ApprovalRecord",
    "ApprovalStore",
    "Decision",
    "parse_approval_id",
    "CHAT_CONTAINER",
    "CONVERSATIONS_TABLE",
    "BlobStepJournal",
    "DEV_STORAGE_CONNECTION_STRING",
    "TRANSCRIPTS_CONTAINER",
    "WORK_CONTAINER",
    "Conversation",
    "ConversationDeletingError",
    "ConversationPage",
    "ConversationStore",
    "InvalidContinuationTokenError",
    "JsonBlobs",
    "MessageRecord",
    "StorageClients",
    "TurnRelease",
    "TurnStore",
    "UnknownConversationError",
    "instance_id_for",
    "map_concurrently",
    "submit",
    "turn_record_key",
    "valid_conversation_id",
    "valid_message_id",
]
