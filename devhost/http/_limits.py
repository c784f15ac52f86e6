"""The real host's request limits, answered in JSON: what Kestrel (the Functions host's web server) refuses, devhost
refuses with the same status codes.

Kestrel's defaults (``KestrelServerLimits``): ``MaxRequestLineSize`` 8,192 bytes (414 URI Too Long),
``MaxRequestHeadersTotalSize`` 32,768 bytes and ``MaxRequestHeaderCount`` 100 (both 431 Request Header Fields Too
Large). aiohttp's parser only knows per-line limits and answers a plain-text 400; devhost gives its parser the
same bounds as outer limits, turns the parser's refusals into these JSON answers (``JsonErrorRequestHandler``),
and checks what the parser does not count itself: the whole request line and all header lines together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong


def json_error(status: int, code: str, message: str, **details: Any) -> web.Response:
    """devhost's own error answers: ``{"error": {"code", "message", ...}}``, the shape the app uses."""
    return web.json_response({"error": {"code": code, "message": message, **details}}, status=status)


@dataclass(frozen=True)
class RequestLimits:
    request_line_bytes: int = 8192
    headers_total_bytes: int = 32768
    header_count: int = 100

    def line_too_long(self) -> web.Response:
        return json_error(414, "request_line_too_long",
                          f"the request line is longer than {self.request_line_bytes} bytes",
                          limit=self.request_line_bytes)

    def headers_too_large(self) -> web.Response:
        return json_error(431, "request_headers_too_large",
                          f"the request headers are larger than {self.headers_total_bytes} bytes in total",
                          limit=self.headers_total_bytes)

    def too_many_headers(self) -> web.Response:
        return json_error(431, "too_many_headers", f"the request has more than {self.header_count} headers",
                          limit=self.header_count)

    def check(self, request: web.BaseRequest) -> web.Response | None:
        """The refusal for a request the parser let through but Kestrel would not, else None."""
        target = request.raw_path.encode("utf-8", "surrogateescape")
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        if len(request.method) + 1 + len(target) + 1 + len(version) + 2 > self.request_line_bytes:
            return self.line_too_long()
        if len(request.raw_headers) > self.header_count:
            return self.too_many_headers()
        total = sum(len(name) + 2 + len(value) + 2 for name, value in request.raw_headers)  # "name: value\r\n"
        if total > self.headers_total_bytes:
            return self.headers_too_large()
        return None

    def parse_refusal(self, exc: BaseException | None) -> web.Response | None:
        """The JSON answer for a request aiohttp's parser refused, or None for errors that are not about limits."""
        if isinstance(exc, LineTooLong):
            # The parser raises it with the limit it was given: the request line's or a header line's.
            limit = exc.args[1] if len(exc.args) > 1 else None
            return self.line_too_long() if limit == self.request_line_bytes else self.headers_too_large()
        if isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc):
            return self.too_many_headers()
        return None


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering requests it cannot parse in JSON (limits with Kestrel's status
    codes, other malformed requests 400) instead of plain text."""

    limits = RequestLimits()

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)  # too late to answer: let aiohttp close
        response = self.limits.parse_refusal(exc)
        if response is None:
            if isinstance(exc, HttpProcessingError):
                self.logger.debug("refused a malformed request from %s: %s", request.remote, exc)
                response = json_error(status, "bad_request", f"malformed HTTP request: {exc.message}")
            else:
                self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
                response = json_error(status, "internal", "the host failed to handle the request")
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """``web.Server`` whose connections use JsonErrorRequestHandler."""

    def __init__(self, handler: Any, *, limits: RequestLimits, **kwargs: Any) -> None:
        # aiohttp's parser counts the URL alone against max_line_size and each header line alone against
        # max_field_size: with these values it never lets through what Kestrel would refuse line by line.
        super().__init__(handler, max_line_size=limits.request_line_bytes, max_field_size=limits.headers_total_bytes,
                         max_headers=limits.header_count, **kwargs)
        self._limits = limits

    def __call__(self) -> web.RequestHandler:
        handler = JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.limits = self._limits
        return handler


class JsonErrorAppRunner(web.AppRunner):
    """``web.AppRunner`` serving its app through JsonErrorServer."""

    def __init__(self, app: web.Application, *, limits: RequestLimits, handle_signals: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(app, handle_signals=handle_signals, **kwargs)
        self._limits = limits
        self._server_kwargs = kwargs  # what AppRunner passes on to each connection's RequestHandler

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # starts the app (on_startup) and freezes it
        return JsonErrorServer(server.request_handler, request_factory=server.request_factory,
                               handler_cancellation=server.handler_cancellation, limits=self._limits,
                               **self._server_kwargs)
