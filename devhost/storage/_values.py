"""Python values <-> Azure Table property values, with the Edm types DTFx writes (spec section 6.4).

azure-data-tables maps ``int`` to Edm.Int32, ``bool`` to Boolean, ``datetime`` to Edm.DateTime and ``str`` to
String; this module adds what DTFx does on top: enums as their names, nested objects as compact JSON text, and
Int64 only where a value does not fit Int32. Every datetime must be timezone-aware: a naive one is almost always
a bug (local time read as UTC), so it is rejected instead of guessed.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import EdmType, EntityProperty

from devhost.model import OBJECT_FIELDS, RuntimeStatus, compact_json

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
# DTFx OrchestrationStatus numbering (the context JSON carries the number, tables the name).
ORCHESTRATION_STATUS_BY_NUMBER = {
    0: RuntimeStatus.Running,
    1: RuntimeStatus.Completed,
    2: RuntimeStatus.ContinuedAsNew,
    3: RuntimeStatus.Failed,
    4: RuntimeStatus.Canceled,
    5: RuntimeStatus.Terminated,
    6: RuntimeStatus.Pending,
    7: RuntimeStatus.Suspended,
}
STATUS_FIELD = "OrchestrationStatus"


def require_aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def plain_utc(value: datetime) -> datetime:
    """A plain ``datetime`` in UTC (the SDK returns its own subclass carrying the service's text)."""
    value = value.astimezone(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def to_table_value(name: str, value: Any) -> Any:
    """The property value to store for field ``name``; None means "omit the column"."""
    if value is None:
        return None
    if name == STATUS_FIELD:
        return _status_name(value)
    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, int):
        if _INT32_MIN <= value <= _INT32_MAX:
            return value
        return EntityProperty(value, EdmType.INT64)
    if isinstance(value, datetime):
        return require_aware(name, value)
    if isinstance(value, dict | list):
        if name not in OBJECT_FIELDS:
            raise TypeError(
                f"history field {name!r} holds a {type(value).__name__}, but only devhost.model.OBJECT_FIELDS "
                "are stored as JSON objects (add it there so it is parsed back on read)"
            )
        return compact_json(value)
    raise TypeError(f"history field {name!r} has a value of unsupported type {type(value).__name__}")


def from_table_value(name: str, value: Any) -> Any:
    """Inverse of ``to_table_value`` for a property read back from the service."""
    if isinstance(value, EntityProperty):
        value = value.value
    if isinstance(value, datetime):
        return plain_utc(value)
    if name == STATUS_FIELD and isinstance(value, str):
        return RuntimeStatus(value)
    if name in OBJECT_FIELDS and isinstance(value, str):
        return json.loads(value) if value else None
    return value


def _status_name(value: Any) -> str:
    if isinstance(value, RuntimeStatus):
        return value.value
    if isinstance(value, int) and not isinstance(value, bool) and value in ORCHESTRATION_STATUS_BY_NUMBER:
        return ORCHESTRATION_STATUS_BY_NUMBER[value].value
    if isinstance(value, str):
        return RuntimeStatus(value).value
    raise TypeError(f"{STATUS_FIELD} must be a RuntimeStatus, its name or its DTFx number, got {value!r}")


def utf16_size(text: str) -> int:
    """Bytes of ``text`` in UTF-16, the measure Table storage limits (64 KiB per string property)."""
    return len(text.encode("utf-16-le"))
