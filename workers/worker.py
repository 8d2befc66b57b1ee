"""A worker process: runs every handler of an app until SIGTERM/SIGINT, then shuts down
gracefully (stop receiving, let running handlers finish within the grace period, make
unfinished messages visible at once, release stream leases)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from broker.sdk import Client
from workers.app import App, QueueHandler, StreamHandler
from workers.kcl import StreamConsumer
from workers.logs import StructuredLogging
from workers.metrics import Metrics
from workers.middleware import Chain
from workers.queue_runner import QueueRunner
from workers.stream_runner import stream_consumer
from workers.tracing import Tracing

log = logging.getLogger("workers")

#: how long running handlers may take to finish after SIGTERM
GRACE_S = 30.0


class Worker:
    def __init__(self, app: App, *, url: str | None = None, concurrency: int | None = None,
                 metrics_port: int | None = None, grace_s: float = GRACE_S,
                 worker_id: str | None = None) -> None:
        self.app = app
        found = url or app.url or os.environ.get("BROKER_REDIS_URL")
        if not found:
            raise ValueError("no Redis URL: give App(url), --url or BROKER_REDIS_URL")
        self.url: str = found
        self.concurrency = concurrency
        self.metrics_port = metrics_port
        self.grace_s = grace_s
        self.worker_id = worker_id or \
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.chain = Chain([Tracing(), self.metrics, StructuredLogging(), *app.middleware])
        self._stopping = asyncio.Event()
        self.metrics_url: str | None = None
        self.runners: list[QueueRunner] = []
        self.consumers: list[StreamConsumer] = []
        self.failed = False
        """A runner crashed: ``workers run`` exits 1."""

    def stop(self) -> None:
        self._stopping.set()

    def _runner_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("a queue runner crashed; the worker stops", exc_info=task.exception())
            self.failed = True
            self.stop()

    def _signalled(self) -> None:
        if self._stopping.is_set():
            log.warning("second signal: exiting at once")
            os._exit(1)
        log.info("worker %s: stopping (a second signal exits at once)", self.worker_id)
        self.stop()

    async def run(self, *, handle_signals: bool = True) -> None:
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._signalled)
        threads = sum(h.concurrency for h in self.app.handlers if isinstance(h, QueueHandler))
        pool = ThreadPoolExecutor(max_workers=max(4, min(threads, 64)),
                                  thread_name_prefix="workers")
        site: web.AppRunner | None = None
        try:
            async with Client(self.url) as client:
                site = await self._serve_metrics()
                self.runners = [QueueRunner(client, h, self.chain, self.worker_id, pool,
                                            self.concurrency, self.metrics.waiting)
                                for h in self.app.handlers if isinstance(h, QueueHandler)]
                for r in self.runners:
                    await r.prepare()
                self.consumers = [stream_consumer(client, h, self.chain, self.worker_id, pool,
                                                  self.registry)
                                  for h in self.app.handlers if isinstance(h, StreamHandler)]
                log.info("worker %s: %d queue handlers, %d stream handlers", self.worker_id,
                         len(self.runners), len(self.consumers))
                tasks = [asyncio.create_task(r.run(self._stopping)) for r in self.runners]
                for task in tasks:
                    task.add_done_callback(self._runner_ended)
                streams = [asyncio.create_task(c.run()) for c in self.consumers]
                try:
                    await self._stopping.wait()
                finally:
                    self._stopping.set()
                    for c in self.consumers:
                        c.stop()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    await asyncio.gather(*(r.drain(self.grace_s) for r in self.runners))
                    await asyncio.gather(*streams, return_exceptions=True)
        finally:
            if site is not None:
                await site.cleanup()
            pool.shutdown(wait=False, cancel_futures=True)
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
        log.info("worker %s: stopped", self.worker_id)

    async def _serve_metrics(self) -> web.AppRunner | None:
        if self.metrics_port is None:
            return None
        registry = self.registry

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(body=generate_latest(registry),
                                headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "0.0.0.0", self.metrics_port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # the port picked for 0
        port = sockets[0].getsockname()[1] if sockets else self.metrics_port
        self.metrics_url = f"http://127.0.0.1:{port}/metrics"
        log.info("metrics on %s", self.metrics_url)
        return runner
