"""Storage clients from StorageSettings: a connection string, or endpoints plus DefaultAzureCredential.

A module of its own (not in store/) because tools and stores both need it."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from functools import cached_property

from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient, LinearRetry
from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient, QueueServiceClient

from durable_assistant.config import ConfigError, StorageSettings

# Azurite's well-known development account (public and documented; not a secret).
DEV_STORAGE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


# A step that meets a storage hiccup reports it and the orchestration retries on a durable timer; the SDKs'
# default retries (blobs: 15 s, 18 s, 24 s plus jitter) would hold the activity for about a minute instead.
def _blob_retry() -> LinearRetry:
    return LinearRetry(backoff=0.3, retry_total=2, random_jitter_range=0.2)  # type: ignore[arg-type]


TABLE_RETRY_TOTAL = 2
TABLE_RETRY_BACKOFF = 0.3


def _use_env_settings() -> bool:
    """The SDK's HTTP session reads proxy variables and ~/.netrc from the environment on every request, a third
    of a small call's CPU: only do that where a proxy or a CA bundle is configured."""
    return any(os.environ.get(name) or os.environ.get(name.lower())
               for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE",
                            "CURL_CA_BUNDLE"))


@dataclass
class StorageClients:
    """Lazily built, cached service clients; ``prefix`` namespaces every table and container (tests, benches)."""

    settings: StorageSettings
    prefix: str = ""
    # Table and container clients by name: building one (its generated operations client) costs as much CPU
    # as a small call. The SDK's clients are safe to share between threads.
    _tables_by_name: dict[str, TableClient] = field(default_factory=dict, init=False, repr=False)
    _containers_by_name: dict[str, ContainerClient] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def tables(self) -> TableServiceClient:
        if self.settings.connection_string:
            return TableServiceClient.from_connection_string(
                self.settings.connection_string, retry_total=TABLE_RETRY_TOTAL, retry_backoff_factor=TABLE_RETRY_BACKOFF,
                use_env_settings=_use_env_settings())
        from azure.identity import DefaultAzureCredential

        assert self.settings.table_service_uri is not None
        return TableServiceClient(self.settings.table_service_uri, credential=DefaultAzureCredential(),
                                  retry_total=TABLE_RETRY_TOTAL, retry_backoff_factor=TABLE_RETRY_BACKOFF,
                                  use_env_settings=_use_env_settings())

    @cached_property
    def blobs(self) -> BlobServiceClient:
        if self.settings.connection_string:
            return BlobServiceClient.from_connection_string(self.settings.connection_string,
                                                            retry_policy=_blob_retry(), use_env_settings=_use_env_settings())
        from azure.identity import DefaultAzureCredential

        assert self.settings.blob_service_uri is not None
        return BlobServiceClient(self.settings.blob_service_uri, credential=DefaultAzureCredential(),
                                 retry_policy=_blob_retry(), use_env_settings=_use_env_settings())

    @cached_property
    def queues(self) -> QueueServiceClient:
        """Queue service of the same account; queue names are NOT prefixed (tool queues are named by settings)."""
        if self.settings.connection_string:
            return QueueServiceClient.from_connection_string(self.settings.connection_string, use_env_settings=_use_env_settings())
        from azure.identity import DefaultAzureCredential

        if self.settings.queue_service_uri is None:
            raise ConfigError("no queue endpoint configured: set AzureWebJobsStorage__queueServiceUri or __accountName")
        return QueueServiceClient(self.settings.queue_service_uri, credential=DefaultAzureCredential(),
                                  use_env_settings=_use_env_settings())

    @property
    def queue_service_uri(self) -> str:
        """The queue endpoint others (an agent service) use to reach this account's queues."""
        if self.settings.connection_string:
            return str(self.queues.url).rstrip("/")
        if self.settings.queue_service_uri is None:
            raise ConfigError("no queue endpoint configured: set AzureWebJobsStorage__queueServiceUri or __accountName")
        return self.settings.queue_service_uri.rstrip("/")

    def queue(self, name: str) -> QueueClient:
        """A queue client that sends Base64 bodies (what the Functions queue trigger and the agent service expect)."""
        return self.queues.get_queue_client(name, message_encode_policy=BinaryBase64EncodePolicy())

    def table(self, name: str) -> TableClient:
        """A table client; the table itself is created by ``ensure_table`` (idempotent)."""
        client = self._tables_by_name.get(name)
        if client is None:
            client = self._tables_by_name.setdefault(name, self.tables.get_table_client(self.prefix + name))
        return client

    def ensure_table(self, name: str) -> TableClient:
        self.tables.create_table_if_not_exists(self.prefix + name)
        return self.table(name)

    def container(self, name: str) -> ContainerClient:
        client = self._containers_by_name.get(name)
        if client is None:
            client = self._containers_by_name.setdefault(name, self.blobs.get_container_client(self.prefix + name))
        return client

    def ensure_container(self, name: str) -> ContainerClient:
        client = self.container(name)
        if not client.exists():
            from azure.core.exceptions import ResourceExistsError

            with contextlib.suppress(ResourceExistsError):
                client.create_container()
        return client
