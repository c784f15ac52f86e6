"""The three async Azure SDK service clients of a storage account, with retry settings fit for a local dev host.

Two profiles: the start-up probe makes a single attempt with a short connect timeout, so a stopped Azurite is
reported in seconds; operations retry transient failures a few times with short back-offs (the SDK defaults wait
15 s and more between attempts, tuned for the cloud). Connection failures that survive the retries surface as
``StorageUnavailableError``.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.blob.aio import ExponentialRetry as BlobRetry
from azure.storage.queue.aio import QueueServiceClient

from devhost.storage._errors import StorageUnavailableError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class StorageOptions:
    """How hard to try. Defaults: fail start-up within ~``probe_timeout``; ride out ~15 s of trouble later."""

    probe_timeout: float = 3.0
    retry_total: int = 4
    retry_backoff: int = 1  # seconds before the first retry; later ones add 2**n
    connection_timeout: float = 5.0
    read_timeout: float = 60.0


def _retry_kwargs(options: StorageOptions, *, probe: bool) -> dict[str, Any]:
    total = 0 if probe else options.retry_total
    connect = options.probe_timeout if probe else options.connection_timeout
    return {
        # azure-core style (Tables): exponential back-off factor * 2**n, capped.
        "retry_total": total,
        "retry_connect": total,
        "retry_backoff_factor": float(options.retry_backoff),
        "retry_backoff_max": 8.0,
        "connection_timeout": connect,
        "read_timeout": options.probe_timeout if probe else options.read_timeout,
        "use_env_settings": http_settings_in_environment(),
    }


HTTP_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def http_settings_in_environment(environ: dict[str, str] | None = None) -> bool:
    """True when the environment names a proxy or a CA bundle. Only then do the clients read it: by default the
    SDK's HTTP session looks up proxies and ~/.netrc on every request, about a third of a queue call's CPU here."""
    env = os.environ if environ is None else environ
    return any(env.get(name) or env.get(name.lower()) for name in HTTP_VARIABLES)


def _storage_retry(options: StorageOptions, *, probe: bool) -> BlobRetry:
    # Blob and Queue clients take a storage retry policy object; the blob one works for queues too
    # (both wrap the same shared AsyncStorageRetryPolicy).
    return BlobRetry(
        initial_backoff=options.retry_backoff,
        increment_base=2,
        retry_total=0 if probe else options.retry_total,
        random_jitter_range=1,
    )


@dataclass
class ServiceClients:
    tables: TableServiceClient
    queues: QueueServiceClient
    blobs: BlobServiceClient

    @classmethod
    def create(
        cls, connection_string: str, options: StorageOptions, *, probe: bool = False
    ) -> ServiceClients:
        kwargs = _retry_kwargs(options, probe=probe)
        storage_kwargs = {
            "retry_policy": _storage_retry(options, probe=probe),
            "connection_timeout": kwargs["connection_timeout"],
            "read_timeout": kwargs["read_timeout"],
            "use_env_settings": kwargs["use_env_settings"],
        }
        return cls(
            tables=TableServiceClient.from_connection_string(connection_string, **kwargs),
            queues=QueueServiceClient.from_connection_string(connection_string, **storage_kwargs),
            blobs=BlobServiceClient.from_connection_string(connection_string, **storage_kwargs),
        )

    def describe(self) -> str:
        return f"tables {self.tables.url}, queues {self.queues.url}, blobs {self.blobs.url}"

    async def close(self) -> None:
        await asyncio.gather(self.tables.close(), self.queues.close(), self.blobs.close())


async def probe(connection_string: str, options: StorageOptions) -> None:
    """One cheap call per service without retries; raise ``StorageUnavailableError`` naming what is down."""
    clients = ServiceClients.create(connection_string, options, probe=True)
    try:
        checks: list[tuple[str, str, Awaitable[Any]]] = [
            ("Table", clients.tables.url, _first_table_page(clients.tables)),
            ("Queue", clients.queues.url, clients.queues.get_service_properties()),
            ("Blob", clients.blobs.url, clients.blobs.get_service_properties()),
        ]
        results = await asyncio.gather(*(check for _, _, check in checks), return_exceptions=True)
        problems = []
        for (service, url, _), result in zip(checks, results, strict=True):
            if isinstance(result, ServiceRequestError | ServiceResponseError | TimeoutError):
                problems.append(f"{service} service at {url} is unreachable ({_first_line(result)})")
            elif isinstance(result, ClientAuthenticationError):
                problems.append(
                    f"{service} service at {url} rejected the credentials ({_first_line(result)})"
                )
            elif isinstance(result, HttpResponseError):
                continue  # it answered: reachable (e.g. a SAS without service-level rights)
            elif isinstance(result, BaseException):
                raise result
        if problems:
            raise StorageUnavailableError(
                "Azure Storage is not available: "
                + "; ".join(problems)
                + ". Start Azurite (devhost starts one unless told otherwise) or fix the connection string."
            )
    finally:
        await clients.close()


async def _first_table_page(tables: TableServiceClient) -> None:
    async for _ in tables.list_tables(results_per_page=1).by_page():
        break


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def unavailable_on_connection_failure(
    func: Callable[P, Awaitable[R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Turn connection failures that outlived the SDK's retries into ``StorageUnavailableError``."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise StorageUnavailableError(
                f"Azure Storage became unreachable during {func.__name__}: {_first_line(exc)}"
            ) from exc

    return wrapper
