"""Tools the assistant can call: a typed registry plus the seeds' tools on seeded Azure Tables."""

import importlib

from durable_assistant.config import ConfigError
from durable_assistant.tools._builtin import (
    forget_conversation_operations,
    lamp_states,
    register_builtin_tools,
)
from durable_assistant.tools._queues import (
    LEDGER_TABLE,
    CallLedger,
    QueueAnswer,
    QueueCall,
    ToolQueues,
    UnanswerableMessage,
    azure_function_tool,
    function_tool,
    parse_call,
    serve_call,
    tool_queue_layout,
)
from durable_assistant.tools._registry import (
    Param,
    Tool,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolResult,
    ToolSpec,
    schema_from_signature,
)
from durable_assistant.tools._seed_data import ensure_seeded


def default_registry(max_output_chars: int = 16000, modules: tuple[str, ...] = ()) -> ToolRegistry:
    """A registry with the five seed tools, plus the custom tools of each module in ``modules`` (an
    importable module with a ``register(registry)`` function, named by ASSISTANT_TOOL_MODULES)."""
    registry = register_builtin_tools(ToolRegistry(max_output_chars=max_output_chars))
    for name in modules:
        try:
            register = importlib.import_module(name).register
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"ASSISTANT_TOOL_MODULES: cannot load register() from {name!r}: {exc}") from exc
        register(registry)
    return registry


__all__ = [
    "LEDGER_TABLE",
    "CallLedger",
    "QueueAnswer",
    "QueueCall",
    "ToolQueues",
    "UnanswerableMessage",
    "azure_function_tool",
    "function_tool",
    "parse_call",
    "serve_call",
    "tool_queue_layout",
    "Param",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "default_registry",
    "ensure_seeded",
    "forget_conversation_operations",
    "lamp_states",
    "register_builtin_tools",
    "schema_from_signature",
]
