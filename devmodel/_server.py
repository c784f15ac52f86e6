"""Build a provider from a config and serve it."""

from __future__ import annotations

import logging

from aiohttp import web

from ._azure_functions import QueueBridge
from ._config import ServerConfig
from ._http import create_app
from ._ids import IdFactory
from ._provider import Provider
from ._scenario import load_scenarios
from ._scripted import ScriptedEngine
from ._store import Store
from ._types import Engine
from ._webhooks import WebhookSender

log = logging.getLogger("devmodel")

_INTERRUPTED = {"queued", "in_progress", "requires_action", "cancelling"}


def build_engine(config: ServerConfig) -> Engine:
    if config.engine == "scripted":
        book = load_scenarios(config.scenario_path)
        return ScriptedEngine(book, seed=config.seed, latency=config.latency)
    from ._llama import LlamaEngine, LlamaSettings  # imported late: llama_cpp is an optional dependency

    return LlamaEngine(LlamaSettings(model_path=config.model_path, seed=config.seed,
                                     max_tool_rounds=config.max_tool_rounds, threads=config.threads))


def _fail_interrupted(store: Store) -> None:
    """Work in flight when a previous server stopped cannot resume; end it the way a crashed provider would."""
    for kind in ("response", "run"):
        for obj in store.all(kind):
            if obj["status"] in _INTERRUPTED:
                obj["status"] = "failed"
                error = {"code": "server_error", "message": "devmodel restarted while this was in progress"}
                obj["error" if kind == "response" else "last_error"] = error
                store.save(kind, obj)
    for thread in store.all("thread"):
        if thread.get("_active_run"):
            thread["_active_run"] = None
            store.save("thread", thread)


def build_provider(config: ServerConfig) -> Provider:
    store = Store(config.state_path)
    if config.state_path is not None:
        _fail_interrupted(store)
    webhooks = None
    if config.webhook_url and config.webhook_secret:
        webhooks = WebhookSender(config.webhook_url, config.webhook_secret)
    queues = QueueBridge(config.queue_storage, timeout_seconds=config.azure_function_timeout_seconds,
                         message_encoding=config.queue_message_encoding)
    return Provider(config=config, engine=build_engine(config), store=store, ids=IdFactory(config.seed),
                    webhooks=webhooks, queues=queues)


def serve(config: ServerConfig) -> None:
    """Serve until interrupted (blocking)."""
    provider = build_provider(config)
    log.info("devmodel %s engine (%s) on http://%s:%d/v1", config.engine, provider.engine.model_id,
             config.host, config.port)
    web.run_app(create_app(provider), host=config.host, port=config.port, print=None, access_log=None)
