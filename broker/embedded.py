"""Run a private ``redis-server`` as a child process of the broker (or of a test).

``EmbeddedRedis`` is an async context manager::

    async with EmbeddedRedis(data_dir=Path(".redcurrent")) as server:
        client = redis.asyncio.Redis.from_url(server.url)
        ...

It starts ``redis-server`` with command-line options only (no config file), waits until the
server answers ``PING`` and stops it again on exit: ``SIGTERM`` first (Redis then flushes its
append-only file and exits cleanly), ``SIGKILL`` if it does not exit in time. The child is
always reaped, also when starting fails half-way or is cancelled.

The server's log goes to ``<data_dir>/redis.log``. Anything ``redis-server`` prints on stderr
before it has opened that log (e.g. ``FATAL CONFIG FILE ERROR``) is appended to the same file,
so a failed start can always show the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = [
    "AppendFsync",
    "EmbeddedRedis",
    "RedisServerNotFound",
    "RedisServerStartError",
    "free_port",
]

AppendFsync = Literal["always", "everysec", "no"]
"""Values Redis accepts for ``appendfsync``."""

_APPENDFSYNC_VALUES: Final = frozenset({"always", "everysec", "no"})
_NOT_FOUND_MESSAGE: Final = (
    "redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server) "
    "or pass --redis-url redis://host:port"
)
_LOG_TAIL_LINES: Final = 20
_PORT_ATTEMPTS: Final = 3
_POLL_INTERVAL: Final = 0.05


class RedisServerNotFound(RuntimeError):
    """No ``redis-server`` executable could be found (or the one given does not exist).

    ``str()`` is always the same one-line hint on how to get one; ``binary`` is what was
    looked for (``None`` when ``PATH`` was searched for ``redis-server``).
    """

    def __init__(self, binary: str | None = None) -> None:
        super().__init__(_NOT_FOUND_MESSAGE)
        self.binary = binary


class RedisServerStartError(RuntimeError):
    """``redis-server`` exited early or did not answer ``PING`` in time.

    The message ends with the tail of the server's log file.
    """


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The kernel picks the port; it is released again before this returns, so another process
    could take it in the meantime (``EmbeddedRedis`` retries in that case).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _resolve_binary(binary: str | None) -> str:
    """Find the ``redis-server`` executable, or raise :class:`RedisServerNotFound`."""
    if binary is None:
        found = shutil.which("redis-server")
        if found is None:
            raise RedisServerNotFound()
        return found
    if os.sep not in binary and (os.altsep is None or os.altsep not in binary):
        found = shutil.which(binary)
        if found is None:
            raise RedisServerNotFound(binary)
        return found
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise RedisServerNotFound(binary)
    return binary


class EmbeddedRedis:
    """A ``redis-server`` child process, started and stopped as an async context manager.

    Args:
        data_dir: Working directory of the server (AOF, log, cluster config). Created if
            missing; a relative path is resolved against the current directory at start.
        port: TCP port to listen on; ``None`` picks a free one on ``host`` at every start.
        host: Address to bind to (and to connect to).
        appendonly: Turn the append-only file on (durability across restarts).
        appendfsync: ``"always"``, ``"everysec"`` or ``"no"``.
        extra_args: More ``redis-server`` arguments, appended last (so they win), e.g.
            ``("--cluster-enabled", "yes")``.
        binary: Path or name of the ``redis-server`` executable; ``None`` searches ``PATH``.
        startup_timeout: Seconds to wait for the first successful ``PING``.
        stop_timeout: Seconds to wait after ``SIGTERM`` before sending ``SIGKILL``.

    ``start()`` may be called again after ``stop()``; ``stop()`` is idempotent.
    """

    def __init__(
        self,
        *,
        data_dir: Path = Path(".redcurrent"),
        port: int | None = None,
        host: str = "127.0.0.1",
        appendonly: bool = True,
        appendfsync: AppendFsync | str = "everysec",
        extra_args: Sequence[str] = (),
        binary: str | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if appendfsync not in _APPENDFSYNC_VALUES:
            raise ValueError(
                f"appendfsync must be one of {sorted(_APPENDFSYNC_VALUES)}, got {appendfsync!r}"
            )
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        if isinstance(extra_args, str):
            raise TypeError("extra_args must be a sequence of arguments, not a single string")
        self._data_dir = Path(data_dir)
        self._requested_port = port
        self._host = host
        self._appendonly = appendonly
        self._appendfsync = appendfsync
        self._extra_args = tuple(extra_args)
        self._binary = binary
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._port: int | None = port
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ properties

    @property
    def host(self) -> str:
        """The address the server binds to."""
        return self._host

    @property
    def port(self) -> int:
        """The port the server listens on (known once started, or if given explicitly)."""
        if self._port is None:
            raise RuntimeError("EmbeddedRedis has no port yet: start it first")
        return self._port

    @property
    def url(self) -> str:
        """``redis://HOST:PORT`` of the running server."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"redis://{host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        """The server's working directory (absolute once started)."""
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self._data_dir / "redis.log"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, or ``None`` when not running."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the child process has been started and has not exited."""
        return self._proc is not None and self._proc.returncode is None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start ``redis-server`` and wait until it answers ``PING``.

        Raises:
            RedisServerNotFound: no executable.
            RedisServerStartError: the server exited or did not answer in time; the message
                has the tail of its log. No process is left behind.
            RuntimeError: already running.
        """
        async with self._lock:
            if self._proc is not None:
                raise RuntimeError(f"redis-server is already running (pid {self._proc.pid})")
            binary = _resolve_binary(self._binary)
            self._data_dir = self._data_dir.expanduser().resolve()
            self._data_dir.mkdir(parents=True, exist_ok=True)
            attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
            for attempt in range(1, attempts + 1):
                port = self._requested_port or free_port(self._host)
                try:
                    await self._start_once(binary, port)
                except RedisServerStartError as err:
                    # A port picked by free_port() can be taken before redis binds it.
                    if attempt < attempts and "Address already in use" in str(err):
                        continue
                    raise
                return

    async def stop(self) -> None:
        """Stop the server: ``SIGTERM``, then ``SIGKILL`` after ``stop_timeout``; reap it.

        Safe to call when not running, and more than once.
        """
        async with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                await self._terminate(proc, graceful=True)

    # ------------------------------------------------------------------ internals

    def _command(self, binary: str, port: int) -> list[str]:
        return [
            binary,
            "--port", str(port),
            "--bind", self._host,
            "--dir", str(self._data_dir),
            "--appendonly", "yes" if self._appendonly else "no",
            "--appendfsync", self._appendfsync,
            "--save", "",
            "--protected-mode", "no",
            "--daemonize", "no",
            "--logfile", str(self.log_path),
            "--maxmemory-policy", "noeviction",
            *self._extra_args,
        ]  # fmt: skip

    async def _start_once(self, binary: str, port: int) -> None:
        log_path = self.log_path
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        # stderr goes to the log file too: config errors are printed there, not logged.
        with log_path.open("ab") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *self._command(binary, port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                cwd=self._data_dir,
            )
        try:
            await self._wait_ready(proc, port, log_offset)
        except BaseException:
            await self._terminate(proc, graceful=False)
            raise
        self._proc = proc
        self._port = port

    async def _wait_ready(
        self, proc: asyncio.subprocess.Process, port: int, log_offset: int
    ) -> None:
        """Poll ``PING`` until our own process answers, it exits, or the time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._startup_timeout
        client = aioredis.Redis(
            host=self._host,
            port=port,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            while True:
                if proc.returncode is not None:
                    raise RedisServerStartError(
                        f"redis-server exited with code {proc.returncode} during startup "
                        f"(port {port}, dir {self._data_dir})" + self._log_tail(log_offset)
                    )
                if await self._answers_ping(client, proc.pid):
                    return
                if loop.time() >= deadline:
                    raise RedisServerStartError(
                        f"redis-server (pid {proc.pid}, port {port}) did not answer PING "
                        f"within {self._startup_timeout:g} s" + self._log_tail(log_offset)
                    )
                await asyncio.sleep(_POLL_INTERVAL)
        finally:
            await client.aclose()

    @staticmethod
    async def _answers_ping(client: aioredis.Redis, pid: int) -> bool:
        """True once the server on the port answers and is our child (not another server)."""
        try:
            await client.ping()
            info = await client.info("server")
        except (RedisError, OSError, TimeoutError):
            return False
        return bool(info.get("process_id") == pid)

    async def _terminate(self, proc: asyncio.subprocess.Process, *, graceful: bool) -> None:
        """Signal ``proc`` and reap it. The signal is sent before any ``await``."""
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        if graceful:
            try:
                await asyncio.wait_for(proc.wait(), self._stop_timeout)
                return
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        await proc.wait()

    def _log_tail(self, offset: int) -> str:
        """The last lines this run wrote to the log, formatted for an error message."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError as err:
            return f"\n(could not read {self.log_path}: {err})"
        lines = [line for line in text.splitlines() if line.strip()][-_LOG_TAIL_LINES:]
        if not lines:
            return f"\n({self.log_path} is empty)"
        return f"\nlast lines of {self.log_path}:\n" + "\n".join(lines)

    def __repr__(self) -> str:
        port = self._port if self._port is not None else "auto"
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<EmbeddedRedis {self._host}:{port} dir={self._data_dir} {state}>"

    def __del__(self) -> None:
        # Last resort against leaked servers: the handle is gone, so nobody can stop it.
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGKILL)
            warnings.warn(
                f"EmbeddedRedis was not stopped; killed redis-server pid {proc.pid}",
                ResourceWarning,
                stacklevel=1,
            )
