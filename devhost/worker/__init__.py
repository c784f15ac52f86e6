"""The app's functions in a process of their own, as the Functions host runs them in a language worker.

devhost starts ``python -m devhost.worker`` (:mod:`._process`) and sends it every invocation through
:class:`WorkerInvoker` (:mod:`._client`); :mod:`._protocol` is the wire between the two.
"""

from devhost.worker._client import WorkerFunctionError, WorkerInvoker, WorkerStartError

__all__ = ["WorkerFunctionError", "WorkerInvoker", "WorkerStartError"]
