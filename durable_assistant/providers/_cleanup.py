"""Delete provider objects by id, side by side, sorting the provider's answers into deleted / missing / refused."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from durable_assistant.providers._errors import call
from durable_assistant.providers._types import ObjectsDeleted, PermanentProviderError

DELETE_CONCURRENCY = 8


async def delete_each(what: str, ids: Iterable[str], delete: Callable[[str], Awaitable[object]]) -> ObjectsDeleted:
    """``delete(id)`` for every id; a 404 is an object already gone, another 4xx a refusal. The first transient
    error (TransientProviderError) is raised once every call has ended, so none is left running."""
    limit = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def one(object_id: str) -> str | None:
        async with limit:
            try:
                await call(what, lambda: delete(object_id))
            except PermanentProviderError as exc:
                return "missing" if exc.status_code == 404 else str(exc)
            return None

    ordered = sorted(set(ids))
    outcomes = await asyncio.gather(*(one(i) for i in ordered), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return ObjectsDeleted(
        deleted=tuple(i for i, o in zip(ordered, outcomes, strict=True) if o is None),
        missing=tuple(i for i, o in zip(ordered, outcomes, strict=True) if o == "missing"),
        refused=tuple((i, str(o)) for i, o in zip(ordered, outcomes, strict=True) if o not in (None, "missing")))
