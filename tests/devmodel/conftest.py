"""devmodel servers as real child processes on free ports, and real `openai` SDK clients pointed at them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from devhost.azurite import free_port
from devmodel import DevModelProcess

from .support import API_KEY, make_client

StartServer = Callable[..., DevModelProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start a devmodel with extra CLI flags (and optionally a scenario dict written to a file); stopped after."""
    servers: list[DevModelProcess] = []

    def start(*args: str, scenario: dict[str, Any] | None = None, api_key: str | None = API_KEY) -> DevModelProcess:
        flags = list(args)
        if scenario is not None:
            path = tmp_path / f"scenario-{len(servers)}.json"
            path.write_text(json.dumps(scenario))
            flags += ["--scenario", str(path)]
        if api_key:
            flags += ["--api-key", api_key]
        server = DevModelProcess(port=free_port(), args=flags, log_path=tmp_path / f"devmodel-{len(servers)}.log")
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def seeds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevModelProcess]:
    """One scripted devmodel with the bundled seeds.json, shared by tests that create their own objects."""
    log = tmp_path_factory.mktemp("devmodel") / "seeds.log"
    with DevModelProcess(port=free_port(), args=["--api-key", API_KEY, "--seed", "7"], log_path=log) as server:
        yield server


@pytest.fixture
def client(seeds_server: DevModelProcess) -> OpenAI:
    return make_client(seeds_server)
