"""Trace propagation: W3C ``traceparent`` (a message attribute) and ``AWSTraceHeader``
(an SQS system attribute), carried from the producer through SNS and SQS into the
handler. With OpenTelemetry installed, each handler call is a CONSUMER span whose parent
is the producer's.

Producer side::

    await queue.send(body, attributes=tracing.message_attributes(),
                     trace_header=tracing.aws_trace_header())

Handler side: ``tracing.current_trace()`` is the trace the message came with (a new one
when it came with none).
"""

from __future__ import annotations

import contextvars
import importlib
import random
import re
from dataclasses import dataclass
from typing import Any

from broker.sdk import Message
from workers.middleware import HandlerContext, SyncMiddleware
from workers.notification import Notification

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_AWS = re.compile(r"Root=1-([0-9a-f]{8})-([0-9a-f]{24})(?:;Parent=([0-9a-f]{16}))?"
                  r"(?:;Sampled=([01]))?")


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    """32 hex digits."""
    parent_id: str
    """16 hex digits: the span that sent the message."""
    sampled: bool = True

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{'01' if self.sampled else '00'}"

    @property
    def aws_trace_header(self) -> str:
        t = self.trace_id
        return f"Root=1-{t[:8]}-{t[8:]};Parent={self.parent_id};Sampled={int(self.sampled)}"

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, _span_id(), self.sampled)

    @classmethod
    def new(cls) -> TraceContext:
        return cls(f"{_ids.getrandbits(128):032x}", _span_id())

    @classmethod
    def parse(cls, traceparent: str | None = None, aws: str | None = None
              ) -> TraceContext | None:
        m = _TRACEPARENT.match(traceparent.strip().lower()) if traceparent else None
        if m and set(m.group(1)) != {"0"} and set(m.group(2)) != {"0"}:
            return cls(m.group(1), m.group(2), m.group(3) == "01")
        if aws and (a := _AWS.search(aws)):
            return cls(a.group(1) + a.group(2), a.group(3) or _span_id(),
                       a.group(4) != "0")
        return None


#: ids need to be unique, not secret (as OpenTelemetry's own generator): a PRNG seeded
#: from the OS is much cheaper than os.urandom per message
_ids = random.Random()


def _span_id() -> str:
    return f"{_ids.getrandbits(64) or 1:016x}"


_current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "workers_trace", default=None)
_in_handler: contextvars.ContextVar[bool] = contextvars.ContextVar("workers_in_handler",
                                                                   default=False)


def current_trace() -> TraceContext | None:
    """The trace of the message being handled: the one it came with (a child span of
    it), or a new one if it came without (made on first use); None outside handlers."""
    cur = _current.get()
    if cur is None and _in_handler.get():
        cur = TraceContext.new()
        _current.set(cur)
    return cur


def outgoing() -> TraceContext:
    """The context to send with a message: a child of the current trace, or a new one."""
    cur = current_trace()
    return cur.child() if cur else TraceContext.new()


def message_attributes(**extra: Any) -> dict[str, Any]:
    """Message attributes carrying ``traceparent`` (plus ``extra``), for ``send`` or
    ``publish``."""
    return {"traceparent": outgoing().traceparent, **extra}


def aws_trace_header() -> str:
    return outgoing().aws_trace_header


def extract(item: Any) -> TraceContext | None:
    """The trace a message or notification came with (stream records carry none)."""
    if isinstance(item, Message):
        return _from_message(item)
    if isinstance(item, Notification):
        tp = item.attributes.get("traceparent")
        found = TraceContext.parse(tp) if tp else None
        if found is None and item.queue_message is not None:
            found = _from_message(item.queue_message)
        return found
    return None


def _from_message(m: Message) -> TraceContext | None:
    tp = m.message_attributes.get("traceparent")
    aws = m.attributes.get("AWSTraceHeader")
    if tp is None and aws is None:
        return None
    return TraceContext.parse(tp.get("StringValue") if tp else None, aws)


class Tracing(SyncMiddleware):
    """Sets ``current_trace()`` for the handler; with OpenTelemetry installed, wraps the
    call in a CONSUMER span parented on the producer's context."""

    def __init__(self) -> None:
        try:  # optional: imported by name, so nothing depends on it being installed
            otel_context = importlib.import_module("opentelemetry.context")
            propagate = importlib.import_module("opentelemetry.propagate")
            otel_trace = importlib.import_module("opentelemetry.trace")
        except ImportError:
            self._otel: Any = None
        else:
            self._otel = (otel_context, propagate, otel_trace,
                          otel_trace.get_tracer("redcurrent.workers"))

    def before_now(self, ctx: HandlerContext) -> None:
        found = extract(ctx.items[0]) if ctx.items else None
        # without a trace in the message, a new one is made only if the handler asks
        ctx.state["trace_token"] = _current.set(found.child() if found else None)
        ctx.state["handler_token"] = _in_handler.set(True)
        if self._otel is not None:
            otel_context, propagate, otel_trace, tracer = self._otel
            parent = propagate.extract({"traceparent": found.traceparent} if found else {})
            span = tracer.start_span(f"process {ctx.source}", context=parent,
                                     kind=otel_trace.SpanKind.CONSUMER,
                                     attributes={"messaging.batch.message_count":
                                                 len(ctx.items)})
            token = otel_context.attach(otel_trace.set_span_in_context(span))
            ctx.state["otel"] = (span, token)

    def _end(self, ctx: HandlerContext, exc: BaseException | None) -> None:
        if "otel" in ctx.state:
            otel_context, _, otel_trace, _ = self._otel
            span, token = ctx.state.pop("otel")
            if exc is not None:
                span.record_exception(exc)
                span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR))
            span.end()
            otel_context.detach(token)
        token = ctx.state.pop("trace_token", None)
        if token is not None:
            _current.reset(token)
        flag = ctx.state.pop("handler_token", None)
        if flag is not None:
            _in_handler.reset(flag)

    def after_now(self, ctx: HandlerContext) -> None:
        self._end(ctx, None)

    def error_now(self, ctx: HandlerContext, exc: BaseException) -> None:
        self._end(ctx, exc)
