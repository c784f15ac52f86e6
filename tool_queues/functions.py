"""One queue-triggered function per tool of the registry the orchestration uses.

Foundry Agent Service puts an ``azure_function`` tool call on the tool's input queue as
``{...arguments, "CorrelationId"}``; the function answers on the output queue with ``{"Value", "CorrelationId"}``
(contract and idempotency in durable_assistant.tools._queues). Queue names come from app settings
(ASSISTANT_TOOL_QUEUE_PREFIX, ASSISTANT_TOOL_QUEUES) read when the app is indexed, so the trigger bindings and
``GET /api/tools`` always agree.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import azure.durable_functions as df
import azure.functions as func

from durable_assistant.config import tool_queue_settings
from durable_assistant.services import Services, get_services
from durable_assistant.tools import (
    CallLedger,
    ToolQueues,
    UnanswerableMessage,
    default_registry,
    serve_call,
    tool_queue_layout,
)

log = logging.getLogger("durable_assistant.tool_queues")

# The queues live in the host's own storage account (identity-based in Azure: AzureWebJobsStorage__*), as in the
# seed's sample; infra grants the agent service access to these queues only.
QUEUE_CONNECTION = "AzureWebJobsStorage"


def _layout() -> dict[str, ToolQueues]:
    prefix, overrides = tool_queue_settings()
    return tool_queue_layout(default_registry().names(), prefix, overrides)


LAYOUT: dict[str, ToolQueues] = _layout()

bp = df.Blueprint()  # a plain Functions blueprint would do; the durable one is typed the same way as the others
_ledger_ready = threading.Event()


def _services() -> Services:
    services = get_services()
    if not _ledger_ready.is_set():
        CallLedger(services.storage).ensure()  # idempotent; once per process
        _ledger_ready.set()
    return services


def _handler(queues: ToolQueues) -> Callable[[func.QueueMessage], None]:
    def serve_tool_queue(msg: func.QueueMessage) -> None:
        services = _services()
        try:
            serve_call(services.tools, services.storage, queues, msg.get_body(),
                       dequeue_count=msg.dequeue_count or 1)
        except UnanswerableMessage as exc:
            # Failing is the only way not to lose it: after maxDequeueCount the host moves it to the poison queue.
            log.error("tool %s: message %s on %s cannot be answered (dequeue count %s): %s", queues.tool, msg.id,
                      queues.input, msg.dequeue_count, exc)
            raise

    return serve_tool_queue


for _queues in LAYOUT.values():
    bp.function_name(f"tool_queue_{_queues.tool}")(
        bp.queue_trigger(arg_name="msg", queue_name=_queues.input, connection=QUEUE_CONNECTION)(_handler(_queues)))
