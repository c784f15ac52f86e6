"""The queue wire format (devhost/storage/_wire.py): lossless round trips and clear failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devhost.model import EventType, HistoryEvent, QueueMessage
from devhost.storage import MessageDecodeError, decode_message, encode_message
from devhost.storage._wire import from_queue_body, parse_timestamp, to_queue_body


def test_round_trip_keeps_every_member_and_restores_datetimes() -> None:
    fire_at = datetime(2026, 11, 21, 12, 5, 0, 123456, tzinfo=UTC)
    event = HistoryEvent(
        EventType.TimerFired,
        event_id=-1,
        is_played=False,
        timestamp=datetime(2026, 11, 21, 12, 0, 0, 1, tzinfo=UTC),
        fields={"TimerId": 3, "FireAt": fire_at},
        message_id="event-msg",
    )
    message = QueueMessage("inst-1", event, execution_id="e" * 32, message_id="m" * 32, episode=4)
    text = encode_message(message)
    body = json.loads(text)
    assert body["event"]["EventType"] == "TimerFired"
    assert body["event"]["Fields"]["FireAt"] == "2026-11-21T12:05:00.1234560Z"
    decoded = decode_message(text)
    assert decoded == message
    assert isinstance(decoded.event.fields["FireAt"], datetime)
    assert decoded.event.event_type is EventType.TimerFired


def test_objects_and_unicode_survive() -> None:
    event = HistoryEvent(
        EventType.ExecutionStarted,
        fields={
            "Name": "orchestrator",
            "Version": "",
            "Input": '"{\\"city\\": \\"Zürich 東京\\"}"',
            "OrchestrationInstance": {"InstanceId": "i", "ExecutionId": "x"},
            "ParentInstance": None,
            "Generation": 2,
        },
    )
    message = QueueMessage("i", event)
    assert decode_message(encode_message(message)) == message


def test_datetime_in_a_field_that_is_not_a_datetime_field_is_rejected() -> None:
    event = HistoryEvent(EventType.EventRaised, fields={"Name": "x", "When": datetime.now(UTC)})
    with pytest.raises(TypeError, match="DATETIME_FIELDS"):
        encode_message(QueueMessage("i", event))


def test_naive_datetimes_are_rejected() -> None:
    event = HistoryEvent(EventType.TimerFired, fields={"TimerId": 0, "FireAt": datetime(2026, 1, 1)})
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_message(QueueMessage("i", event))


def test_dotnet_timestamps_parse_to_aware_utc() -> None:
    assert parse_timestamp("2026-11-21T12:00:00.1234567Z") == datetime(
        2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_timestamp("2026-11-21T12:00:00Z") == datetime(2026, 11, 21, 12, tzinfo=UTC)
    shifted = parse_timestamp("2026-11-21T14:00:00.5+02:00")
    assert shifted == datetime(2026, 11, 21, 12, 0, 0, 500000, tzinfo=UTC)
    assert shifted.utcoffset() == timedelta(0)
    assert parse_timestamp("2026-11-21T12:00:00.000000+00:00").utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["not json", "{}", '{"v": 2}', '{"v": 1, "event": {}}', "[1, 2]"])
def test_foreign_bodies_raise_message_decode_error(text: str) -> None:
    with pytest.raises(MessageDecodeError):
        decode_message(text)


def test_queue_body_is_base64_of_utf8() -> None:
    assert to_queue_body('{"a":"é"}') == "eyJhIjoiw6kifQ=="
    assert from_queue_body("eyJhIjoiw6kifQ==") == '{"a":"é"}'
    with pytest.raises(MessageDecodeError):
        from_queue_body("%%% not base64")
