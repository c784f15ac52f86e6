"""Helpers shared by the devmodel tests: SDK clients, strict validation, polling and the seed tools."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from openai import OpenAI
from pydantic import BaseModel

from devmodel import DevModelProcess

API_KEY = "devmodel-test-key"
TERMINAL_RESPONSE = {"completed", "failed", "cancelled", "incomplete"}
TERMINAL_RUN = {"completed", "failed", "cancelled", "incomplete", "expired"}

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def make_client(server: DevModelProcess, *, max_retries: int = 0, api_key: str = API_KEY) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=api_key, max_retries=max_retries, timeout=30)


def error_message(error: Exception) -> str:
    """The ``message`` of an OpenAI error body (the exception's own message adds a status prefix)."""
    body = getattr(error, "body", None)
    assert isinstance(body, dict), body
    return str(body["message"])


def strict(model: type[M], raw: Any) -> M:
    """Validate the raw HTTP body with the SDK's pydantic type (the SDK itself parses leniently)."""
    return model.model_validate(raw.http_response.json())


def wait_for(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# Typed as Any: the SDK types tool params as TypedDicts, these literals are passed straight through.
WEATHER_TOOL: Any = {"type": "function", "name": "get_weather", "description": "Get the weather in a location.",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                               "required": ["location"]}}
CUSTOMER_TOOLS: Any = [
    {"type": "function", "name": "get_customer_info", "description": "Retrieve customer information and order history",
     "parameters": {"type": "object", "properties": {"customerId": {"type": "string"},
                                                     "includeHistory": {"type": "boolean"}},
                    "required": ["customerId"]}},
    {"type": "function", "name": "analyze_metrics", "description": "Analyze business metrics and provide insights",
     "parameters": {"type": "object", "properties": {"metric": {"type": "string"}, "timeframe": {"type": "string"},
                                                     "filters": {"type": "object"}},
                    "required": ["metric", "timeframe"]}},
]
LAMP_TOOLS: Any = [
    {"type": "function", "name": "set_lamp", "description": "Turn lamp on or off",
     "parameters": {"type": "object", "properties": {"lamp": {"type": "string"}, "state": {"type": "boolean"}},
                    "required": ["lamp", "state"]}},
    {"type": "function", "name": "set_lamp_brightness", "description": "Set the brightness of a lamp",
     "parameters": {"type": "object", "properties": {"lamp": {"type": "string"},
                                                     "brightness": {"type": "integer", "minimum": 0, "maximum": 100}},
                    "required": ["lamp", "brightness"]}},
]


def nested(tools: list[dict[str, Any]]) -> Any:
    """Responses' flat tool shape -> Chat Completions / threads' nested shape."""
    return [{"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}} for tool in tools]
