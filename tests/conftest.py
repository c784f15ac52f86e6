"""Shared fixtures: one real Azurite for the whole session, on free ports, with its data in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import AzuriteProcess, free_port


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteProcess]:
    """A running Azurite; use ``azurite.connection_string``. Tests isolate themselves by unique hub/table names."""
    data_dir: Path = tmp_path_factory.mktemp("azurite")
    proc = AzuriteProcess(data_dir=data_dir, ports=(free_port(), free_port(), free_port()), in_memory=True)
    with proc:
        yield proc
