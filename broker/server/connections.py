"""Connection limits for the HTTP server: how many at once, and how long a client may take
to send its request headers.

aiohttp has no header timeout of its own, so each connection's protocol is wrapped in a
:class:`GuardedProtocol` that counts it and notes when a request began to arrive (the
connection opened, or its first bytes came in after the previous response). The request
handler marks each request's start and end (:meth:`ConnectionGuard.request_started` /
:meth:`request_finished`); one watchdog task closes connections whose request has been
arriving for longer than ``header_timeout_s`` without starting (a slow-loris client
dribbling a request line, or a client that connects and sends nothing). Idle keep-alive
connections are aiohttp's business (``keepalive_timeout``). No per-request timers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, cast

_BUSY_BODY = b"too many connections; retry later\n"
#: what a client beyond the connection limit gets before the connection is closed
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class ConnectionGuard:
    """Counts connections and closes stalled ones; one per server. ``start()`` its watchdog
    in the running loop, ``await close()`` it."""

    def __init__(self, max_connections: int, header_timeout_s: float) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self._open: dict[asyncio.BaseTransport, GuardedProtocol] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self.refused = 0
        """Connections turned away because ``max_connections`` were open."""
        self.timed_out = 0
        """Connections closed because no request arrived in time."""

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` wrapping aiohttp's."""
        return lambda: GuardedProtocol(self, inner())

    def start(self) -> None:
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(
                self._watch(), name="redcurrent-connection-watchdog")

    async def close(self) -> None:
        task, self._watchdog = self._watchdog, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def request_started(self, transport: asyncio.BaseTransport | None) -> None:
        guarded = self._open.get(transport) if transport is not None else None
        if guarded is not None:
            guarded.busy += 1
            guarded.arriving_since = None

    def request_finished(self, transport: asyncio.BaseTransport | None) -> None:
        guarded = self._open.get(transport) if transport is not None else None
        if guarded is not None:
            guarded.busy -= 1

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        period = max(0.05, min(1.0, self.header_timeout_s / 4))
        while True:
            await asyncio.sleep(period)
            deadline = loop.time() - self.header_timeout_s
            for guarded in list(self._open.values()):
                since = guarded.arriving_since
                if guarded.busy == 0 and since is not None and since < deadline:
                    self.timed_out += 1
                    guarded.close()

    def _admit(self, transport: asyncio.BaseTransport, protocol: GuardedProtocol) -> bool:
        if len(self._open) >= self.max_connections:
            self.refused += 1
            return False
        self._open[transport] = protocol
        return True

    def _forget(self, transport: asyncio.BaseTransport | None) -> None:
        if transport is not None:
            self._open.pop(transport, None)


class GuardedProtocol(asyncio.Protocol):
    """Delegates to aiohttp's request handler; adds the limit and the arrival clock."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._admitted = False
        self.loop = asyncio.get_running_loop()
        self.busy = 0
        """Requests of this connection being handled now."""
        self.arriving_since: float | None = self.loop.time()
        """When the request now arriving began to (None: none is arriving)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one
        self._transport = cast(asyncio.Transport, transport)
        if not self._guard._admit(transport, self):
            self._transport.write(_BUSY)
            self._transport.close()
            return
        self._admitted = True
        self._inner.connection_made(transport)

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            if self.busy == 0 and self.arriving_since is None:
                self.arriving_since = self.loop.time()
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard._forget(self._transport)
        if self._admitted:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()

    def __getattr__(self, name: str) -> Any:  # anything else aiohttp asks its protocol
        return getattr(self._inner, name)
