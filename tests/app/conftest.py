"""Fixtures for the app's tests: app storage on the session Azurite, isolated by a unique name prefix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devhost.azurite import AzuriteProcess
from durable_assistant.config import Settings
from durable_assistant.services import Services


def unique_prefix() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def app_env(azurite: AzuriteProcess) -> dict[str, str]:
    """App settings pointing at the session Azurite with a fresh table/container prefix."""
    return {"AzureWebJobsStorage": azurite.connection_string, "ASSISTANT_STORAGE_PREFIX": unique_prefix()}


@pytest.fixture
def services(app_env: dict[str, str]) -> Iterator[Services]:
    svc = Services(Settings.from_env(app_env))
    svc.ensure_storage()
    yield svc
