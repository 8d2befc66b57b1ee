"""The broker server: one asyncio HTTP server for the AWS APIs, health and metrics.

::

    async with Engine.from_url(url) as engine:
        async with BrokerServer(engine, Settings(port=4566)) as server:
            print(server.url)            # http://127.0.0.1:4566
            await server.wait_closed()   # until close() (e.g. on SIGTERM)

Routes: ``POST /`` and ``POST|GET /<account>/<queue>`` (the AWS APIs, see
:mod:`broker.server.gateway`), ``GET /healthz`` (the process is up), ``GET /readyz``
(Redis answers and the function library is loaded), ``GET /metrics`` (Prometheus).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import TracebackType

import botocore.session
from aiohttp import web

from broker.config import Settings
from broker.engine import Engine
from broker.server.codecs import ServiceCodec
from broker.server.connections import ConnectionGuard
from broker.server.credentials import CredentialStore
from broker.server.gateway import Gateway, Service
from broker.server.housekeeping import Housekeeper
from broker.server.metrics import Metrics
from broker.server.sigv4 import Verifier
from broker.server.sqs import SqsActions

ACCESS_LOGGER = "broker.access"
#: how long close() lets in-flight requests (long polls included) finish
SHUTDOWN_GRACE_S = 25.0


def sqs_service(engine: Engine, session: botocore.session.Session) -> Service:
    actions = SqsActions(engine)
    return Service(
        name="sqs",
        codec=ServiceCodec(session.get_service_model("sqs")),
        call=actions.handle,
        json_error_prefix="com.amazonaws.sqs",
        query_compatible=True,
        queue_url_from_path=True,
    )


class BrokerServer:
    """Serves one engine over HTTP; ``async with`` starts and stops it."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        credentials: CredentialStore | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.credentials = credentials or CredentialStore.empty()
        self.metrics = Metrics()
        self.guard = ConnectionGuard(settings.max_connections, settings.header_timeout_s)
        session = botocore.session.get_session()
        self.gateway = Gateway(
            [sqs_service(engine, session)],
            default_account=settings.account_id,
            verifier=Verifier(self.credentials) if self.credentials else None,
            metrics=self.metrics,
            guard=self.guard,
            max_body_bytes=settings.max_body_bytes,
            access_log=logging.getLogger(ACCESS_LOGGER),
        )
        self.housekeeper = Housekeeper(engine, self.accounts)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._closed = asyncio.Event()
        self.port = settings.port

    @property
    def accounts(self) -> list[str]:
        """The accounts this server serves: the default one and every credential's."""
        return sorted({self.settings.account_id,
                       *(c.account_id for c in self.credentials.values())})

    @property
    def url(self) -> str:
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def _app(self) -> web.Application:
        # The gateway reads bodies itself (and answers 413 in AWS's shape); aiohttp's own
        # limit is set above ours so it never answers first.
        app = web.Application(client_max_size=self.settings.max_body_bytes + 1)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", "/{tail:.*}", self.gateway.handle)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False,
                               keepalive_timeout=75.0, max_line_size=16384,
                               max_field_size=16384)
        await runner.setup()
        self._runner = runner
        loop = asyncio.get_running_loop()
        factory = self.guard.factory(runner.server)  # type: ignore[arg-type]
        try:
            self._server = await loop.create_server(
                factory, self.settings.host, self.settings.port, reuse_address=True,
                backlog=1024)
        except BaseException:
            await runner.cleanup()
            self._runner = None
            raise
        sock: socket.socket = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        self.housekeeper.start()

    async def close(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded), release everything."""
        await self.housekeeper.close()
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            if self._runner.server is not None:
                await self._runner.server.shutdown(SHUTDOWN_GRACE_S)
            await self._runner.cleanup()
            self._runner = None
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def __aenter__(self) -> BrokerServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- operations endpoints -----------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if await self.engine.ping():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="redis unreachable or functions not loaded\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            await self.metrics.refresh_queues(self.engine, self.accounts)
        except Exception:  # Redis down: still serve the request counters
            logging.getLogger(__name__).warning("queue metrics unavailable", exc_info=True)
        return web.Response(body=self.metrics.render(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
