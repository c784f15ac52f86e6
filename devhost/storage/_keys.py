"""Partitioning and table keys exactly as DurableTask.AzureStorage computes them (spec sections 6.1, 6.2, 6.4)."""

from __future__ import annotations

_FNV_OFFSET_BASIS = 2166136261
_FNV_PRIME = 16777619
_ESCAPE = "^"
# Characters Table storage forbids in keys, with the code DTFx's KeySanitation gives each.
_ESCAPED = {"^": "^", "/": "0", "\\": "1", "#": "2", "?": "3"}
_UNESCAPED = {code: char for char, code in _ESCAPED.items()}
SENTINEL_ROW_KEY = "sentinel"


def fnv1a_32(text: str) -> int:
    """FNV-1a 32-bit hash of the UTF-8 bytes of ``text`` (DTFx ``Fnv1aHashHelper``)."""
    value = _FNV_OFFSET_BASIS
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def partition_for(instance_id: str, partition_count: int) -> int:
    return fnv1a_32(instance_id) % partition_count


def _is_control(char: str) -> bool:
    code = ord(char)
    return code <= 0x1F or 0x7F <= code <= 0x9F


def escape_partition_key(instance_id: str) -> str:
    """Instance id -> PartitionKey (``^`` escapes; a no-op for every id Durable Functions accepts)."""
    out: list[str] = []
    for char in instance_id:
        if char in _ESCAPED:
            out.append(_ESCAPE + _ESCAPED[char])
        elif _is_control(char):
            out.append(_ESCAPE + chr(ord(char) + 0xC0))
        else:
            out.append(char)
    return "".join(out)


def unescape_partition_key(key: str) -> str:
    out: list[str] = []
    chars = iter(key)
    for char in chars:
        if char != _ESCAPE:
            out.append(char)
            continue
        code = next(chars, None)
        if code is None:
            raise ValueError(f"PartitionKey {key!r} ends with a lone escape character")
        if code in _UNESCAPED:
            out.append(_UNESCAPED[code])
        elif ord(code) >= 0xC0 and _is_control(chr(ord(code) - 0xC0)):
            out.append(chr(ord(code) - 0xC0))
        else:
            raise ValueError(f"PartitionKey {key!r} has an unknown escape sequence ^{code}")
    return "".join(out)


def history_row_key(index: int) -> str:
    """RowKey of the ``index``-th event of an execution: ``index.ToString("X16")``."""
    if index < 0:
        raise ValueError(f"history index must be >= 0, got {index}")
    return f"{index:016X}"


def history_index(row_key: str) -> int:
    return int(row_key, 16)
