"""Prometheus metrics of a worker process, as middleware (one registry per worker)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from workers.middleware import HandlerContext, Middleware


class Metrics(Middleware):
    """processed, failed, retried (receives after the first), handler duration,
    messages in flight, and messages waiting in each queue."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        labels = ["handler", "source"]
        self._processed = Counter("workers_messages_processed",
                                  "Messages (or stream records) handled successfully",
                                  labels, registry=registry)
        self._failed = Counter("workers_messages_failed", "Messages whose handler raised",
                               labels, registry=registry)
        self._retried = Counter("workers_messages_retried",
                                "Handler runs on a message received before",
                                labels, registry=registry)
        self._duration = Histogram("workers_handler_duration_seconds",
                                   "Handler run time", labels, registry=registry)
        self._in_flight = Gauge("workers_messages_in_flight",
                                "Messages being handled now", labels, registry=registry)
        self._waiting = Gauge("workers_messages_waiting",
                              "Visible messages in the queue (ApproximateNumberOfMessages)",
                              ["queue"], registry=registry)

    async def before(self, ctx: HandlerContext) -> None:
        self._in_flight.labels(ctx.handler, ctx.source).inc(len(ctx.items))
        if ctx.attempt > 1:
            self._retried.labels(ctx.handler, ctx.source).inc(len(ctx.items))

    def _done(self, ctx: HandlerContext) -> None:
        self._in_flight.labels(ctx.handler, ctx.source).dec(len(ctx.items))
        self._duration.labels(ctx.handler, ctx.source).observe(
            time.perf_counter() - ctx.started)

    async def after(self, ctx: HandlerContext) -> None:
        self._done(ctx)
        self._processed.labels(ctx.handler, ctx.source).inc(len(ctx.items))

    async def error(self, ctx: HandlerContext, exc: BaseException) -> None:
        self._done(ctx)
        self._failed.labels(ctx.handler, ctx.source).inc(len(ctx.items))

    def waiting(self, queue: str, n: int) -> None:
        self._waiting.labels(queue).set(n)
