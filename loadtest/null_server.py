"""``python -m loadtest.null_server --kind raw|aiohttp|http11 --port P``: an HTTP server
that answers every request with 200 and a canned SendMessage-sized JSON body, to measure
the load generator's ceiling (``raw``: a bare ``asyncio.Protocol``, as cheap as a Python
server gets) and the HTTP framework's (``aiohttp``: its low-level ``web.Server``;
``http11``: :mod:`broker.server.http11` on httptools; both build an ``aiohttp``
``web.Response`` per request, as the broker does).
Runs on uvloop when installed, until killed."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import cast

from loadtest import harness

BODY = (b'{"MD5OfMessageBody":"9d1c7ecf4b9d2ba7e2a4cfbf1f8f1b6e",'
        b'"MessageId":"0b5c7b0e-6a36-4e52-9b8a-3f6a0c1d2e4f"}')
CONTENT_TYPE = "application/x-amz-json-1.0"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: " + CONTENT_TYPE.encode()
            + b"\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000"
            + b"\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class RawNull(asyncio.Protocol):
    """Parses request heads (Content-Length bodies only) and answers each with
    :data:`RESPONSE`; keep-alive, pipelining-safe."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        answered = 0
        while (size := _request_size(self._buf)) is not None:
            del self._buf[:size]
            answered += 1
        if answered and self._transport is not None:
            self._transport.write(RESPONSE * answered)


def _request_size(buf: bytearray) -> int | None:
    """Bytes of the complete request at the start of ``buf``, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = 0
    for line in bytes(buf[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    size = end + 4 + length
    return size if len(buf) >= size else None


async def _serve_raw(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(RawNull, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


async def _serve_aiohttp(host: str, port: int) -> None:
    """aiohttp's low-level ``web.Server`` (no router, no access log), as the broker uses."""
    from aiohttp import web

    async def handle(request: web.BaseRequest) -> web.Response:
        await request.read()
        return web.Response(body=BODY, content_type=CONTENT_TYPE)

    http = web.Server(handle, access_log=None)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(http, host, port, backlog=1024)
    try:
        async with server:
            await server.serve_forever()
    finally:
        await http.shutdown(1.0)


async def _serve_http11(host: str, port: int) -> None:
    """:class:`broker.server.http11.HttpServer` with the same handler as ``aiohttp``'s."""
    from aiohttp import web

    from broker.server.http11 import HttpServer, Request

    async def handle(request: Request) -> web.Response:
        await request.read()
        return web.Response(body=BODY, content_type=CONTENT_TYPE)

    http = HttpServer(handle, max_body_bytes=1024 * 1024)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(http, host, port, backlog=1024)
    http.start()
    try:
        async with server:
            await server.serve_forever()
    finally:
        await http.shutdown(1.0)


_SERVERS = {"raw": _serve_raw, "aiohttp": _serve_aiohttp, "http11": _serve_http11}


async def _main(kind: str, host: str, port: int) -> int:
    await _SERVERS[kind](host, port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.null_server", description=__doc__)
    p.add_argument("--kind", choices=tuple(_SERVERS), default="raw")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    return harness.run(_main(args.kind, args.host, args.port))


if __name__ == "__main__":
    sys.exit(main())
