"""Kestrel's request limits over real sockets: an oversized request line is 414, oversized or too many headers
431, each with a JSON error body (aiohttp alone answers these with a plain-text 400)."""

from __future__ import annotations

import asyncio
import json

from .harness import running_host

LINE, HEADERS, COUNT = 8192, 32768, 100  # KestrelServerLimits defaults


async def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is and read the whole answer (the host closes the connection after a refusal)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(-1), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _get(path: str, headers: list[tuple[str, str]] = ()) -> bytes:  # type: ignore[assignment]
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _error(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, str, int]:
    status, headers, body = answer
    assert headers["content-type"].startswith("application/json"), (status, headers, body[:200])
    error = json.loads(body)["error"]
    assert error["message"]
    return status, error["code"], error["limit"]


def test_header_and_request_line_limits_are_answered_in_json() -> None:
    async def scenario() -> None:
        async with running_host() as host:
            port = host.server.port
            ok = await _raw(port, _get("/api/hello/tokyo", [("X-Pad", "p" * 20_000)]))
            assert ok[0] == 200
            # One 60 KB header (what once got a plain-text 400), and 40 KB spread over 5 headers.
            assert _error(await _raw(port, _get("/api/hello/tokyo", [("X-Big", "b" * 60_000)]))) == (
                431, "request_headers_too_large", HEADERS)
            spread = [(f"X-Part-{i}", "s" * 8000) for i in range(5)]
            assert _error(await _raw(port, _get("/api/hello/tokyo", spread))) == (
                431, "request_headers_too_large", HEADERS)
            many = [(f"X-H{i}", "v") for i in range(COUNT + 1)]
            assert _error(await _raw(port, _get("/api/hello/tokyo", many))) == (431, "too_many_headers", COUNT)
            assert (await _raw(port, _get("/api/hello/tokyo", many[:COUNT - 3])))[0] == 200  # with Host, Connection
            # The request line: a URL just under 8 KB whose line (method, version, CRLF) passes 8 KB, and a longer one.
            near = "/api/hello/tokyo?pad=" + "q" * (LINE - 30)
            assert _error(await _raw(port, _get(near))) == (414, "request_line_too_long", LINE)
            assert _error(await _raw(port, _get("/api/hello/tokyo?pad=" + "q" * 70_000))) == (
                414, "request_line_too_long", LINE)
            # Other malformed requests are JSON too, and an encoded newline in a path is an ordinary 404.
            status, headers, body = await _raw(port, b"GET /api/hello/tokyo HTTP/1.1\r\nBad Header\r\n\r\n")
            assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"
            status, headers, body = await _raw(port, _get("/api/hello/to%0Akyo"))
            assert status == 404 and headers["content-type"].startswith("application/json")

    asyncio.run(scenario())
