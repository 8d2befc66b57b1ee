"""broker.server.http11 at the protocol level: raw sockets against a server with a small
test handler (no Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httptools
import pytest
from aiohttp import web
from aiohttp.helpers import parse_content_type

from broker.server.http11 import BodyTooLarge, HttpServer, Request

LIMIT = 1000


@dataclass
class App:
    """The handler: answers by path; records what it saw."""

    seen: list[str] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    read_error: asyncio.Future[BaseException] | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, request: Request) -> web.StreamResponse:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            return await self._answer(request)
        finally:
            self.active -= 1

    async def _answer(self, request: Request) -> web.Response:
        self.seen.append(request.path)
        if request.path == "/early":  # answers 413 without reading, as the gateway does
            length = request.content_length
            assert length is not None and length > LIMIT
            response = web.Response(status=413, text="too large\n")
            response.force_close()
            return response
        if request.path == "/early-keep":
            return web.Response(text="not reading that\n")
        if request.path == "/wait-body":
            assert self.read_error is not None
            try:
                await request.read()
            except BaseException as exc:
                self.read_error.set_result(exc)
                raise
            return web.Response(text="unexpected\n")
        if request.path == "/slow":
            await self.release.wait()
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        if request.path.startswith("/sleep/"):
            await asyncio.sleep(float(request.path.rsplit("/", 1)[1]))
        try:
            body = await request.read()
        except BodyTooLarge:
            return web.Response(status=413, text="too large\n")
        info = {"method": request.method, "path": request.path, "raw_path": request.raw_path,
                "query": request.rel_url.raw_query_string, "host": request.host,
                "remote": request.remote, "scheme": request.scheme,
                "content_type": request.content_type,
                "content_length": request.content_length, "body": body.decode()}
        return web.Response(body=json.dumps(info).encode(),
                            headers={"Content-Type": "application/json", "X-Test": "1"})


@dataclass
class Served:
    app: App
    http: HttpServer
    server: asyncio.Server
    port: int
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers.append(writer)  # closed at the end of the test
        return reader, writer


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async for s in _serve():
        yield s


async def _serve(**options: Any) -> AsyncIterator[Served]:
    app = App()
    app.read_error = asyncio.get_running_loop().create_future()
    options = {"max_body_bytes": LIMIT, "lingering_s": 0.2, **options}
    http = HttpServer(app, **options)
    server = await asyncio.get_running_loop().create_server(http, "127.0.0.1", 0)
    http.start()
    served = Served(app, http, server, server.sockets[0].getsockname()[1])
    try:
        yield served
    finally:
        server.close()
        await http.shutdown(0.5)
        await server.wait_closed()
        for writer in served.writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class _ResponseCollector:
    def __init__(self) -> None:
        self.done: list[Answer] = []
        self._headers: dict[str, str] = {}
        self._body = b""
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.done.append(Answer(self.parser.get_status_code(), self._headers, self._body))
        self._headers, self._body = {}, b""


async def responses(reader: asyncio.StreamReader, n: int) -> list[Answer]:
    """The next ``n`` responses (parsed by httptools)."""
    collector = _ResponseCollector()
    async with asyncio.timeout(2):
        while len(collector.done) < n:
            data = await reader.read(65536)
            assert data, f"connection closed after {len(collector.done)} responses"
            collector.parser.feed_data(data)
    return collector.done


async def closed(reader: asyncio.StreamReader, within: float = 2.0) -> bool:
    """The server closes the connection within ``within`` seconds."""
    async with asyncio.timeout(within):
        try:
            return await reader.read() == b""
        except ConnectionResetError:
            return True


def post(path: str, body: bytes = b"", *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: example.test", f"Content-Length: {len(body)}",
            "Content-Type: application/x-amz-json-1.0", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_keep_alive(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(post("/a?x=1&y=%20", b'{"n": 1}'))
    (first,) = await responses(reader, 1)
    writer.write(post("/b%2Fc", b'{"n": 2}'))
    (second,) = await responses(reader, 1)
    assert first.status == second.status == 200
    assert first.headers["connection"] == "keep-alive"
    assert first.headers["x-test"] == "1" and "date" in first.headers
    assert int(first.headers["content-length"]) == len(first.body)
    info = first.json()
    assert info["body"] == '{"n": 1}' and info["method"] == "POST"
    assert info["path"] == "/a" and info["raw_path"] == "/a?x=1&y=%20"
    assert info["query"] == "x=1&y=%20" and info["host"] == "example.test"
    assert info["remote"] == "127.0.0.1" and info["scheme"] == "http"
    assert info["content_type"] == "application/x-amz-json-1.0"
    assert info["content_length"] == 8
    assert second.json()["path"] == "/b/c" and second.json()["raw_path"] == "/b%2Fc"


async def test_pipelined_requests_are_answered_in_order_one_at_a_time(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(post("/sleep/0.05", b"1") + post("/sleep/0", b"2") + post("/", b"3"))
    answers = await responses(reader, 3)
    assert [a.json()["body"] for a in answers] == ["1", "2", "3"]
    assert served.app.max_active == 1


async def test_chunked_body(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n")
    await asyncio.sleep(0.05)
    writer.write(b"6\r\n world\r\n0\r\n\r\n")
    (answer,) = await responses(reader, 1)
    assert answer.json()["body"] == "hello world"
    assert answer.json()["content_length"] is None


async def test_chunked_body_over_the_limit_raises_body_too_large(served: Served) -> None:
    reader, writer = await served.connect()
    chunk = b"x" * 600
    writer.write(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + (b"258\r\n" + chunk + b"\r\n") * 2 + b"0\r\n\r\n")
    (answer,) = await responses(reader, 1)
    assert answer.status == 413


async def test_expect_100_continue(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(post("/", b"", "Expect: 100-continue").replace(b"Length: 0", b"Length: 4"))
    async with asyncio.timeout(2):
        interim = await reader.readuntil(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"body")
    (answer,) = await responses(reader, 1)
    assert answer.status == 200 and answer.json()["body"] == "body"


async def test_http_1_0_closes_after_the_answer(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"GET /x HTTP/1.0\r\n\r\n")
    (answer,) = await responses(reader, 1)
    assert answer.status == 200 and answer.headers["connection"] == "close"
    assert answer.json()["host"] == "127.0.0.1"  # no Host header: the socket's address
    assert answer.json()["content_type"] == "application/octet-stream"
    assert await closed(reader)


async def test_connection_close_header(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(post("/", b"x", "Connection: close"))
    (answer,) = await responses(reader, 1)
    assert answer.headers["connection"] == "close"
    assert await closed(reader)


@pytest.mark.parametrize("raw", [b"NOT A REQUEST\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                                 b"GET /\x01 HTTP/1.1\r\n\r\n"])
async def test_malformed_request_gets_400_and_close(served: Served, raw: bytes) -> None:
    reader, writer = await served.connect()
    writer.write(raw)
    (answer,) = await responses(reader, 1)
    assert answer.status == 400 and answer.headers["connection"] == "close"
    assert await closed(reader)
    assert served.app.seen == []


async def test_malformed_request_after_a_good_one(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(post("/sleep/0.05", b"ok") + b"BAD\r\n\r\n")
    first, second = await responses(reader, 2)
    assert (first.status, second.status) == (200, 400)
    assert await closed(reader)


async def test_head_too_large_gets_400() -> None:
    async for served in _serve(max_head_bytes=1000):
        reader, writer = await served.connect()
        writer.write(b"GET / HTTP/1.1\r\nX-Big: ")
        for _ in range(3):
            await asyncio.sleep(0.02)
            writer.write(b"y" * 800)
        (answer,) = await responses(reader, 1)
        assert answer.status == 400
        assert served.app.seen == []


async def test_content_length_over_the_limit_reaches_the_handler(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(post("/early", b"").replace(b"Length: 0", b"Length: 5000") + b"x" * 100)
    (answer,) = await responses(reader, 1)
    assert answer.status == 413 and answer.headers["connection"] == "close"
    writer.write(b"x" * 4900)  # drained while lingering; then the connection closes
    assert await closed(reader)


async def test_unread_body_is_discarded_on_keep_alive(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(post("/early-keep", b"").replace(b"Length: 0", b"Length: 300"))
    (answer,) = await responses(reader, 1)
    assert answer.status == 200 and answer.headers["connection"] == "keep-alive"
    writer.write(b"z" * 300 + post("/", b"next"))
    (answer,) = await responses(reader, 1)
    assert answer.json()["body"] == "next"


async def test_client_disconnect_mid_body_raises_in_read(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(post("/wait-body", b"").replace(b"Length: 0", b"Length: 100") + b"part")
    await asyncio.sleep(0.05)
    writer.transport.abort()
    assert served.app.read_error is not None
    async with asyncio.timeout(2):
        exc = await served.app.read_error
    assert isinstance(exc, ConnectionResetError)


async def test_handler_error_gets_500(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    reader, writer = await served.connect()
    with caplog.at_level(logging.ERROR, "broker.server.http11"):
        writer.write(post("/boom"))
        (answer,) = await responses(reader, 1)
    assert answer.status == 500
    assert "unhandled error" in caplog.text
    assert await closed(reader)


async def test_connection_limit() -> None:
    async for served in _serve(max_connections=2):
        for _ in range(2):
            await served.connect()
        await asyncio.sleep(0.05)
        reader, _ = await served.connect()
        (answer,) = await responses(reader, 1)
        assert answer.status == 503
        assert served.http.refused == 1 and served.http.open_connections == 2


async def test_header_and_idle_timeouts() -> None:
    async for served in _serve(header_timeout_s=0.2, keepalive_timeout_s=0.3):
        silent, _ = await served.connect()
        dribbling, writer = await served.connect()
        writer.write(b"GET / HTTP/1.1\r\nHost: ")
        idle, idle_writer = await served.connect()
        idle_writer.write(post("/", b"x"))
        await responses(idle, 1)
        assert await closed(silent, 1.0) and await closed(dribbling, 1.0)
        assert served.http.timed_out == 2
        assert await closed(idle, 1.0)  # keep-alive timeout
        assert served.http.timed_out == 2


async def test_shutdown_lets_requests_in_hand_finish(served: Served) -> None:
    idle, idle_writer = await served.connect()
    idle_writer.write(post("/", b"x"))
    await responses(idle, 1)
    busy, busy_writer = await served.connect()
    busy_writer.write(post("/slow", b"y"))
    await asyncio.sleep(0.05)
    served.server.close()
    shutdown = asyncio.create_task(served.http.shutdown(2.0))
    assert await closed(idle, 0.5)
    assert not shutdown.done()
    served.app.release.set()
    (answer,) = await responses(busy, 1)
    assert answer.status == 200 and answer.headers["connection"] == "close"
    await asyncio.wait_for(shutdown, 1)
    assert await closed(busy)


async def test_shutdown_grace_runs_out() -> None:
    async for served in _serve():
        reader, writer = await served.connect()
        writer.write(post("/slow"))
        await asyncio.sleep(0.05)
        async with asyncio.timeout(1):
            await served.http.shutdown(0.1)
        assert await closed(reader)


@pytest.mark.parametrize("raw", ["", "text", "Application/JSON; charset=utf-8", "a/b/c",
                                 " application/x-www-form-urlencoded ", "x/y ; q=1", "/",
                                 "application/x-amz-json-1.0"])
async def test_content_type_matches_aiohttp(served: Served, raw: str) -> None:
    reader, writer = await served.connect()
    writer.write(post("/", b"").replace(b"application/x-amz-json-1.0", raw.encode()))
    (answer,) = await responses(reader, 1)
    assert answer.json()["content_type"] == parse_content_type(raw)[0]
