"""Prometheus metrics of one worker, in a registry the caller owns (none is global)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry, application: str, worker: str) -> None:
        self.registry = registry
        self._app = application
        self._worker = worker
        self._leases = Gauge("redcurrent_kcl_leases_held", "Shard leases this worker holds",
                             ["application", "worker"], registry=registry)
        self._behind = Gauge("redcurrent_kcl_millis_behind_latest",
                             "How far the last batch read was behind the shard's tip (ms)",
                             ["application", "shard"], registry=registry)
        self._records = Counter("redcurrent_kcl_records_processed",
                                "Records given to record processors",
                                ["application", "shard"], registry=registry)
        self._checkpoints = Counter("redcurrent_kcl_checkpoints", "Checkpoints written",
                                    ["application"], registry=registry)
        self._checkpoint_failures = Counter(
            "redcurrent_kcl_checkpoint_failures",
            "Checkpoints refused because the worker no longer held the lease",
            ["application"], registry=registry)
        self._processor_errors = Counter(
            "redcurrent_kcl_processor_errors",
            "Exceptions raised by record processors (the batch is retried)",
            ["application"], registry=registry)

    def leases_held(self, n: int) -> None:
        self._leases.labels(self._app, self._worker).set(n)

    def batch(self, shard_id: str, records: int, millis_behind_latest: int) -> None:
        self._behind.labels(self._app, shard_id).set(millis_behind_latest)
        if records:
            self._records.labels(self._app, shard_id).inc(records)

    def shard_gone(self, shard_id: str) -> None:
        """The worker stopped processing the shard: drop its lag gauge."""
        with contextlib.suppress(KeyError):
            self._behind.remove(self._app, shard_id)

    def checkpoint(self) -> None:
        self._checkpoints.labels(self._app).inc()

    def checkpoint_failed(self) -> None:
        self._checkpoint_failures.labels(self._app).inc()

    def processor_error(self) -> None:
        self._processor_errors.labels(self._app).inc()
