"""Connection limits for the HTTP server: how many at once, and how long a client may take
to send its request headers.

aiohttp has no header timeout of its own, so each connection's protocol is wrapped in a
:class:`GuardedProtocol` that closes the connection when no request has started within
``header_timeout_s`` of connecting (or of the previous response). The request handler
marks the start and end of each request with :meth:`ConnectionGuard.request_started` /
:meth:`ConnectionGuard.request_finished`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

_BUSY_BODY = b"too many connections; retry later\n"
#: what a client beyond the connection limit gets before the connection is closed
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class ConnectionGuard:
    """Counts connections and owns their header timers; one per server."""

    def __init__(self, max_connections: int, header_timeout_s: float) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self._open: dict[asyncio.BaseTransport, GuardedProtocol] = {}
        self.refused = 0
        """Connections turned away because ``max_connections`` were open."""
        self.timed_out = 0
        """Connections closed because their request headers did not arrive in time."""

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` wrapping aiohttp's."""
        return lambda: GuardedProtocol(self, inner())

    def request_started(self, transport: asyncio.BaseTransport | None) -> None:
        guarded = self._open.get(transport) if transport is not None else None
        if guarded is not None:
            guarded.stop_timer()

    def request_finished(self, transport: asyncio.BaseTransport | None) -> None:
        guarded = self._open.get(transport) if transport is not None else None
        if guarded is not None:
            guarded.start_timer()

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
    """Delegates to aiohttp's request handler; adds the limit and the header timer."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one
        self._transport = cast(asyncio.Transport, transport)
        if not self._guard._admit(transport, self):
            self._transport.write(_BUSY)
            self._transport.close()
            return
        self._admitted = True
        self._inner.connection_made(transport)
        self.start_timer()

    def start_timer(self) -> None:
        self.stop_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.header_timeout_s, self._expire)

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self._guard.timed_out += 1
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_timer()
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
