"""OpenAI-shaped errors: ``{"error": {"message", "type", "param", "code"}}`` with the status the real API uses."""

from __future__ import annotations

from aiohttp import web

from ._types import HttpFault


class ApiError(Exception):
    """Raised anywhere in a handler; the middleware turns it into the OpenAI error JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def to_response(self) -> web.Response:
        body = {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}
        return web.json_response(body, status=self.status, headers=self.headers)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def from_fault(fault: HttpFault) -> ApiError:
    headers: dict[str, str] = {}
    if fault.retry_after_seconds is not None:
        # The SDK reads both; whole seconds for `retry-after` as HTTP requires, exact value in the -ms variant.
        headers["retry-after"] = str(max(1, round(fault.retry_after_seconds)))
        headers["retry-after-ms"] = str(int(fault.retry_after_seconds * 1000))
    code = "rate_limit_exceeded" if fault.status == 429 else None
    return ApiError(fault.status, fault.message, error_type=fault.error_type, code=code, headers=headers)
