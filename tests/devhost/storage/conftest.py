"""Fixtures for the storage tests: an open ``TaskHubStorage`` on a fresh, uniquely named hub in the session Azurite.

pytest-asyncio is not part of the stack, so each test runs its async body with ``asyncio.run`` through
``run_hub``; raw reads use the official azure-data-tables aio ``TableClient`` in the same loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from devhost.azurite import AzuriteProcess
from devhost.storage import TaskHubStorage

T = TypeVar("T")
HubBody = Callable[[TaskHubStorage], Awaitable[Any]]


def unique_hub_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:20]}"


@pytest.fixture
def connection_string(azurite: AzuriteProcess) -> str:
    return azurite.connection_string


@pytest.fixture
def run_hub(connection_string: str) -> Callable[..., Any]:
    """``run_hub(body, partition_count=4)``: open a new hub, await ``body(storage)``, close, return its result."""

    def run(body: HubBody, *, partition_count: int = 4, hub_name: str | None = None) -> Any:
        async def main() -> Any:
            storage = TaskHubStorage(
                connection_string, hub_name or unique_hub_name(), partition_count=partition_count
            )
            async with storage:
                return await body(storage)

        return asyncio.run(main())

    return run
