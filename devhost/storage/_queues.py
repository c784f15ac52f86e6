"""Control and work-item queues: send (with visibility delay for timers), receive, delete, renew (spec 6.1, 6.5)."""

from __future__ import annotations

import asyncio
import logging
import math

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.queue import QueueMessage as StorageQueueMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost.model import QueueMessage
from devhost.storage._errors import MessageDecodeError, MessageLostError
from devhost.storage._keys import escape_partition_key
from devhost.storage._large import QUEUE_BODY_LIMIT, LargeMessageStore
from devhost.storage._names import TaskHubNames
from devhost.storage._types import ReceivedMessage
from devhost.storage._wire import (
    decode_message,
    encode_message,
    encode_wrapper,
    from_queue_body,
    large_message_blob_name,
    to_queue_body,
    wrapped_blob_name,
)

log = logging.getLogger("devhost.storage")

MAX_VISIBILITY_SECONDS = 7 * 24 * 3600  # Azure Queue storage's limit for visibility timeouts and delays
MAX_MESSAGES_PER_RECEIVE = 32  # Azure Queue storage's limit per Get Messages call
_NEVER_EXPIRE = -1  # a timer message must outlive its delay; Azure's default TTL is 7 days


def visibility_seconds(seconds: float, *, what: str) -> int:
    """Whole seconds for the service, rounded up so nothing becomes visible early; within Azure's limits."""
    if seconds > MAX_VISIBILITY_SECONDS:
        raise ValueError(
            f"{what} of {seconds:.0f} s exceeds Azure Queue storage's maximum of 7 days "
            f"({MAX_VISIBILITY_SECONDS} s); long durable timers must be split into shorter ones"
        )
    return max(0, math.ceil(seconds))


class QueueStore:
    def __init__(self, service: QueueServiceClient, names: TaskHubNames, large: LargeMessageStore) -> None:
        self._large = large
        self.control = [service.get_queue_client(name) for name in names.control_queues]
        self.work_items = service.get_queue_client(names.work_item_queue)
        self._by_name = {queue.queue_name: queue for queue in [*self.control, self.work_items]}

    async def send(
        self,
        queue: QueueClient,
        message: QueueMessage,
        *,
        delay_seconds: float = 0.0,
        hold_seconds: float | None = None,
    ) -> ReceivedMessage | None:
        """Enqueue ``message``. With ``hold_seconds`` it is put invisible for that long and returned as already
        received (the Put Message response carries its id and pop receipt): the sender processes it in process
        and deletes it; should the sender die, it becomes visible and is delivered the ordinary way. A delayed
        message can be held too (a durable timer the sender fires itself): it is invisible for the longer of
        the two."""
        wanted = max(delay_seconds, hold_seconds or 0.0)
        delay = visibility_seconds(wanted, what="message delay")
        text = encode_message(message)
        if len(text.encode("utf-8")) > QUEUE_BODY_LIMIT:
            blob_name = large_message_blob_name(escape_partition_key(message.instance_id), message)
            await self._large.upload(blob_name, text)
            text = encode_wrapper(message, blob_name)
        sent = await queue.send_message(
            to_queue_body(text), visibility_timeout=delay or None, time_to_live=_NEVER_EXPIRE
        )
        if hold_seconds is None:
            return None
        return ReceivedMessage(
            message=message,
            queue_name=queue.queue_name,
            queue_message_id=sent.id,
            pop_receipt=str(sent.pop_receipt),
            dequeue_count=0,
            inserted_on=sent.inserted_on,
        )

    async def receive(
        self, queue: QueueClient, *, max_messages: int, visibility_timeout: float
    ) -> list[ReceivedMessage]:
        count = min(max(1, max_messages), MAX_MESSAGES_PER_RECEIVE)
        timeout = max(1, visibility_seconds(visibility_timeout, what="visibility timeout"))
        # One Get Messages call: iterating the pager itself would call again whenever a page came back short.
        items: list[StorageQueueMessage] = []
        async for page in queue.receive_messages(
            messages_per_page=count, visibility_timeout=timeout
        ).by_page():
            items = [item async for item in page]
            break
        decoded = await asyncio.gather(
            *(self._decode(str(item.content)) for item in items), return_exceptions=True
        )
        received: list[ReceivedMessage] = []
        for item, message in zip(items, decoded, strict=True):
            if isinstance(message, MessageDecodeError | FileNotFoundError):
                # Re-delivering it forever would block its instance; it cannot become readable later.
                log.warning("dropping unreadable message %s from %s: %s", item.id, queue.queue_name, message)
                await self._delete_quietly(queue, item.id, item.pop_receipt)
                continue
            if isinstance(message, BaseException):
                raise message
            received.append(
                ReceivedMessage(
                    message=message,
                    queue_name=queue.queue_name,
                    queue_message_id=item.id,
                    pop_receipt=str(item.pop_receipt),
                    dequeue_count=int(item.dequeue_count or 0),
                    inserted_on=item.inserted_on,
                )
            )
        return received

    async def delete(self, received: ReceivedMessage) -> None:
        queue = self._queue(received.queue_name)
        try:
            await queue.delete_message(received.queue_message_id, received.pop_receipt)
        except (ResourceNotFoundError, HttpResponseError) as exc:
            if _is_lost(exc):
                raise MessageLostError(f"message {received.queue_message_id} is gone: {exc.reason}") from exc
            raise

    async def renew(self, received: ReceivedMessage, visibility_timeout: float) -> None:
        queue = self._queue(received.queue_name)
        timeout = visibility_seconds(visibility_timeout, what="visibility timeout")
        try:
            updated = await queue.update_message(
                received.queue_message_id, received.pop_receipt, visibility_timeout=timeout
            )
        except (ResourceNotFoundError, HttpResponseError) as exc:
            if _is_lost(exc):
                raise MessageLostError(f"message {received.queue_message_id} is gone: {exc.reason}") from exc
            raise
        received.pop_receipt = str(updated.pop_receipt)

    async def _decode(self, body: str) -> QueueMessage:
        text = from_queue_body(body)
        blob_name = wrapped_blob_name(text)
        if blob_name is not None:
            text = await self._large.download(blob_name)
        return decode_message(text)

    def _queue(self, name: str) -> QueueClient:
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(f"queue {name!r} does not belong to this task hub") from None

    async def _delete_quietly(self, queue: QueueClient, message_id: str, pop_receipt: str | None) -> None:
        try:
            await queue.delete_message(message_id, pop_receipt)
        except HttpResponseError as exc:
            log.warning("could not delete unreadable message %s: %s", message_id, exc.reason)


def _is_lost(exc: HttpResponseError) -> bool:
    # 404 MessageNotFound; 400 PopReceiptMismatch when another receive took the message meanwhile.
    return exc.status_code in (400, 404)
