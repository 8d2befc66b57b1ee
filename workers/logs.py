"""Structured logging: one JSON line per handler call (logger ``workers.handled``)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from workers.middleware import HandlerContext, SyncMiddleware
from workers.tracing import current_trace

log = logging.getLogger("workers.handled")


def _ids(ctx: HandlerContext) -> list[str]:
    out = []
    for item in ctx.items:
        qm = getattr(item, "queue_message", None)
        out.append(str(getattr(item, "id", None) or getattr(qm, "id", None)
                       or getattr(item, "sequence_number", "")))
    return out


class StructuredLogging(SyncMiddleware):
    def _line(self, ctx: HandlerContext, status: str, **extra: Any) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        trace = current_trace()
        log.info(json.dumps({
            "event": "handled", "status": status, "handler": ctx.handler,
            "source": ctx.source, "ids": _ids(ctx), "attempt": ctx.attempt,
            "ms": round((time.perf_counter() - ctx.started) * 1000, 3),
            "traceparent": trace.traceparent if trace else None, **extra}))

    def after_now(self, ctx: HandlerContext) -> None:
        self._line(ctx, "ok")

    def error_now(self, ctx: HandlerContext, exc: BaseException) -> None:
        self._line(ctx, "failed", error=repr(exc))
