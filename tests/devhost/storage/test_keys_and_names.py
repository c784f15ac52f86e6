"""Pure rules: FNV-1a partitioning, PartitionKey escaping, RowKeys and hub-name validation (spec 6.1, 6.2, 8)."""

from __future__ import annotations

import pytest

from devhost.storage import (
    InvalidHubNameError,
    TaskHubNames,
    escape_partition_key,
    fnv1a_32,
    history_row_key,
    partition_for,
    unescape_partition_key,
    validate_hub_name,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Published FNV-1a 32-bit test vectors (Fowler/Noll/Vo reference test suite).
        ("", 0x811C9DC5),
        ("a", 0xE40C292C),
        ("foobar", 0xBF9CF968),
    ],
)
def test_fnv1a_matches_reference_vectors(text: str, expected: int) -> None:
    assert fnv1a_32(text) == expected


def test_fnv1a_hashes_utf8_bytes() -> None:
    # "é" is two UTF-8 bytes (C3 A9): hashing them one after the other must equal hashing the text.
    value = 0x811C9DC5
    for byte in (0xC3, 0xA9):
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    assert fnv1a_32("é") == value


def test_partition_is_hash_mod_count() -> None:
    ids = [f"instance-{n}" for n in range(200)]
    assert all(partition_for(i, 4) == fnv1a_32(i) % 4 for i in ids)
    assert {partition_for(i, 4) for i in ids} == {0, 1, 2, 3}
    assert partition_for("foobar", 16) == 0xBF9CF968 % 16


def test_partition_key_escaping_round_trips() -> None:
    assert escape_partition_key("plain-id:1") == "plain-id:1"
    assert escape_partition_key("a^b/c\\d#e?f") == "a^^b^0c^1d^2e^3f"
    assert escape_partition_key("x\x01y\x7f") == "x^\u00c1y^\u013f"
    for original in ["a^b/c\\d#e?f", "x\x01y\x7f\x9f", "@counter@key", ""]:
        assert unescape_partition_key(escape_partition_key(original)) == original
    with pytest.raises(ValueError, match="unknown escape"):
        unescape_partition_key("^z")


def test_history_row_keys_are_16_uppercase_hex_digits() -> None:
    assert history_row_key(0) == "0000000000000000"
    assert history_row_key(10) == "000000000000000A"
    assert history_row_key(255) == "00000000000000FF"
    assert sorted(history_row_key(n) for n in (300, 2, 17)) == [history_row_key(n) for n in (2, 17, 300)]
    with pytest.raises(ValueError):
        history_row_key(-1)


@pytest.mark.parametrize("name", ["abc", "TestHubName", "Hub2", "a" * 45])
def test_valid_hub_names(name: str) -> None:
    assert validate_hub_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ab", "3 to 45"),
        ("a" * 46, "3 to 45"),
        ("1hub", "start with a letter"),
        ("my-hub", "letters and digits"),
        ("hub_name", "letters and digits"),
        ("hübname", "letters and digits"),
    ],
)
def test_invalid_hub_names_are_rejected_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidHubNameError, match=reason):
        validate_hub_name(name)


def test_resource_names() -> None:
    names = TaskHubNames("MyHub", 3)
    assert names.instances_table == "MyHubInstances"
    assert names.history_table == "MyHubHistory"
    assert names.control_queues == ["myhub-control-00", "myhub-control-01", "myhub-control-02"]
    assert names.work_item_queue == "myhub-workitems"
    assert names.large_messages_container == "myhub-largemessages"
    assert names.leases_container == "myhub-leases"
    with pytest.raises(ValueError, match="partition_count"):
        TaskHubNames("MyHub", 17)
