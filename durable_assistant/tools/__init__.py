"""Tools the assistant can call: a typed registry plus the seeds' tools on seeded Azure Tables."""

from durable_assistant.tools._builtin import lamp_states, register_builtin_tools
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


def default_registry(max_output_chars: int = 16000) -> ToolRegistry:
    """A registry with the five seed tools."""
    return register_builtin_tools(ToolRegistry(max_output_chars=max_output_chars))


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
    "lamp_states",
    "register_builtin_tools",
    "schema_from_signature",
]
