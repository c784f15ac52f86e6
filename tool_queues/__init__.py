"""Queue-triggered functions that serve the app's tools to Foundry agents (``azure_function`` tools)."""

from tool_queues.functions import LAYOUT, QUEUE_CONNECTION, bp

__all__ = ["LAYOUT", "QUEUE_CONNECTION", "bp"]
