"""Task hub naming: validation like the Durable Functions extension, and the resource names of spec section 6.1."""

from __future__ import annotations

import re
from dataclasses import dataclass

from devhost.storage._errors import InvalidHubNameError

MAX_PARTITIONS = 16
_HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def validate_hub_name(hub_name: str) -> str:
    """Return ``hub_name`` if the extension would accept it, else raise ``InvalidHubNameError`` saying why."""
    if not 3 <= len(hub_name) <= 45:
        raise InvalidHubNameError(
            f"task hub name {hub_name!r} must be 3 to 45 characters long (it is {len(hub_name)})"
        )
    if not _HUB_NAME.fullmatch(hub_name):
        raise InvalidHubNameError(
            f"task hub name {hub_name!r} must contain only ASCII letters and digits and start with a letter"
        )
    return hub_name


@dataclass(frozen=True)
class TaskHubNames:
    """Every Azure Storage resource of one task hub. Tables keep the hub's case; queues and containers are lower."""

    hub_name: str
    partition_count: int

    def __post_init__(self) -> None:
        validate_hub_name(self.hub_name)
        if not 1 <= self.partition_count <= MAX_PARTITIONS:
            raise ValueError(
                f"partition_count must be between 1 and {MAX_PARTITIONS}, got {self.partition_count}"
            )

    @property
    def instances_table(self) -> str:
        return f"{self.hub_name}Instances"

    @property
    def history_table(self) -> str:
        return f"{self.hub_name}History"

    @property
    def _lower(self) -> str:
        return self.hub_name.lower()

    def control_queue(self, partition: int) -> str:
        if not 0 <= partition < self.partition_count:
            raise ValueError(f"partition {partition} is outside 0..{self.partition_count - 1}")
        return f"{self._lower}-control-{partition:02d}"

    @property
    def control_queues(self) -> list[str]:
        return [self.control_queue(p) for p in range(self.partition_count)]

    @property
    def work_item_queue(self) -> str:
        return f"{self._lower}-workitems"

    @property
    def large_messages_container(self) -> str:
        return f"{self._lower}-largemessages"

    @property
    def leases_container(self) -> str:
        return f"{self._lower}-leases"
