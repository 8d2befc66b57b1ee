"""A lean HTTP/1.1 server on ``httptools`` (llhttp) for the broker's one handler.

aiohttp's server spends more per request on its own machinery (request handler, message
objects, stream readers, a Task per request) than the broker spends on a SendMessage;
this module keeps only what the gateway needs. llhttp does all of the parsing (request
line, headers, Content-Length and chunked bodies); nothing here parses HTTP by hand.

Design:

* :class:`HttpServer` is the protocol factory for ``loop.create_server`` and owns what
  spans connections: the handler, the limits, the cached ``Date`` header, the set of open
  connections and one watchdog task (header timeout for slow or silent clients, keep-alive
  idle timeout). No per-connection or per-request timers.
* :class:`HttpConnection` (one ``asyncio.Protocol`` per connection) feeds bytes to the
  parser; its callbacks build :class:`Request` objects and queue them. Requests are handled
  strictly one at a time, in order, by one task per connection that sleeps while the
  queue is empty (waking it costs less than creating a Task per request; measured).
  Reading pauses while too much is queued behind the request in hand (pipelining), or
  while the transport's write buffer is full.
* The handler starts once a request's headers are in; its body keeps arriving into
  :class:`RequestBody`, which ``await request.read()`` waits for (sending
  ``100 Continue`` first when the client asked for it). Bodies past ``max_body_bytes``
  are not stored and ``read()`` raises :class:`BodyTooLarge`; the handler still runs,
  so it can answer 413 itself.
* The handler returns an ``aiohttp.web.Response`` (bytes body); its status line,
  headers, ``Content-Length``, ``Date``, ``Connection`` and body go out in one
  ``transport.write``. After an answer that leaves the request body unread the rest of
  the body is discarded and the connection kept, or, when the answer closes the
  connection, read and dropped for up to ``lingering_s`` so the client gets to see it.
* Malformed requests get a plain ``400`` and the connection closes (after the answers
  owed to the requests before it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any, Final, cast

import httptools
from aiohttp import web
from aiohttp.http import HttpVersion, HttpVersion10, HttpVersion11
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

log = logging.getLogger(__name__)

Handler = Callable[["Request"], Awaitable[web.StreamResponse]]

OCTET_STREAM: Final = "application/octet-stream"
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
#: headers the server writes itself; a response's own copies of them are dropped
_OWN_HEADERS: Final = ("Content-Length", "Connection", "Transfer-Encoding")


def _plain(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


BAD_REQUEST: Final = _plain(400, "Bad Request", "malformed HTTP request\n")
BUSY: Final = _plain(503, "Service Unavailable", "too many connections; retry later\n")
INTERNAL_ERROR: Final = _plain(500, "Internal Server Error", "internal server error\n")


class BodyTooLarge(web.HTTPRequestEntityTooLarge):
    """Raised by ``await request.read()`` when the body is over ``max_body_bytes`` (its
    Content-Length says so, or a chunked body grew past it). A subclass of aiohttp's
    exception, so code catching ``web.HTTPRequestEntityTooLarge`` catches it too."""


class RelUrl:
    """The part of ``aiohttp``'s ``request.rel_url`` (a ``yarl.URL``) the gateway uses."""

    __slots__ = ("raw_path", "raw_query_string")

    def __init__(self, raw_path: str, raw_query_string: str) -> None:
        self.raw_path = raw_path
        """The path as sent (percent-escapes kept), without the query string."""
        self.raw_query_string = raw_query_string
        """The query string as sent, without ``?`` and fragment."""

    @property
    def path(self) -> str:
        """The decoded path, exactly as yarl (so aiohttp) decodes it."""
        return URL.build(path=self.raw_path, encoded=True).path


class RequestBody:
    """A request's body as it arrives; ``request.content`` (the ``is_eof()`` of aiohttp's
    ``StreamReader``) and the engine of ``request.read()``."""

    __slots__ = ("_chunks", "_conn", "_data", "_error", "_waiter", "continue_sent",
                 "discard", "expect_continue", "limit", "size", "too_large", "eof")

    def __init__(self, conn: HttpConnection, limit: int, expect_continue: bool) -> None:
        self._conn = conn
        self._chunks: list[bytes] = []
        self._data: bytes | None = None
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.limit = limit
        self.size = 0
        """Body bytes received so far (stored or not)."""
        self.eof = False
        self.too_large = False
        self.discard = False
        """Drop arriving bytes (too large, or the request was answered without them)."""
        self.expect_continue = expect_continue
        self.continue_sent = False

    def is_eof(self) -> bool:
        """The whole body is in (or will never be: see :meth:`read`)."""
        return self.eof

    async def read(self) -> bytes:
        """The whole body. Raises :class:`BodyTooLarge` past the limit,
        ``ConnectionResetError`` when the client disconnects before sending it all."""
        while not self.eof and self._error is None and not self.too_large:
            if self.expect_continue and not self.continue_sent:
                self.continue_sent = True
                self._conn.write(_CONTINUE)
            waiter = self._waiter = self._conn.loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        if self.too_large:
            raise BodyTooLarge(max_size=self.limit, actual_size=self.size)
        if self._error is not None:
            raise self._error
        if self._data is None:
            chunks = self._chunks
            self._data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self._chunks = []
        return self._data

    # --- fed by the connection ----------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        if self.discard:
            return
        if self.size > self.limit:
            self.too_large = self.discard = True
            self._chunks = []
        else:
            self._chunks.append(data)
        self._wake()

    def feed_eof(self) -> None:
        self.eof = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if not self.eof and self._error is None:
            self._error = exc
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Request:
    """One request: the subset of ``aiohttp.web.BaseRequest`` the broker uses."""

    __slots__ = ("_content_type", "_conn", "_rel_url", "broken", "content", "headers",
                 "keep_alive", "method", "raw_path", "transport", "version")

    scheme: Final = "http"

    def __init__(self, conn: HttpConnection, method: str, raw_path: str,
                 version: HttpVersion, headers: CIMultiDictProxy[str], keep_alive: bool,
                 content: RequestBody) -> None:
        self._conn = conn
        self.method = method
        self.raw_path = raw_path
        """The request target as sent, query string included."""
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        """The client allows the connection to stay open (HTTP/1.1, or keep-alive)."""
        self.content = content
        self.transport: asyncio.Transport | None = conn.transport
        self.broken = False
        """Its body turned out malformed: it gets a 400, not the handler's answer."""
        self._rel_url: RelUrl | None = None
        self._content_type: str | None = None

    @property
    def rel_url(self) -> RelUrl:
        rel = self._rel_url
        if rel is None:
            target = self.raw_path
            if target.startswith("/"):
                path, _, query = target.partition("#")[0].partition("?")
            else:  # absolute-form (``http://host/path``) or ``*``
                url = httptools.parse_url(target.encode("utf-8", "surrogateescape"))
                path = (url.path or b"").decode("utf-8", "surrogateescape")
                query = (url.query or b"").decode("utf-8", "surrogateescape")
            rel = self._rel_url = RelUrl(path, query)
        return rel

    @property
    def path(self) -> str:
        """The decoded path, without the query string."""
        return self.rel_url.path

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters; ``application/octet-stream``
        when absent or not ``type/subtype`` (as aiohttp)."""
        ctype = self._content_type
        if ctype is None:
            raw = self.headers.get("Content-Type")
            ctype = "" if raw is None else raw.lower().partition(";")[0].strip()
            if ctype.count("/") != 1:
                ctype = OCTET_STREAM
            self._content_type = ctype
        return ctype

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return None if value is None else int(value)

    @property
    def host(self) -> str:
        """The Host header, else the address the request arrived on."""
        host = self.headers.get("Host")
        if host is not None:
            return host
        sockname = self._conn.sockname
        if isinstance(sockname, tuple):
            return f"[{sockname[0]}]" if len(sockname) == 4 else str(sockname[0])
        return "" if sockname is None else str(sockname)

    @property
    def remote(self) -> str | None:
        """The peer's IP address."""
        peer = self._conn.peername
        if isinstance(peer, tuple | list):
            return str(peer[0])
        return None if peer is None else str(peer)

    async def read(self) -> bytes:
        """The whole body; see :meth:`RequestBody.read`."""
        return await self.content.read()


class HttpServer:
    """Serves ``handler`` over HTTP/1.1: pass it to ``loop.create_server`` as the protocol
    factory, ``start()`` it, and ``close_idle()`` / ``await shutdown()`` at the end."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_body_bytes: int,
        max_connections: int = 10_000,
        header_timeout_s: float = 10.0,
        keepalive_timeout_s: float = 75.0,
        lingering_s: float = 1.0,
        max_head_bytes: int = 65_536,
        max_pipeline: int = 16,
        pipeline_high_water: int = 256 * 1024,
    ) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.lingering_s = lingering_s
        self.max_head_bytes = max_head_bytes
        """Longest request line plus headers (give or take one read's worth)."""
        self.max_pipeline = max_pipeline
        """Requests queued behind the one in hand before reading pauses."""
        self.pipeline_high_water = pipeline_high_water
        """Body bytes queued behind the request in hand before reading pauses."""
        self.closing = False
        """Shutting down: every answer closes its connection."""
        self.connections: set[HttpConnection] = set()
        self.refused = 0
        """Connections turned away because ``max_connections`` were open."""
        self.timed_out = 0
        """Connections closed because their request headers did not arrive in time."""
        self._watchdog: asyncio.Task[None] | None = None
        self._date_second = -1
        self._date = ""

    def __call__(self) -> HttpConnection:
        return HttpConnection(self)

    @property
    def open_connections(self) -> int:
        return len(self.connections)

    def date_header(self) -> str:
        """The ``Date`` header line, formatted once a second."""
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = f"Date: {formatdate(now, usegmt=True)}\r\n"
        return self._date

    def start(self) -> None:
        """Start the watchdog (in the running loop)."""
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(
                self._watch(), name="redcurrent-http-watchdog")

    def close_idle(self) -> None:
        """Close the connections with no request in hand; the others close after their
        answer (from now on every answer says ``Connection: close``)."""
        self.closing = True
        for conn in list(self.connections):
            if not conn.busy:
                conn.close()

    async def shutdown(self, grace_s: float) -> None:
        """Let requests in hand finish (for up to ``grace_s``), then close everything."""
        self.close_idle()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while (busy := {c.task for c in self.connections if c.busy and c.task is not None}):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(busy, timeout=remaining)
        tasks = [c.task for c in self.connections if c.task is not None]
        for conn in list(self.connections):
            if conn.task is not None:
                conn.task.cancel()
            conn.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        period = max(0.05, min(1.0, self.header_timeout_s / 4))
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            for conn in list(self.connections):
                if conn.busy:
                    continue
                if conn.arriving_since is not None:
                    if now - conn.arriving_since > self.header_timeout_s:
                        self.timed_out += 1
                        conn.close()
                elif now - conn.idle_since > self.keepalive_timeout_s:
                    conn.close()


class HttpConnection(asyncio.Protocol):
    """One client connection; see the module docstring."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peername: Any = None
        self.sockname: Any = None
        self.task: asyncio.Task[None] | None = None
        """Handles the requests, one after the other, while the connection is open."""
        self.arriving_since: float | None = self.loop.time()
        """When the request head now arriving began to (None: none is)."""
        self.idle_since = self.arriving_since
        self._parser = httptools.HttpRequestParser(self)
        self._queue: collections.deque[Request] = collections.deque()
        """Requests whose headers are in: the one in hand first, then those queued."""
        self._backlog = 0
        """Body bytes of the requests queued behind the one in hand."""
        self._parsing: Request | None = None
        """The request whose body is arriving."""
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._in_head = False
        """A request line or headers are arriving."""
        self._head_bytes = 0
        """Bytes received since they began to (not counting the read they began in)."""
        self._reading = False
        """Bytes are parsed (False: connection refused, closed, or the parser stopped)."""
        self._read_paused = False
        self._write_paused = False
        self._bad_request = False
        """The parser failed: answer 400 once the requests before are answered."""
        self._last = False
        """No request will follow the queued ones (client EOF, upgrade, parse error)."""
        self._linger: asyncio.TimerHandle | None = None
        self._closed = False
        self._wakeup: asyncio.Future[None] | None = None
        """What the task waits for while no request is queued."""

    @property
    def busy(self) -> bool:
        """A request is in hand (its headers are in and it is not answered yet)."""
        return bool(self._queue)

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one
        self.transport = transport = cast(asyncio.Transport, transport)
        server = self.server
        if len(server.connections) >= server.max_connections:
            server.refused += 1
            transport.write(BUSY)
            transport.close()
            return
        server.connections.add(self)
        self.peername = transport.get_extra_info("peername")
        self.sockname = transport.get_extra_info("sockname")
        self._reading = True
        self.task = self.loop.create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        if not self._reading:
            return
        in_head = self._in_head
        try:
            self._parser.feed_data(data)
            if in_head and self._in_head:
                # httptools buffers a request line or header until it is complete
                self._head_bytes += len(data)
                if self._head_bytes > self.server.max_head_bytes:
                    raise httptools.HttpParserError("request line or headers too long")
        except httptools.HttpParserUpgrade:
            # the request before the upgrade is queued; what follows is not HTTP/1.1
            self._stop_reading()
        except httptools.HttpParserError as exc:
            log.debug("malformed request from %s: %r", self.peername, exc)
            self._stop_reading()
            self._bad_request = True
            if self._parsing is not None:  # its body is broken
                self._parsing.broken = True
                self._parsing.content.fail(ConnectionResetError("malformed request body"))
                self._parsing = None
            if not self._queue:
                self._write_bad_request()

    def eof_received(self) -> bool:
        self._stop_reading()
        if self._parsing is not None:
            self._parsing.content.fail(ConnectionResetError("client closed mid-body"))
        return bool(self._queue)  # keep the transport open to write the answers owed

    def connection_lost(self, exc: Exception | None) -> None:
        self._reading = False
        self._closed = True
        self.server.connections.discard(self)
        if self._linger is not None:
            self._linger.cancel()
        for request in self._queue:
            request.content.fail(ConnectionResetError("client disconnected"))
        self._wake()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._flow()
        self._wake()

    # --- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._in_head = True
        self._head_bytes = 0
        if not self._queue:
            self.arriving_since = self.loop.time()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("utf-8", "surrogateescape"),
                              value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self._in_head = False
        head = len(self._url) + sum(len(n) + len(v) + 4 for n, v in self._headers)
        if head > self.server.max_head_bytes:  # arrived whole, in one read
            raise httptools.HttpParserError("request line or headers too long")
        if self._last:  # lingering: the request after is not answered
            return
        parser = self._parser
        limit = self.server.max_body_bytes
        headers = CIMultiDictProxy(CIMultiDict(self._headers))
        version = HttpVersion11 if parser.get_http_version() == "1.1" else HttpVersion10
        expect = headers.get("Expect")
        body = RequestBody(self, limit, expect is not None and version is HttpVersion11
                           and expect.lower() == "100-continue")
        length = headers.get("Content-Length")
        if length is not None and int(length) > limit:
            body.too_large = body.discard = True
        request = Request(self, parser.get_method().decode("ascii", "surrogateescape"),
                          self._url.decode("utf-8", "surrogateescape"), version, headers,
                          parser.should_keep_alive(), body)
        self._parsing = request
        self.arriving_since = None
        queue = self._queue
        queue.append(request)
        if len(queue) == 1:
            self._wake()
        else:
            self._flow()

    def on_body(self, data: bytes) -> None:
        request = self._parsing
        if request is not None:
            request.content.feed(data)
            if self._queue and request is not self._queue[0]:
                self._backlog += len(data)
                self._flow()

    def on_message_complete(self) -> None:
        request = self._parsing
        if request is not None:
            self._parsing = None
            request.content.feed_eof()
            if self._linger is not None:  # the answer is out: the rest was just drained
                self.close()

    # --- handling ----------------------------------------------------------------------

    async def _serve(self) -> None:
        """Handles the requests in order as they come, until the connection closes. (One
        task per connection, not per request: a Task costs more than a wake-up.)"""
        queue = self._queue
        handler = self.server.handler
        while not self._closed:
            if not queue or self._write_paused:
                self._wakeup = self.loop.create_future()
                await self._wakeup
                continue
            request = queue[0]
            if not request.broken:
                try:
                    response = await handler(request)
                except Exception:
                    log.exception("unhandled error in the request handler")
                    self.write(INTERNAL_ERROR)
                    self.close()
                    return
            if request.broken:
                self._write_bad_request()
                return
            self._respond(request, response)
            queue.popleft()
            if queue:
                self._backlog -= queue[0].content.size
                self._flow()
            elif self._bad_request:
                self._write_bad_request()
            elif self._last:
                self.close()
            elif self.arriving_since is not None:  # the next head began meanwhile
                self.arriving_since = self.loop.time()
            else:
                self.idle_since = self.loop.time()

    def _respond(self, request: Request, response: web.StreamResponse) -> None:
        if self._closed:  # the client went away: nobody to answer
            return
        if not isinstance(response, web.Response):
            log.error("the request handler returned a %s, not a web.Response",
                      type(response).__name__)
            self.write(INTERNAL_ERROR)
            self.close()
            return
        body = request.content
        complete = body.eof
        # a client that waits for 100 Continue in vain must not send its body next
        keep_alive = (request.keep_alive and response.keep_alive is not False
                      and not self.server.closing
                      and (complete or not body.expect_continue or body.continue_sent))
        try:
            data = self._serialize(request, response, keep_alive)
        except Exception:
            log.exception("unserializable response")
            data, keep_alive = INTERNAL_ERROR, False
        self.write(data)
        if keep_alive:
            body.discard = True
        elif complete or not self._reading:
            self.close()
        else:  # drain the rest of the body for a while, so the client reads the answer
            body.discard = True
            self._stop_reading(parse=True)
            self._linger = self.loop.call_later(self.server.lingering_s, self.close)

    def _serialize(self, request: Request, response: web.Response, keep_alive: bool) -> bytes:
        status = response.status
        reason = response.reason
        body = response.body
        if body is None:
            body = b""
        elif type(body) is not bytes and not isinstance(body, bytes | bytearray):
            raise TypeError(f"response body of type {type(body).__name__}: send bytes")
        headers = response.headers
        if "Content-Length" in headers or "Connection" in headers \
                or "Transfer-Encoding" in headers:
            headers = CIMultiDict(headers)
            for name in _OWN_HEADERS:
                headers.popall(name, None)
        fields = "".join([f"{k}: {v}\r\n" for k, v in headers.items()])
        lines = len(headers)
        if (fields.count("\n") != lines or fields.count("\r") != lines
                or "\n" in reason or "\r" in reason):
            raise ValueError("newline in a response header or reason")
        if status < 200 or status in (204, 304):
            body = b""
        else:
            if body and "Content-Type" not in headers:
                fields += f"Content-Type: {OCTET_STREAM}\r\n"
            fields += f"Content-Length: {len(body)}\r\n"
            if request.method == "HEAD":
                body = b""
        if "Date" not in headers:
            fields += self.server.date_header()
        version = "1.1" if request.version is HttpVersion11 else "1.0"
        connection = "keep-alive" if keep_alive else "close"
        head = f"HTTP/{version} {status} {reason}\r\n{fields}Connection: {connection}\r\n\r\n"
        return head.encode("utf-8") + body

    # --- plumbing -----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def close(self) -> None:
        self._reading = False
        self._closed = True
        self._wake()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _write_bad_request(self) -> None:
        self.write(BAD_REQUEST)
        self.close()

    def _stop_reading(self, *, parse: bool = False) -> None:
        """No further request will be handled; ``parse``: keep feeding the parser (to
        drain a body) all the same."""
        self._last = True
        self._reading = parse and self._reading
        if parse and self._read_paused and self.transport is not None \
                and not self.transport.is_closing():
            self._read_paused = False
            self.transport.resume_reading()

    def _flow(self) -> None:
        """Pause or resume reading by what is queued and the transport's write buffer."""
        server = self.server
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        full = (self._write_paused or len(self._queue) > server.max_pipeline
                or self._backlog > server.pipeline_high_water)
        if full and not self._read_paused and self._linger is None:
            self._read_paused = True
            transport.pause_reading()
        elif not full and self._read_paused:
            self._read_paused = False
            transport.resume_reading()
