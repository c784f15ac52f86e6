"""Bounded JSON parsing (durable_assistant.json_limits): size and depth limits found without recursion."""

from __future__ import annotations

import json

import pytest

from durable_assistant import json_limits
from durable_assistant.json_limits import JsonTooDeep, JsonTooLarge


def test_nesting_past_the_limit_is_refused_before_json_loads_recurses() -> None:
    deep = "[" * 3000 + "]" * 3000
    with pytest.raises(RecursionError):
        json.loads("[" * 100_000 + "]" * 100_000)  # what the limit protects against
    for text in (deep, '{"a":' * 3000 + "1" + "}" * 3000, "[" * 100_000):  # unclosed too
        with pytest.raises(JsonTooDeep) as err:
            json_limits.loads(text)
        assert err.value.limit == json_limits.MAX_DEPTH
    at_limit = "[" * json_limits.MAX_DEPTH + "]" * json_limits.MAX_DEPTH
    assert json_limits.loads(at_limit) == json.loads(at_limit)
    with pytest.raises(JsonTooDeep):
        json_limits.loads("[" + at_limit + "]")


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"content": "[" * 5000 + '\\"{' * 100, "nested": [[["x]]]]"]]]})
    assert json_limits.loads(text) == json.loads(text)
    assert not json_limits.exceeds_depth(text, 4)  # the object and three lists
    assert json_limits.exceeds_depth(text, 3)


def test_size_is_counted_in_bytes_and_reported() -> None:
    body = json.dumps({"content": "é" * 600}).encode()
    with pytest.raises(JsonTooLarge) as err:
        json_limits.loads(body, max_bytes=1000)
    assert (err.value.size, err.value.limit) == (len(body), 1000)
    assert json_limits.loads(body, max_bytes=len(body)) == {"content": "é" * 600}


def test_other_bad_text_stays_a_value_error() -> None:
    for bad in (b"{", b"\xff\xfe\xfd", b'{"n": ' + b"9" * 5000 + b"}"):  # the last: past int()'s digit limit
        with pytest.raises(ValueError) as err:
            json_limits.loads(bad)
        assert not isinstance(err.value, json_limits.JsonLimitError)
    assert json_limits.loads('{"a": 1}'.encode("utf-16")) == {"a": 1}  # json.loads' encoding detection kept
