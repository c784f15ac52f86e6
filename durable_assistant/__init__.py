"""Durable Assistant core: settings, provider adapters, tools and storage, free of any Functions imports so
it can be tested and reused on its own. ``orchestrations/`` and ``activities/`` are thin layers over it."""

from durable_assistant.config import SETTING_NAMES, ConfigError, Settings, StorageSettings

__all__ = ["SETTING_NAMES", "ConfigError", "Settings", "StorageSettings"]
