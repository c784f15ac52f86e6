"""Bounded JSON parsing for untrusted input: HTTP bodies, tool-queue messages and a model's tool arguments.

Two limits are checked before ``json.loads`` sees the text: a size in bytes, and a nesting depth found by a flat
scan. ``json.loads`` decodes nested arrays and objects recursively, so a few thousand ``[`` would otherwise end in
RecursionError (a 500) instead of an answer naming the problem.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting of arrays/objects accepted; the app's own bodies and tool arguments need 3 or 4 levels."""
DEFAULT_MAX_BYTES = 256 * 1024
"""Default size limit (ASSISTANT_MAX_BODY_BYTES) for a body, a queue message or a call's arguments."""

# A JSON string (skipped whole, so brackets inside strings do not count) or one bracket.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JsonLimitError(ValueError):
    """The text breaks a limit; ``limit`` is the bound that was passed."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class JsonTooLarge(JsonLimitError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes of JSON; the limit is {limit}", limit)
        self.size = size


class JsonTooDeep(JsonLimitError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nests arrays/objects deeper than {limit} levels", limit)


def exceeds_depth(text: str, limit: int) -> bool:
    """Whether ``text`` opens more than ``limit`` arrays/objects inside each other (no recursion, no parse)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case: too few brackets to nest that deep
    depth = 0
    for token in _TOKEN.finditer(text):
        char = token.group()
        if char == "[" or char == "{":
            depth += 1
            if depth > limit:
                return True
        elif char == "]" or char == "}":
            depth -= 1
    return False


def check(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonTooLarge or JsonTooDeep without parsing (e.g. before a signature check reads the body)."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise JsonTooLarge(size, max_bytes)
    # Only ASCII brackets, quotes and backslashes matter to the scan, so undecodable bytes may be replaced.
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if exceeds_depth(text, max_depth):
        raise JsonTooDeep(max_depth)


def loads(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` within limits. Raises JsonTooLarge, JsonTooDeep, or ValueError (json.JSONDecodeError,
    UnicodeDecodeError, an integer of more than 4300 digits) for text that is not acceptable JSON."""
    check(data, max_bytes=max_bytes, max_depth=max_depth)
    text = data.decode(json.detect_encoding(data), "surrogatepass") if isinstance(data, bytes) else data
    return json.loads(text)
