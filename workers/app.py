"""The app object: handlers registered by decorators. Nothing runs at import or at
registration; ``workers run module:app`` (or ``Worker(app).run()``) runs them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from workers.kcl.config import ConsumerConfig
from workers.middleware import Middleware
from workers.retry import RetryPolicy

F = TypeVar("F", bound=Callable[..., Any])

#: the default concurrency of a queue handler
CONCURRENCY = 10


@dataclass(frozen=True, slots=True)
class QueueHandler:
    func: Callable[..., Any]
    queue: str
    concurrency: int = CONCURRENCY
    batch_size: int | None = None
    """None: the handler gets one message; N (1-10): a list of up to N messages, and
    returns None (all done) or the messages (or ids) that failed."""
    visibility_timeout_s: int | None = None
    """None: the queue's VisibilityTimeout. The worker extends it while the handler runs."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    idempotency_key: Callable[[Any], str] | None = None
    """Skip a message whose key was processed within ``idempotency_ttl_s``."""
    idempotency_ttl_s: int = 86_400
    topic: TopicBinding | None = None
    """Set for ``@app.topic`` handlers: the queue is subscribed to the topic."""
    create: bool = False
    """Create the queue (with default attributes) when it is missing."""

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def source(self) -> str:
        return f"topic:{self.topic.topic}" if self.topic else f"queue:{self.queue}"


@dataclass(frozen=True, slots=True)
class TopicBinding:
    topic: str
    filter_policy: Mapping[str, Any] | None = None
    filter_scope: str | None = None
    raw: bool = False


@dataclass(frozen=True, slots=True)
class StreamHandler:
    func: Callable[..., Any]
    stream: str
    application: str
    batch: bool = False
    """False: the handler gets one record at a time; True: each batch as a list."""
    config: ConsumerConfig = field(default_factory=ConsumerConfig)

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def source(self) -> str:
        return f"stream:{self.stream}"


Handler = QueueHandler | StreamHandler


class App:
    """``app = App("redis://localhost:6379")``, then decorate handlers::

        @app.queue("orders", concurrency=20)
        async def handle(message): ...

    ``url`` may be left out and given to ``workers run --url`` (or ``BROKER_REDIS_URL``).
    """

    def __init__(self, url: str | None = None, *, name: str = "workers",
                 middleware: Sequence[Middleware] = ()) -> None:
        self.url = url
        self.name = name
        self.middleware: list[Middleware] = list(middleware)
        self.handlers: list[Handler] = []

    def add_middleware(self, middleware: Middleware) -> None:
        self.middleware.append(middleware)

    def queue(self, queue: str, *, concurrency: int = CONCURRENCY,
              batch_size: int | None = None, visibility_timeout: int | None = None,
              retry: RetryPolicy | None = None, idempotent: bool = False,
              idempotency_key: Callable[[Any], str] | None = None,
              idempotency_ttl_s: int = 86_400, create: bool = False) -> Callable[[F], F]:
        """Handle the messages of a queue (``create=True``: created when missing).
        ``idempotent=True`` skips messages already processed (by message id;
        ``idempotency_key`` picks another key)."""
        def register(func: F) -> F:
            key = idempotency_key or ((lambda m: m.id) if idempotent else None)
            self._add(QueueHandler(func, queue, concurrency, batch_size, visibility_timeout,
                                   retry or RetryPolicy(), key, idempotency_ttl_s,
                                   create=create))
            return func
        return register

    def topic(self, topic: str, *, queue: str | None = None,
              filter_policy: Mapping[str, Any] | None = None,
              filter_scope: str | None = None, raw: bool = False,
              concurrency: int = CONCURRENCY, visibility_timeout: int | None = None,
              retry: RetryPolicy | None = None) -> Callable[[F], F]:
        """Handle a topic's notifications through a queue subscribed to it (the topic,
        the queue ``<app name>-<topic>`` unless given, and the subscription are created
        when missing). The handler gets a ``Notification``."""
        def register(func: F) -> F:
            name = queue or f"{self.name}-{topic}"  # "x.fifo" gives a FIFO queue name
            self._add(QueueHandler(func, name, concurrency, None, visibility_timeout,
                                   retry or RetryPolicy(),
                                   topic=TopicBinding(topic, filter_policy, filter_scope, raw)))
            return func
        return register

    def stream(self, stream: str, *, application: str, batch: bool = False,
               config: ConsumerConfig | None = None) -> Callable[[F], F]:
        """Handle a stream's records with the KCL-style consumer (``workers.kcl``): the
        workers of one application share the shards; a batch is checkpointed once the
        handler returned for it."""
        def register(func: F) -> F:
            self._add(StreamHandler(func, stream, application, batch,
                                    config or ConsumerConfig()))
            return func
        return register

    def _add(self, handler: Handler) -> None:
        problems = check_handler(handler)
        if problems:
            raise ValueError(f"{handler.name}: " + "; ".join(problems))
        self.handlers.append(handler)


def check_handler(h: Handler) -> list[str]:
    """What is wrong with a handler's registration (empty when nothing)."""
    out = []
    if not callable(h.func):
        out.append("the handler is not callable")
    elif len(inspect.signature(h.func).parameters) != 1:
        out.append("a handler takes exactly one argument (the message, list or record)")
    if isinstance(h, QueueHandler):
        if h.concurrency < 1:
            out.append("concurrency must be >= 1")
        if h.batch_size is not None and not 1 <= h.batch_size <= 10:
            out.append("batch_size must be 1-10 (SQS receives at most 10)")
        if h.visibility_timeout_s is not None and not 1 <= h.visibility_timeout_s <= 43_200:
            out.append("visibility_timeout must be 1-43,200 seconds")
        if h.queue.endswith(".fifo") and h.batch_size is not None:
            out.append("FIFO handlers take one message at a time (per-group order)")
    return out
