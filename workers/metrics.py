"""Prometheus metrics of a worker process, as middleware (one registry per worker)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from workers.middleware import HandlerContext, SyncMiddleware


@dataclass(frozen=True, slots=True)
class _Children:
    processed: Any
    failed: Any
    retried: Any
    duration: Any
    in_flight: Any


class Metrics(SyncMiddleware):
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
        self._children: dict[tuple[str, str], _Children] = {}
        self._running: dict[tuple[str, str], int] = {}
        self._waiting = Gauge("workers_messages_waiting",
                              "Visible messages in the queue (ApproximateNumberOfMessages)",
                              ["queue"], registry=registry)

    def _of(self, ctx: HandlerContext) -> _Children:
        key = (ctx.handler, ctx.source)
        found = self._children.get(key)
        if found is None:  # labels() costs more than the rest of a call: once per handler
            found = self._children[key] = _Children(
                *(m.labels(*key) for m in (self._processed, self._failed, self._retried,
                                           self._duration, self._in_flight)))
            self._running[key] = 0
            # read at scrape time: a plain int per call instead of two gauge updates
            found.in_flight.set_function(lambda: self._running[key])
        return found

    def before_now(self, ctx: HandlerContext) -> None:
        c = self._of(ctx)
        self._running[(ctx.handler, ctx.source)] += len(ctx.items)
        if ctx.attempt > 1:
            c.retried.inc(len(ctx.items))

    def _done(self, ctx: HandlerContext) -> _Children:
        c = self._of(ctx)
        self._running[(ctx.handler, ctx.source)] -= len(ctx.items)
        c.duration.observe(time.perf_counter() - ctx.started)
        return c

    def after_now(self, ctx: HandlerContext) -> None:
        self._done(ctx).processed.inc(len(ctx.items))

    def error_now(self, ctx: HandlerContext, exc: BaseException) -> None:
        self._done(ctx).failed.inc(len(ctx.items))

    def waiting(self, queue: str, n: int) -> None:
        self._waiting.labels(queue).set(n)
