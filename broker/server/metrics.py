"""Prometheus metrics of one server: request counts and latencies, and per-queue depth.

Each server owns its own ``CollectorRegistry`` (no process-global metrics), so tests and
embedded servers never collide. Queue gauges are refreshed from the engine when
``/metrics`` is scraped, bounded to ``MAX_QUEUES_SCRAPED`` queues per account.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from broker.engine import Engine

#: most queues whose depth one scrape reports (per account)
MAX_QUEUES_SCRAPED = 1000
#: requests counted before they are moved into the Prometheus metrics unasked
FLUSH_EVERY = 10_000
#: request latency buckets, seconds (long polls land in the last ones)
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0, 20.0)


class Metrics:
    def __init__(self) -> None:
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._samples: dict[tuple[str, str, str], list[float]] = {}
        self._unflushed = 0
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "redcurrent_requests", "AWS API requests handled, by outcome.",
            ["service", "action", "code"], registry=self.registry)
        self.latency = Histogram(
            "redcurrent_request_seconds", "Time to answer an AWS API request.",
            ["service", "action"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        labels = ["account", "queue"]
        self.visible = Gauge("redcurrent_queue_visible_messages",
                             "Messages available for receive.", labels, registry=self.registry)
        self.in_flight = Gauge("redcurrent_queue_in_flight_messages",
                               "Messages received and not yet deleted or visible again.",
                               labels, registry=self.registry)
        self.delayed = Gauge("redcurrent_queue_delayed_messages",
                             "Messages not yet visible because of a delay.", labels,
                             registry=self.registry)
        self.oldest_age = Gauge("redcurrent_queue_oldest_message_age_seconds",
                                "Age of the oldest message stored in the queue.", labels,
                                registry=self.registry)
        self.http_deliveries = Gauge(
            "redcurrent_topic_http_deliveries",
            "HTTP/S topic deliveries by this server since it started, by outcome "
            "(delivered, failed attempt, dead-lettered after the retries).", ["outcome"],
            registry=self.registry)
        self.dlq_sources = Gauge("redcurrent_queue_dead_letter_sources",
                                 "Queues that use this queue as their dead-letter queue "
                                 "(its depth is the DLQ depth).", labels,
                                 registry=self.registry)

    def deliveries(self, delivered: int, failed: int, dead_lettered: int) -> None:
        """The HTTP/S deliverer's counts, copied at scrape time."""
        for outcome, n in (("delivered", delivered), ("failed", failed),
                           ("dead_lettered", dead_lettered)):
            self.http_deliveries.labels(outcome).set(n)

    def observe(self, service: str, action: str, code: str, seconds: float) -> None:
        """Count one request. Kept in a plain list until the next scrape (or every
        ``FLUSH_EVERY`` requests): the Prometheus objects take locks on every update."""
        key = (service, action, code)
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = []
        samples.append(seconds)
        self._unflushed += 1
        if self._unflushed >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Move the requests counted since the last flush into the Prometheus metrics."""
        for key, samples in self._samples.items():
            if not samples:
                continue
            children = self._children.get(key)
            if children is None:
                service, action, code = key
                children = self._children[key] = (
                    self.requests.labels(service, action, code),
                    self.latency.labels(service, action))
            children[0].inc(len(samples))
            for seconds in samples:
                children[1].observe(seconds)
            samples.clear()
        self._unflushed = 0

    async def refresh_queues(self, engine: Engine, accounts: list[str]) -> None:
        """Read every queue's depth into the gauges (stale queues are dropped)."""
        for gauge in (self.visible, self.in_flight, self.delayed, self.oldest_age,
                      self.dlq_sources):
            gauge.clear()
        for account in accounts:
            names, _ = await engine.admin.list_queues(account, max_results=MAX_QUEUES_SCRAPED)
            for name in names:
                try:
                    state = await engine.admin.queue_metrics(account, name)
                except Exception:  # deleted between list and read: skip it
                    continue
                self.visible.labels(account, name).set(state.visible)
                self.in_flight.labels(account, name).set(state.in_flight)
                self.delayed.labels(account, name).set(state.delayed)
                self.oldest_age.labels(account, name).set(state.oldest_age_s)
                self.dlq_sources.labels(account, name).set(state.dead_letter_sources)

    def render(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)
