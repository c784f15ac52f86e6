"""Control and work-item queues: routing by partition, wire round trips, large bodies, timer delays,
renew/delete and unreadable messages, against a real Azurite."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from azure.storage.queue.aio import QueueClient

from devhost.model import EventType, HistoryEvent, QueueMessage, utcnow
from devhost.storage import MessageLostError, ReceivedMessage, TaskHubStorage, decode_message
from devhost.storage._wire import from_queue_body

from . import _raw


def timer_fired(timer_id: int = 0) -> HistoryEvent:
    return HistoryEvent(EventType.TimerFired, fields={"TimerId": timer_id, "FireAt": utcnow()})


async def receive_until(
    storage: TaskHubStorage, partition: int, *, attempts: int = 60
) -> list[ReceivedMessage]:
    for _ in range(attempts):
        received = await storage.receive_control(partition, max_messages=32, visibility_timeout=30)
        if received:
            return received
        await asyncio.sleep(0.5)
    return []


def test_control_messages_go_to_the_partition_of_their_instance(run_hub: Any, connection_string: str) -> None:
    async def body(storage: TaskHubStorage) -> None:
        ids = [f"route-{n}" for n in range(12)]
        sent = {i: QueueMessage(i, timer_fired(), execution_id="e" * 32, episode=2) for i in ids}
        for message in sent.values():
            await storage.send_control(message)
        for partition in range(storage.partition_count):
            received = await storage.receive_control(partition, max_messages=32, visibility_timeout=30)
            expected = sorted(i for i in ids if storage.partition_of(i) == partition)
            assert sorted(r.message.instance_id for r in received) == expected
            for item in received:
                assert item.message == sent[item.message.instance_id]
                assert item.dequeue_count == 1
                assert item.queue_name == storage.names.control_queue(partition)
                await storage.delete_message(item)
        # Bodies are Base64 JSON in the wire format, readable by any client.
        await storage.send_control(sent["route-0"])
        queue = storage.names.control_queue(storage.partition_of("route-0"))
        (body_text,) = await _raw.peek_bodies(connection_string, queue)
        assert json.loads(from_queue_body(body_text))["event"]["EventType"] == "TimerFired"

    run_hub(body)


def test_work_items_round_trip(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        scheduled = HistoryEvent(
            EventType.TaskScheduled,
            event_id=3,
            fields={"Name": "hello", "Version": "", "Input": '["\\"Tokyo\\""]'},
        )
        message = QueueMessage("work", scheduled, execution_id="x" * 32, episode=1)
        await storage.send_work_item(message)
        (item,) = await storage.receive_work_items(max_messages=5, visibility_timeout=30)
        assert item.message == message and item.queue_name == storage.names.work_item_queue
        await storage.delete_message(item)
        assert await storage.receive_work_items(max_messages=5, visibility_timeout=30) == []

    run_hub(body)


def test_large_message_bodies_go_to_a_blob(run_hub: Any, connection_string: str) -> None:
    async def body(storage: TaskHubStorage) -> None:
        event = HistoryEvent(
            EventType.EventRaised, fields={"Name": "big", "Input": '"' + "é" * 200_000 + '"'}
        )
        message = QueueMessage("bigmsg", event)
        await storage.send_control(message)
        queue = storage.names.control_queue(storage.partition_of("bigmsg"))
        (raw_body,) = await _raw.peek_bodies(connection_string, queue)
        wrapper = json.loads(from_queue_body(raw_body))
        blob_name = f"bigmsg/message-{message.message_id}-EventRaised.json.gz"
        assert wrapper["compressedBlobName"] == blob_name and len(raw_body) < 1000
        container = storage.names.large_messages_container
        assert decode_message(await _raw.gunzip_blob(connection_string, container, blob_name)) == message
        (item,) = await storage.receive_control(
            storage.partition_of("bigmsg"), max_messages=1, visibility_timeout=30
        )
        assert item.message == message

    run_hub(body)


def test_timer_messages_stay_invisible_until_visible_at(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        partition = storage.partition_of("timer")
        message = QueueMessage("timer", timer_fired(7))
        await storage.send_control(message, visible_at=utcnow() + timedelta(seconds=3))
        assert await storage.receive_control(partition, max_messages=32, visibility_timeout=30) == []
        received = await receive_until(storage, partition)
        assert [r.message for r in received] == [message]
        # A time in the past means "now".
        late = QueueMessage("timer", timer_fired(8))
        await storage.send_control(late, visible_at=utcnow() - timedelta(hours=1))
        assert [r.message for r in await receive_until(storage, partition)] == [late]

    run_hub(body)


def test_delays_beyond_seven_days_are_rejected(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        with pytest.raises(ValueError, match="7 days"):
            await storage.send_control(
                QueueMessage("far", timer_fired()), visible_at=utcnow() + timedelta(days=8)
            )
        await storage.send_control(
            QueueMessage("far", timer_fired()), visible_at=utcnow() + timedelta(days=6)
        )

    run_hub(body)


def test_renew_keeps_a_message_invisible_and_replaces_its_receipt(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        await storage.send_work_item(QueueMessage("renew", timer_fired()))
        (item,) = await storage.receive_work_items(max_messages=1, visibility_timeout=1)
        old_receipt = item.pop_receipt
        await storage.renew_message(item, 60)
        assert item.pop_receipt != old_receipt
        await asyncio.sleep(2)  # past the original 1 s visibility timeout
        assert await storage.receive_work_items(max_messages=1, visibility_timeout=30) == []
        stale = ReceivedMessage(item.message, item.queue_name, item.queue_message_id, old_receipt, 1)
        with pytest.raises(MessageLostError):
            await storage.delete_message(stale)
        await storage.delete_message(item)
        with pytest.raises(MessageLostError):
            await storage.delete_message(item)

    run_hub(body)


def test_unreadable_messages_are_dropped_not_redelivered(run_hub: Any, connection_string: str) -> None:
    async def body(storage: TaskHubStorage) -> None:
        queue = storage.names.control_queue(0)
        async with QueueClient.from_connection_string(connection_string, queue) as client:
            await client.send_message("this is not base64 json")
        good = next(
            QueueMessage(f"ok-{n}", timer_fired()) for n in range(100) if storage.partition_of(f"ok-{n}") == 0
        )
        await storage.send_control(good)
        received = await storage.receive_control(0, max_messages=32, visibility_timeout=30)
        assert [r.message for r in received] == [good]
        await storage.delete_message(received[0])
        assert await _raw.peek_bodies(connection_string, queue) == []

    run_hub(body)


def test_receive_returns_at_most_max_messages(run_hub: Any) -> None:
    async def body(storage: TaskHubStorage) -> None:
        for n in range(40):
            await storage.send_work_item(QueueMessage(f"w{n}", timer_fired(n)))
        first = await storage.receive_work_items(max_messages=5, visibility_timeout=30)
        assert len(first) == 5
        rest = await storage.receive_work_items(max_messages=100, visibility_timeout=30)  # Azure's cap is 32
        assert len(rest) == 32
        last = await storage.receive_work_items(max_messages=100, visibility_timeout=30)
        assert len(last) == 3
        assert len({r.message.message_id for r in first + rest + last}) == 40

    run_hub(body)


def test_a_held_message_is_owned_by_its_sender_until_deleted_or_its_hold_expires(run_hub: Any) -> None:
    """``hold_for`` puts a message invisible and returns it as received: the sender processes it in process.
    If the sender deletes it, nobody else ever sees it; if the sender dies, it is delivered the ordinary way."""

    async def body(storage: TaskHubStorage) -> None:
        kept = QueueMessage("held-1", timer_fired(1), execution_id="e" * 32)
        held = await storage.send_control(kept, hold_for=2)
        assert held is not None and held.message == kept and held.dequeue_count == 0
        partition = storage.partition_of("held-1")
        assert await storage.receive_control(partition, max_messages=32, visibility_timeout=30) == []
        await storage.delete_message(held)

        abandoned = QueueMessage("held-1", timer_fired(2), execution_id="e" * 32)
        assert await storage.send_work_item(abandoned, hold_for=1) is not None
        assert await storage.receive_work_items(max_messages=32, visibility_timeout=30) == []
        for _ in range(40):  # the hold ends after about a second
            redelivered = await storage.receive_work_items(max_messages=32, visibility_timeout=30)
            if redelivered:
                break
            await asyncio.sleep(0.25)
        assert [r.message for r in redelivered] == [abandoned]
        assert redelivered[0].dequeue_count == 1
        await asyncio.sleep(1.2)  # the deleted held message never comes back
        assert await storage.receive_control(partition, max_messages=32, visibility_timeout=30) == []

    run_hub(body)
