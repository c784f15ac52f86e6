"""ASP.NET-style route templates of HTTP triggers: ``{name}``, ``{name?}``, ``{name:int}``, ``{name=default}``,
``{*rest}``; literal segments match case-insensitively, like the Functions host's router."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

_PARAM = re.compile(r"\{([^{}]+)\}")
_CONSTRAINT = re.compile(r"^(?P<name>[A-Za-z]+)(?:\((?P<arg>.*)\))?$")


class RouteTemplateError(ValueError):
    """A route template the Functions host would reject."""


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _constraint(spec: str, template: str) -> Callable[[str], bool]:
    match = _CONSTRAINT.match(spec)
    if not match:
        raise RouteTemplateError(f"route '{template}': cannot parse constraint '{spec}'")
    name, arg = match.group("name").lower(), match.group("arg")
    simple: dict[str, Callable[[str], bool]] = {
        "int": lambda v: re.fullmatch(r"-?\d+", v) is not None,
        "long": lambda v: re.fullmatch(r"-?\d+", v) is not None,
        "bool": lambda v: v.lower() in ("true", "false"),
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
        "guid": _is_guid,
        "double": _number,
        "float": _number,
        "decimal": _number,
        "datetime": _is_datetime,
    }
    if name in simple and arg is None:
        return simple[name]
    if arg is None and name not in simple:
        raise RouteTemplateError(f"route '{template}': the constraint reference '{spec}' could not be resolved")
    if name == "regex":
        pattern = re.compile(arg or "", re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    try:
        numbers = [int(part) for part in (arg or "").split(",")]
    except ValueError:
        raise RouteTemplateError(f"route '{template}': bad argument in constraint '{spec}'") from None
    if name == "minlength" and len(numbers) == 1:
        return lambda v: len(v) >= numbers[0]
    if name == "maxlength" and len(numbers) == 1:
        return lambda v: len(v) <= numbers[0]
    if name == "length" and len(numbers) in (1, 2):
        low, high = (numbers[0], numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])
        return lambda v: low <= len(v) <= high
    if name in ("min", "max", "range"):
        def numeric(check: Callable[[int], bool]) -> Callable[[str], bool]:
            return lambda v: re.fullmatch(r"-?\d+", v) is not None and check(int(v))
        if name == "min" and len(numbers) == 1:
            return numeric(lambda n: n >= numbers[0])
        if name == "max" and len(numbers) == 1:
            return numeric(lambda n: n <= numbers[0])
        if name == "range" and len(numbers) == 2:
            return numeric(lambda n: numbers[0] <= n <= numbers[1])
    raise RouteTemplateError(f"route '{template}': the constraint reference '{spec}' could not be resolved")


@dataclass(frozen=True)
class _Param:
    name: str
    group: str
    optional: bool
    catch_all: bool
    default: str | None
    checks: tuple[Callable[[str], bool], ...]


class RouteTemplate:
    """One compiled template; ``match(path)`` gives the route parameters or None."""

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self._params: list[_Param] = []
        pattern = ""
        rank: list[int] = []
        segments = self.template.split("/") if self.template else []
        for position, segment in enumerate(segments):
            if not segment:
                raise RouteTemplateError(f"route '{template}': empty segment")
            whole = _PARAM.fullmatch(segment)
            if whole:
                param = self._parse_param(whole.group(1), len(self._params), template)
                if param.catch_all and position != len(segments) - 1:
                    raise RouteTemplateError(f"route '{template}': a catch-all parameter must be the last segment")
                self._params.append(param)
                if param.catch_all:
                    pattern += f"(?:/(?P<{param.group}>.*))?"
                    rank.append(4)
                elif param.optional or param.default is not None:
                    pattern += f"(?:/(?P<{param.group}>[^/]+))?"
                    rank.append(3)
                else:
                    pattern += f"/(?P<{param.group}>[^/]+)"
                    rank.append(1 if param.checks else 2)
                continue
            # A literal segment, possibly with embedded parameters ("files/{name}.{ext}").
            pos = 0
            piece = ""
            for m in _PARAM.finditer(segment):
                piece += re.escape(segment[pos:m.start()])
                param = self._parse_param(m.group(1), len(self._params), template)
                if param.optional or param.catch_all:
                    raise RouteTemplateError(f"route '{template}': '{{{m.group(1)}}}' cannot share a segment")
                self._params.append(param)
                piece += f"(?P<{param.group}>[^/]+?)"
                pos = m.end()
            piece += re.escape(segment[pos:])
            pattern += "/" + piece
            rank.append(0 if pos == 0 else 1)
        names = [p.name.lower() for p in self._params]
        if len(set(names)) != len(names):
            raise RouteTemplateError(f"route '{template}': a parameter name appears twice")
        self._regex = re.compile("^" + pattern + "/?$", re.IGNORECASE)
        # Sort key: more literal / constrained segments first, catch-alls last (ASP.NET route precedence).
        self.precedence = (tuple(rank), -len(rank))

    @staticmethod
    def _parse_param(body: str, index: int, template: str) -> _Param:
        catch_all = body.startswith("*")
        body = body.lstrip("*")
        default: str | None = None
        if "=" in body:
            body, default = body.split("=", 1)
        optional = body.endswith("?")
        body = body.rstrip("?")
        name, *constraints = body.split(":")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise RouteTemplateError(f"route '{template}': invalid parameter name '{name}'")
        return _Param(name, f"p{index}", optional, catch_all, default,
                      tuple(_constraint(c, template) for c in constraints))

    def match(self, path: str) -> dict[str, str] | None:
        """``path`` relative to the route prefix, with a leading ``/`` (``/`` for the empty path)."""
        m = self._regex.match(path if path != "/" else "")
        if m is None:
            return None
        values: dict[str, str] = {}
        for param in self._params:
            value = m.group(param.group)
            if value is None or value == "":
                if param.default is not None:
                    values[param.name] = param.default
                elif param.optional or param.catch_all:
                    continue
                else:
                    return None
                continue
            if not all(check(value) for check in param.checks):
                return None
            values[param.name] = value
        return values
