"""A small HTTP/1.1 load generator on asyncio (uvloop when installed), for the ``server``
benchmark: raw ``asyncio.Protocol`` connections, one request in flight per connection,
no HTTP library on the hot path.

* :func:`open_loop`    a fixed request rate, latency counted from each request's
                       *scheduled* send time (coordinated omission: a request that had to
                       wait for a free connection or for a late generator is charged the
                       wait), plus the service time from the actual send and the
                       generator's own send lag.
* :func:`closed_loop`  N connections, each sending its next request as soon as the
                       previous response arrived; requests/s over a window after a warm-up.
* :func:`closed_loop_processes`  the same spread over several processes (the fallback when
                       ``wrk`` is not installed).

All times are ``time.monotonic()`` (CLOCK_MONOTONIC: comparable across processes).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import gc
import multiprocessing
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from loadtest.stats import summarize

_T = TypeVar("_T")
#: the largest response head accepted
MAX_HEAD_BYTES = 64 * 1024
#: seconds to allow for starting the generator processes (spawn + imports)
SPAWN_S = 2.0


class ProtocolError(Exception):
    """The server sent something this client does not understand."""


@dataclass(frozen=True)
class HttpRequest:
    """One request, serialized once and sent many times."""

    host: str
    port: int
    raw: bytes

    @classmethod
    def build(cls, host: str, port: int, method: str, path: str,
              headers: Mapping[str, str], body: bytes = b"") -> HttpRequest:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return cls(host, port, head + body)


@dataclass(frozen=True)
class Response:
    status: int
    #: the server will close the connection after this response
    close: bool
    body: bytes


@dataclass(frozen=True)
class _Head:
    status: int
    close: bool
    #: body length; None = chunked
    length: int | None


def _parse_head(head: bytes) -> _Head:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    connection = headers.get(b"connection", b"")
    close = connection == b"close" or (parts[0] == b"HTTP/1.0" and connection != b"keep-alive")
    if headers.get(b"transfer-encoding", b"") == b"chunked":
        return _Head(status, close, None)
    if b"content-length" in headers:
        return _Head(status, close, int(headers[b"content-length"]))
    if status in (204, 304) or 100 <= status < 200:
        return _Head(status, close, 0)
    raise ProtocolError("response without Content-Length or chunked encoding")


def _chunked_size(buf: bytearray) -> int | None:
    """Bytes taken by the complete chunked body at the start of ``buf`` (trailers
    included), or None while it is incomplete."""
    pos = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            break
        pos += size + 2
        if pos > len(buf):
            return None
    while True:  # trailers, up to the empty line
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        if eol == pos:
            return pos + 2
        pos = eol + 2


class ResponseParser:
    """Incremental parser of HTTP/1.1 responses (Content-Length or chunked bodies)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: _Head | None = None

    def feed(self, data: bytes) -> list[Response]:
        self._buf += data
        out = []
        while (response := self._next()) is not None:
            out.append(response)
        return out

    def _next(self) -> Response | None:
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD_BYTES:
                    raise ProtocolError("response head too large")
                return None
            self._head = _parse_head(bytes(self._buf[:end]))
            del self._buf[:end + 4]
        head = self._head
        size = _chunked_size(self._buf) if head.length is None else head.length
        if size is None or len(self._buf) < size:
            return None
        body = bytes(self._buf[:size])
        del self._buf[:size]
        self._head = None
        return Response(head.status, head.close, body)


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection with at most one request in flight."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = ResponseParser()
        self._waiter: asyncio.Future[Response] | None = None
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            responses = self._parser.feed(data)
        except (ProtocolError, ValueError) as exc:
            self._fail(exc if isinstance(exc, ProtocolError) else ProtocolError(str(exc)))
            self.close()
            return
        for response in responses:
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result(response)
            if response.close:
                self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def request(self, raw: bytes) -> asyncio.Future[Response]:
        """Send ``raw``; the future resolves to its response."""
        if self.closed or self._transport is None:
            raise ConnectionResetError("connection closed")
        if self._waiter is not None:
            raise RuntimeError("a request is already in flight on this connection")
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._transport.write(raw)
        return waiter

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class Pool:
    """At most ``size`` connections in use; idle ones are reused, closed ones replaced."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self._host, self._port = host, port
        self._slots = asyncio.Semaphore(size)
        self._idle: collections.deque[Connection] = collections.deque()
        self._all: set[Connection] = set()
        self.opened = 0

    async def acquire(self) -> Connection:
        await self._slots.acquire()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        try:
            conn = await Connection.open(self._host, self._port)
        except BaseException:
            self._slots.release()
            raise
        self.opened += 1
        self._all.add(conn)
        return conn

    def release(self, conn: Connection) -> None:
        if conn.closed:
            self._all.discard(conn)
        else:
            self._idle.append(conn)
        self._slots.release()

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()


async def send_one(req: HttpRequest) -> Response:
    """One request on a fresh connection (pre-flight checks)."""
    conn = await Connection.open(req.host, req.port)
    try:
        return await asyncio.wait_for(conn.request(req.raw), 30)
    finally:
        conn.close()


# ------------------------------------------------------------------------------ results


@dataclass
class Tally:
    """Responses by status, failed requests by exception type, latencies (seconds)."""

    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    def non_2xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if not 200 <= s < 300)

    def merge(self, other: Tally) -> None:
        self.statuses.update(other.statuses)
        self.failures.update(other.failures)
        self.latencies.extend(other.latencies)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok(), "non_2xx": self.non_2xx(),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "failures": dict(self.failures)}


@dataclass
class OpenLoopResult:
    rate: float
    duration_s: float
    scheduled: int
    #: latency from the scheduled send time (seconds), completed requests only
    tally: Tally
    #: latency from the actual send (seconds)
    service: list[float]
    #: actual send minus scheduled send (seconds): how late the generator was
    lag: list[float]
    #: requests still unanswered when the drain time ran out
    incomplete: int
    #: their (lower-bound) latencies from the scheduled time at that moment
    incomplete_latencies: list[float]
    #: seconds from the first scheduled send to the last response
    elapsed_s: float
    connections_opened: int
    generator_cpu_s: float

    def to_dict(self) -> dict[str, Any]:
        with_incomplete = self.tally.latencies + self.incomplete_latencies
        return {
            "rate": self.rate, "duration_s": self.duration_s, "scheduled": self.scheduled,
            **self.tally.to_dict(), "incomplete": self.incomplete,
            # responses per second, first scheduled send to last response
            "achieved_per_s": self.tally.ok() / self.elapsed_s if self.elapsed_s else 0.0,
            "latency_ms": summarize(self.tally.latencies, 1e3),
            "latency_with_incomplete_ms": summarize(with_incomplete, 1e3),
            "service_ms": summarize(self.service, 1e3),
            "send_lag_ms": summarize(self.lag, 1e3),
            "connections_opened": self.connections_opened,
            "generator_cpu_s": self.generator_cpu_s,
        }


@dataclass
class ClosedLoopResult:
    connections: int
    duration_s: float
    #: responses completed within the measurement window
    tally: Tally
    #: CPU the generator used over the window (all its processes)
    generator_cpu_s: float
    processes: int = 1
    #: 2xx responses over the whole run, warm-up and stragglers included
    total_ok: int = 0

    def requests(self) -> int:
        return sum(self.tally.statuses.values())

    def to_dict(self) -> dict[str, Any]:
        return {"connections": self.connections, "duration_s": self.duration_s,
                "processes": self.processes, "requests": self.requests(),
                "requests_per_s": self.requests() / self.duration_s,
                **self.tally.to_dict(), "latency_ms": summarize(self.tally.latencies, 1e3),
                "total_ok": self.total_ok, "generator_cpu_s": self.generator_cpu_s}


# ------------------------------------------------------------------------------ open loop


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile (its pauses would show up as generator
    lag); what exists before is frozen, so the collection after it stays short."""
    enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


async def sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def open_loop(req: HttpRequest, rate: float, duration_s: float, connections: int,
                    drain_s: float = 5.0,
                    progress: Callable[[str], None] | None = None) -> OpenLoopResult:
    """Send ``rate`` requests/s for ``duration_s`` (at most ``connections`` in flight;
    the rest wait for a connection, charged from their scheduled time), then wait up to
    ``drain_s`` for the stragglers."""
    pool = Pool(req.host, req.port, connections)
    tally, service, lag = Tally(), [], []
    pending: dict[asyncio.Task[None], float] = {}
    count = int(rate * duration_s)
    cpu0 = time.process_time()
    start = time.monotonic() + 0.05
    window_end = start + duration_s
    last_done = start

    async def fire(scheduled: float) -> None:
        nonlocal last_done
        try:
            conn = await pool.acquire()
        except OSError as exc:
            tally.failures[f"connect: {type(exc).__name__}"] += 1
            return
        sent = time.monotonic()
        try:
            response = await conn.request(req.raw)
        except (OSError, ProtocolError) as exc:
            tally.failures[type(exc).__name__] += 1
            return
        except asyncio.CancelledError:
            conn.close()
            raise
        finally:
            pool.release(conn)
        done = time.monotonic()
        tally.statuses[response.status] += 1
        tally.latencies.append(done - scheduled)
        service.append(done - sent)
        lag.append(sent - scheduled)
        last_done = max(last_done, done)

    last_report = start
    for i in range(count):
        scheduled = start + i / rate
        await sleep_until(scheduled)
        task = asyncio.create_task(fire(scheduled))
        pending[task] = scheduled
        task.add_done_callback(pending.pop)
        if progress is not None and scheduled - last_report >= 5:
            last_report = scheduled
            progress(f"    {i:,}/{count:,} sent, {len(pending):,} outstanding")
    if pending:
        await asyncio.wait(list(pending), timeout=max(0.0, window_end + drain_s
                                                      - time.monotonic()))
    now = time.monotonic()
    leftovers = [now - t for t in pending.values()]
    stragglers = list(pending)
    for task in stragglers:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*stragglers, return_exceptions=True)
    pool.close()
    return OpenLoopResult(
        rate=rate, duration_s=duration_s, scheduled=count, tally=tally, service=service,
        lag=lag, incomplete=len(leftovers), incomplete_latencies=leftovers,
        elapsed_s=last_done - start, connections_opened=pool.opened,
        generator_cpu_s=time.process_time() - cpu0)


# ------------------------------------------------------------------------------ closed loop


async def closed_loop(req: HttpRequest, connections: int, warmup_s: float,
                      duration_s: float, start_at: float | None = None) -> ClosedLoopResult:
    """``connections`` workers, each on its own connection (reopened when the server closes
    it), back to back from ``start_at`` (default now); responses that complete within
    [start + warm-up, start + warm-up + duration] are counted."""
    if start_at is not None:
        await sleep_until(start_at)
    window_start = time.monotonic() + warmup_s
    window_end = window_start + duration_s
    tally = Tally()
    total_ok = 0

    async def worker() -> None:
        nonlocal total_ok
        conn: Connection | None = None
        while time.monotonic() < window_end:
            if conn is None or conn.closed:
                try:
                    conn = await Connection.open(req.host, req.port)
                except OSError as exc:
                    if time.monotonic() >= window_start:
                        tally.failures[f"connect: {type(exc).__name__}"] += 1
                    await asyncio.sleep(0.01)
                    continue
            sent = time.monotonic()
            try:
                response = await conn.request(req.raw)
            except (OSError, ProtocolError) as exc:
                if sent >= window_start:
                    tally.failures[type(exc).__name__] += 1
                conn = None
                continue
            done = time.monotonic()
            total_ok += 200 <= response.status < 300
            if window_start <= done <= window_end:
                tally.statuses[response.status] += 1
                tally.latencies.append(done - sent)
        if conn is not None:
            conn.close()

    async def cpu_at_window_start() -> float:
        await sleep_until(window_start)
        return time.process_time()

    cpu_task = asyncio.create_task(cpu_at_window_start())
    await asyncio.gather(*(worker() for _ in range(connections)))
    cpu = time.process_time() - await cpu_task
    return ClosedLoopResult(connections, duration_s, tally, cpu, total_ok=total_ok)


def _run_in_new_loop(coro: Awaitable[_T]) -> _T:
    async def main() -> _T:
        return await coro

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    result: _T = uvloop.run(main())
    return result


def _closed_loop_process(req: HttpRequest, connections: int, warmup_s: float,
                         duration_s: float, start_at: float) -> ClosedLoopResult:
    """Entry point of a generator process."""
    return _run_in_new_loop(closed_loop(req, connections, warmup_s, duration_s, start_at))


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def closed_loop_processes(req: HttpRequest, connections: int, processes: int,
                                warmup_s: float, duration_s: float,
                                start_at: float | None = None) -> ClosedLoopResult:
    """:func:`closed_loop` in ``processes`` processes (connections split between them),
    all starting at ``start_at`` (default: :data:`SPAWN_S` from now, time enough to
    start them); the results are merged."""
    processes = max(1, min(processes, connections))
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
        if start_at is None:
            start_at = time.monotonic() + SPAWN_S
        futures: Iterable[Awaitable[ClosedLoopResult]] = [
            loop.run_in_executor(pool, _closed_loop_process, req, n, warmup_s, duration_s,
                                 start_at)
            for n in _split(connections, processes)]
        parts = await asyncio.gather(*futures)
    merged = Tally()
    for part in parts:
        merged.merge(part.tally)
    return ClosedLoopResult(connections, duration_s, merged,
                            sum(p.generator_cpu_s for p in parts), processes,
                            total_ok=sum(p.total_ok for p in parts))
