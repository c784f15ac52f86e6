"""Fit a tool's JSON output under a character cap and keep it valid JSON.

Cutting the serialized text would hand the model half an object. Instead the largest parts are shortened, one
at a time: a long string loses its tail, a list its last items, and the output says what was cut:
``"truncated": true`` and ``"truncatedFields": [{"path", "originalLength", "keptLength"}]`` (JSON Pointer paths;
lengths in characters for strings, in items for lists). If that cannot make it fit (thousands of small fields),
the payload's value becomes a string: its JSON text cut to fit, noted the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

_MAX_STEPS = 64
_MIN_CUT = 64


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _nodes(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every string long enough to be worth cutting (a note costs more than a short string saves) and every
    non-empty list under ``value``."""
    if isinstance(value, str):
        if len(value) >= _MIN_CUT:
            yield path, value
    elif isinstance(value, list):
        if value:
            yield path, value
        for i, item in enumerate(value):
            yield from _nodes(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))


def _pick(candidates: list[tuple[int, tuple[str | int, ...], Any]]) -> tuple[int, tuple[str | int, ...], Any]:
    """The largest part; but rather than drop a list's items, shorten what fills most of it (one long text in a
    list keeps its start instead of disappearing with its item)."""
    size, path, node = max(candidates, key=lambda c: c[0])
    while isinstance(node, list):
        inner = [c for c in candidates if len(c[1]) > len(path) and c[1][:len(path)] == path and 2 * c[0] >= size]
        if not inner:
            break
        size, path, node = max(inner, key=lambda c: c[0])
    return size, path, node


def _replace(root: dict[str, Any], path: tuple[str | int, ...], new: Any) -> None:
    parent: Any = root
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new


def cap_output(payload: dict[str, Any], max_chars: int) -> str:
    """``payload`` (``{"success": ..., "data" | "error": ...}``) as JSON of at most ``max_chars`` characters."""
    text = _dumps(payload)
    if len(text) <= max_chars:
        return text
    body_key = "data" if "data" in payload else "error"
    # Work on a plain-JSON copy (default=str already applied) so every node is a str/list/dict/scalar.
    work: dict[str, Any] = json.loads(text)
    notes: list[dict[str, Any]] = []
    work["truncated"] = True
    work["truncatedFields"] = notes
    for _ in range(_MAX_STEPS):
        excess = len(_dumps(work)) - max_chars
        if excess <= 0:
            return _dumps(work)
        candidates = [(len(_dumps(node)), path, node) for path, node in _nodes(work[body_key], (body_key,))]
        if not candidates:
            break
        size, path, node = _pick(candidates)
        note_cost = 0 if any(n["path"] == _pointer(path) for n in notes) else 80
        if isinstance(node, str):
            keep = max(0, len(node) - excess - note_cost)
        else:
            keep, budget = len(node) - 1, size - excess - note_cost
            while keep > 0 and len(_dumps(node[:keep])) > budget:
                keep = keep * 3 // 4 if keep > 8 else keep - 1
        _replace(work, path, node[:keep])
        _note(notes, path, node, keep)
    return _as_cut_text(payload, body_key, text, max_chars)


def _note(notes: list[dict[str, Any]], path: tuple[str | int, ...], node: str | list[Any], kept: int) -> None:
    pointer = _pointer(path)
    for note in notes:
        if note["path"] == pointer:  # cut again: keep the first original length
            note["keptLength"] = kept
            return
    notes.append({"path": pointer, "originalLength": len(node), "keptLength": kept})


def _as_cut_text(payload: dict[str, Any], body_key: str, text: str, max_chars: int) -> str:
    """Last resort: the payload's value as a string holding its JSON text, cut to fit."""
    body_text = _dumps(payload[body_key])
    shell = {k: v for k, v in payload.items() if k != body_key}
    note = {"path": "/" + body_key, "originalLength": len(body_text), "keptLength": 0}
    out = {**shell, body_key: "", "truncated": True, "truncatedFields": [note]}
    room = max_chars - len(_dumps(out))
    if room < 0:
        return _dumps({"success": payload.get("success", False), "truncated": True})
    keep = room
    while keep > 0:
        note["keptLength"] = keep
        out[body_key] = body_text[:keep]
        if len(_dumps(out)) <= max_chars:
            return _dumps(out)
        keep -= max(1, len(_dumps(out)) - max_chars)
    note["keptLength"] = 0
    out[body_key] = ""
    return _dumps(out)
