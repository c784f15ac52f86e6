"""Custom tools for the end-to-end tests, loaded through ASSISTANT_TOOL_MODULES the way a user adds their own:
one that always raises (a broken backend) and one that is slow. Test doubles, named as such."""

from __future__ import annotations

import time
from typing import Annotated

from durable_assistant.tools import Param, ToolContext, ToolRegistry


def register(registry: ToolRegistry) -> None:
    @registry.tool(description="Look up stock in the warehouse (test double: its backend is always down).")
    def check_stock(ctx: ToolContext, sku: Annotated[str, Param("stock keeping unit")]) -> dict[str, object]:
        raise RuntimeError(f"warehouse API unreachable while looking up {sku} (test fault)")

    @registry.tool(description="Echo a text after a delay (test double for a slow tool).")
    def slow_echo(ctx: ToolContext, text: str,
                  seconds: Annotated[float, Param("delay", minimum=0, maximum=10)]) -> dict[str, object]:
        time.sleep(seconds)
        return {"echo": text}
