"""The stream consumer: one worker of a consumer application (KCL's Scheduler).

Every cycle (``failover / 3`` by default) the worker

1. renews the leases it holds (one call; a refused renewal means the lease is lost and
   its processing stops at once), which also marks the worker live;
2. reads the lease table (with Redis's time: expiry never trusts a worker's clock);
3. adopts leases handed over to it, syncs shards when due, and takes or steals toward
   ``ceil(leases / live workers)`` (``balancing.plan``).

``stop()`` (or SIGTERM/SIGINT with ``handle_signals=True``) is graceful: the worker leaves
the registry, each record processor gets ``shutdown_requested`` to checkpoint, and the
leases are released, so other workers take them at their next cycle instead of waiting
for the failover time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from broker import errors
from broker.engine.leases import Lease, LeaseTableState
from broker.sdk import Client
from workers.kcl import balancing
from workers.kcl.config import PUSH, ConsumerConfig
from workers.kcl.metrics import ConsumerMetrics
from workers.kcl.processor import RecordProcessor
from workers.kcl.shard_sync import forgettable, new_leases
from workers.kcl.shard_worker import HANDOFF, SHUTDOWN, Services, ShardWorker

log = logging.getLogger("workers.kcl")


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StreamConsumer:
    """``await StreamConsumer(client, "clicks", "billing", MyProcessor).run()``.

    ``client`` must be an in-process client (``redis://``...): the lease table lives in
    its Redis. ``processor_factory`` makes one ``RecordProcessor`` per shard lease.
    """

    def __init__(self, client: Client, stream: str, application: str,
                 processor_factory: Callable[[], RecordProcessor], *,
                 worker_id: str | None = None, config: ConsumerConfig | None = None,
                 registry: CollectorRegistry | None = None) -> None:
        self.config = config or ConsumerConfig()
        self.worker_id = worker_id or default_worker_id()
        self.application = application
        self._client = client
        self._stream = client.stream(stream)
        self._table = client.lease_table(application, self._stream)
        self._factory = processor_factory
        self.metrics = ConsumerMetrics(registry or CollectorRegistry(), application,
                                       self.worker_id)
        self._shards: dict[str, ShardWorker] = {}
        self._ran: dict[str, int] = {}
        """shard id -> the token of the last acquisition this worker ran"""
        self._losing: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._services: Services | None = None
        self._next_sync = 0.0
        self._sync_now = False
        self.cycles = 0
        """Completed cycles (renew, read, take)."""
        self.state: LeaseTableState | None = None
        """The lease table as last read."""

    @property
    def held(self) -> list[str]:
        """Shard ids whose leases this worker holds."""
        return sorted(self._shards)

    def stop(self) -> None:
        """Ask ``run()`` to shut down gracefully."""
        self._stop.set()

    async def run(self, *, handle_signals: bool = False) -> None:
        """Work until ``stop()``; then shut down gracefully and return."""
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._signalled)
        try:
            arn = await self._ensure_consumer() if self.config.retrieval == PUSH else None
            self._services = Services(self._table, self._stream, self.worker_id,
                                      self.config, self.metrics, self._factory, arn,
                                      self._shard_done)
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    await self._cycle()
                    self.cycles += 1
                except Exception:
                    # Redis unreachable, a failover...: leases not renewed in time are
                    # lost and their shards stop (``ShardWorker._until_valid``)
                    log.exception("worker %s: cycle failed; retrying", self.worker_id)
                pause = self.config.renew_s - (time.monotonic() - started)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), max(pause, 0.0))
        finally:
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
            await self._shutdown()

    def _signalled(self) -> None:
        if self._stop.is_set():
            os._exit(1)  # a second signal: exit at once
        log.info("worker %s: shutting down gracefully", self.worker_id)
        self.stop()

    async def _ensure_consumer(self) -> str:
        """The application's enhanced fan-out consumer (registered when missing)."""
        for _ in range(3):
            for c in await self._stream.consumers():
                if c.name == self.application:
                    return c.arn
            with contextlib.suppress(errors.ResourceInUseException):
                return (await self._stream.register_consumer(self.application)).arn
        raise RuntimeError(f"could not register the consumer {self.application!r}")

    # -- one cycle -------------------------------------------------------------------------

    async def _renew(self, live: bool = True) -> None:
        """Renew every lease held; stop the shards whose lease is lost."""
        cfg = self.config
        sent = time.monotonic()
        held = list(self._shards.values())
        renewals = await self._table.renew(
            self.worker_id, [(w.shard_id, w.token, w.counter) for w in held],
            cfg.failover_ms * 3, live)
        for w, r in zip(held, renewals, strict=True):
            if r.lost:
                if not w.done:
                    log.warning("worker %s lost the lease of shard %s", self.worker_id,
                                w.shard_id)
                    # stopped off this loop: the other leases' renewals must not wait
                    task = asyncio.create_task(w.lease_lost())
                    self._losing.add(task)
                    task.add_done_callback(self._losing.discard)
                if self._shards.get(w.shard_id) is w:
                    del self._shards[w.shard_id]
                continue
            w.renewed(r.counter, sent + cfg.failover_s)
            if r.handoff_to and w.stop_reason is None:
                log.info("worker %s hands shard %s over to %s", self.worker_id, w.shard_id,
                         r.handoff_to)
                w.request_stop(HANDOFF)

    async def _cycle(self) -> None:
        cfg = self.config
        await self._renew()
        if self._sync_now or time.monotonic() >= self._next_sync:
            await self._sync(await self._table.read(cfg.failover_ms))
        read_at = time.monotonic()
        state = await self._table.read(cfg.failover_ms)
        self.state = state
        if self._stop.is_set():
            return
        for lease in state.leases.values():  # handed over to this worker
            if lease.owner == self.worker_id and not lease.finished \
                    and lease.shard_id not in self._shards \
                    and self._ran.get(lease.shard_id) != lease.token:
                # (a token this worker ran is one it has just given up: the read may
                # predate the release)
                age_s = (state.now_ms - lease.renewed_ms) / 1000
                self._start(lease, read_at + cfg.failover_s - age_s)
        plan = balancing.plan(state, self.worker_id, set(self._shards), cfg)
        wanted = plan.take + plan.steal
        if wanted:
            sent = time.monotonic()
            for lease in await self._table.take(self.worker_id, wanted):
                self._start(lease, sent + cfg.failover_s)
        for shard_id, owner in plan.handoff:
            await self._table.request_handoff(shard_id, owner, self.worker_id)
        self.metrics.leases_held(len(self._shards))

    async def _sync(self, state: LeaseTableState) -> bool:
        """Leases for new shards, forget trimmed finished ones; True if anything changed."""
        self._sync_now = False
        self._next_sync = time.monotonic() + self.config.shard_sync_interval_s
        try:
            shards = await self._stream.shards()
        except errors.ResourceNotFoundException:
            log.error("stream %s does not exist; retrying at the next shard sync",
                      self._stream.name)
            return False
        created = await self._table.create(
            new_leases(shards, state.leases, self.config.initial_position))
        dropped = await self._table.forget(forgettable(shards, state.leases))
        return bool(created or dropped)

    def _start(self, lease: Lease, valid_until: float) -> None:
        assert self._services is not None
        w = ShardWorker(self._services, lease, valid_until)
        self._shards[lease.shard_id] = w
        self._ran[lease.shard_id] = lease.token
        w.start()

    def _shard_done(self, w: ShardWorker) -> None:
        if self._shards.get(w.shard_id) is w:
            del self._shards[w.shard_id]
            self._sync_now = True  # a finished shard: its children's leases exist now
            self.metrics.leases_held(len(self._shards))

    # -- shutdown ----------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        workers = list(self._shards.values())
        try:
            await self._table.leave(self.worker_id)
        except Exception:
            log.exception("worker %s: could not leave the worker registry", self.worker_id)
        for w in workers:
            w.request_stop(SHUTDOWN)
        # the leases stay renewed while the processors checkpoint and release them
        renewer = asyncio.create_task(self._renew_until_released())
        waiting = asyncio.gather(*(w.wait() for w in workers))
        try:
            await asyncio.wait_for(waiting, self.config.shutdown_timeout_s + 1)
        except TimeoutError:
            log.warning("worker %s: some shards did not shut down in time; their leases "
                        "will expire", self.worker_id)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        for w in workers:
            await w.cancel()
        if self._losing:
            await asyncio.wait(set(self._losing))
        self._shards.clear()
        self.metrics.leases_held(0)

    async def _renew_until_released(self) -> None:
        while self._shards:
            await asyncio.sleep(self.config.renew_s)
            try:
                await self._renew(live=False)
            except Exception:
                log.exception("worker %s: renewal failed during shutdown", self.worker_id)
