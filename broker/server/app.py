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
from collections.abc import Awaitable, Callable
from types import TracebackType

import botocore.session
from aiohttp import web

from broker.config import Settings
from broker.engine import Engine
from broker.engine.settings import Identity
from broker.server.access_log import AccessLog
from broker.server.codecs import ServiceCodec
from broker.server.credentials import CredentialStore
from broker.server.dispatcher import TopicDispatcher
from broker.server.gateway import Gateway, Service
from broker.server.housekeeping import Housekeeper
from broker.server.http11 import HttpServer, Request
from broker.server.http_delivery import HttpDeliverer
from broker.server.kinesis import KinesisActions
from broker.server.metrics import Metrics
from broker.server.sigv4 import Verifier
from broker.server.sns import SnsActions
from broker.server.sqs import SqsActions

#: after answering early (413, 408), how long unread request bytes are drained before the
#: connection closes (so the client sees the answer rather than a reset)
LINGERING_S = 1.0
#: longest request line plus headers (a SigV4-signed request needs a few KiB)
MAX_HEAD_BYTES = 16 * 1024
#: how long close() lets in-flight requests (long polls included) finish
SHUTDOWN_GRACE_S = 25.0


def sqs_service(actions: SqsActions, session: botocore.session.Session) -> Service:
    return Service(
        name="sqs",
        codec=ServiceCodec(session.get_service_model("sqs")),
        call=actions.handle,
        json_error_prefix="com.amazonaws.sqs",
        query_compatible=True,
        queue_url_from_path=True,
    )


def sns_service(actions: SnsActions, session: botocore.session.Session) -> Service:
    return Service(
        name="sns",
        codec=ServiceCodec(session.get_service_model("sns")),
        call=actions.handle,
        classic_codes=False,
    )


def kinesis_service(actions: KinesisActions, session: botocore.session.Session) -> Service:
    return Service(
        name="kinesis",
        codec=ServiceCodec(session.get_service_model("kinesis")),
        call=actions.handle,
        classic_codes=False,
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
        self.http = HttpServer(
            self._route, max_body_bytes=settings.max_body_bytes,
            max_connections=settings.max_connections,
            header_timeout_s=settings.header_timeout_s, lingering_s=LINGERING_S,
            max_head_bytes=MAX_HEAD_BYTES)
        """The HTTP/1.1 layer: connections, limits and the watchdog."""
        session = botocore.session.get_session()
        self.access_log = AccessLog()
        self.sqs = SqsActions(engine)
        self.sns = SnsActions(engine)
        self.kinesis = KinesisActions(engine)
        self.gateway = Gateway(
            [sqs_service(self.sqs, session), sns_service(self.sns, session),
             kinesis_service(self.kinesis, session)],
            default_account=settings.account_id,
            verifier=Verifier(self.credentials) if self.credentials else None,
            metrics=self.metrics,
            max_body_bytes=settings.max_body_bytes,
            body_timeout_s=settings.header_timeout_s,
            access_log=self.access_log,
        )
        self.housekeeper = Housekeeper(engine, self.accounts)
        self.dispatcher = TopicDispatcher(engine, self.accounts)
        self.http_deliverer = HttpDeliverer(engine, self.accounts)
        engine.topic_admin.auto_confirm = settings.sns_auto_confirm
        self._server: asyncio.Server | None = None
        self._pages: dict[str, Callable[[Request], Awaitable[web.Response]]] = {
            "/healthz": self._healthz, "/readyz": self._readyz, "/metrics": self._metrics}
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

    async def _route(self, request: Request) -> web.StreamResponse:
        if request.method == "GET":
            page = self._pages.get(request.path)
            if page is not None:
                return await page(request)
            if request.path.startswith("/SimpleNotificationService-"):
                return await self._signing_cert(request)
        return await self.gateway.handle(request)

    async def _signing_cert(self, request: Request) -> web.Response:
        """The certificate that verifies SNS message signatures (``SigningCertURL``)."""
        signer = self.engine.topics.signer
        await signer.ready()
        if request.path != f"/SimpleNotificationService-{signer.cert_id}.pem":
            return web.Response(status=404, text="Not Found")
        return web.Response(body=signer.cert_pem, content_type="application/x-pem-file")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.http, self.settings.host, self.settings.port, reuse_address=True,
            backlog=1024)
        sock: socket.socket = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        if self.engine.identity.endpoint_url == Identity().endpoint_url:
            self.engine.topic_admin.public_url = self.url.replace("://0.0.0.0:", "://localhost:")
        self.http.start()
        self.housekeeper.start()
        self.dispatcher.start()
        self.http_deliverer.start()

    async def close(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded), release everything."""
        await self.housekeeper.close()
        await self.dispatcher.close()
        await self.http_deliverer.close()
        if self._server is not None:
            self._server.close()
        await self.http.shutdown(SHUTDOWN_GRACE_S)  # idle keep-alive connections at once
        await self.sqs.sends.close()
        self.access_log.flush()
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

    async def _healthz(self, request: Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: Request) -> web.Response:
        if await self.engine.ping():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="redis unreachable or functions not loaded\n")

    async def _metrics(self, request: Request) -> web.Response:
        d = self.http_deliverer
        self.metrics.deliveries(d.delivered, d.failed, d.dead_lettered)
        try:
            await self.metrics.refresh_queues(self.engine, self.accounts)
        except Exception:  # Redis down: still serve the request counters
            logging.getLogger(__name__).warning("queue metrics unavailable", exc_info=True)
        return web.Response(body=self.metrics.render(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
