"""Map openai SDK exceptions to the provider-neutral transient/permanent errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import openai

from durable_assistant.providers._types import PermanentProviderError, ProviderError, TransientProviderError

T = TypeVar("T")


def retry_after_seconds(headers: object) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (delta-seconds form), if present and sane."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if 0 <= value <= 3600:
            return value
    return None


async def call(what: str, fn: Callable[[], Awaitable[T]]) -> T:
    """Await ``fn()``; translate SDK errors so callers only see ProviderError subclasses."""
    try:
        return await fn()
    except openai.APIStatusError as exc:
        status = exc.status_code
        message = f"{what}: provider returned HTTP {status}: {_short(exc)}"
        if status == 429 or status >= 500 or status == 408:
            raise TransientProviderError(message, status, retry_after_seconds(exc.response.headers)) from exc
        raise PermanentProviderError(message, status) from exc
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        raise TransientProviderError(f"{what}: cannot reach provider: {exc}") from exc
    except openai.OpenAIError as exc:
        raise ProviderError(f"{what}: {exc}") from exc


def _short(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(exc.message)
