"""Load the app's ``function_app.py``, index its functions and invoke them with the Python worker's conventions.

``load_app(dir)`` -> :class:`FunctionIndex`; :class:`FunctionInvoker` calls functions (and is the runtime's
``DurableFunctions``); :class:`ManagementEndpoint` builds the durable client binding; :class:`TriggerHost` runs timer
and queue triggers.
"""

from devhost.runtime import ActivityOutcome

from ._client_binding import WEBHOOK_PATH, ManagementEndpoint
from ._context import InvocationContext
from ._index import (
    DurableClientBinding,
    FunctionIndex,
    FunctionInfo,
    FunctionKind,
    HttpRoute,
    QueueSource,
    TimerSchedule,
)
from ._invoke import (
    FunctionInvoker,
    InvocationError,
    QueueDelivery,
    exception_text,
    http_response_from,
)
from ._loader import AppLoadError, FunctionLoadError, load_app
from ._triggers import (
    QueueTrigger,
    Schedule,
    TimerTrigger,
    TriggerConfigError,
    TriggerHost,
    decode_queue_body,
)

__all__ = [
    "WEBHOOK_PATH",
    "ActivityOutcome",
    "AppLoadError",
    "DurableClientBinding",
    "FunctionIndex",
    "FunctionInfo",
    "FunctionInvoker",
    "FunctionKind",
    "FunctionLoadError",
    "HttpRoute",
    "InvocationContext",
    "InvocationError",
    "ManagementEndpoint",
    "QueueDelivery",
    "QueueSource",
    "QueueTrigger",
    "Schedule",
    "TimerSchedule",
    "TimerTrigger",
    "TriggerConfigError",
    "TriggerHost",
    "decode_queue_body",
    "exception_text",
    "http_response_from",
    "load_app",
]
