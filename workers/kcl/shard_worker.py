"""One shard lease held by this worker: waits for the parents, then runs the record
processor through its lifecycle (KCL's ShardConsumer and its tasks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from broker.engine.leases import SHARD_END, Lease
from broker.sdk.leases import LeaseTable
from broker.sdk.stream import Stream
from workers.kcl.checkpointer import Checkpointer
from workers.kcl.config import PUSH, ConsumerConfig
from workers.kcl.errors import LeaseLostError
from workers.kcl.metrics import ConsumerMetrics
from workers.kcl.processor import RecordProcessor, ShardInfo
from workers.kcl.retrieval import Backoff, Batch, Start, polling, push
from workers.kcl.shard_sync import child_leases

log = logging.getLogger("workers.kcl")

SHUTDOWN = "shutdown"
HANDOFF = "handoff"


@dataclass(frozen=True, slots=True)
class Services:
    """What every shard worker of one consumer shares."""

    table: LeaseTable
    stream: Stream
    worker_id: str
    config: ConsumerConfig
    metrics: ConsumerMetrics
    processor_factory: Callable[[], RecordProcessor]
    consumer_arn: str | None
    on_done: Callable[[ShardWorker], None]


class ShardWorker:
    """Owns the task processing one shard. The consumer renews the lease and tells the
    worker when it is lost or must be given up (shutdown, handoff)."""

    def __init__(self, services: Services, lease: Lease, valid_until: float) -> None:
        self._s = services
        self.shard_id = lease.shard_id
        self.token = lease.token
        self.counter = lease.counter
        self._lease = lease
        self.valid_until = valid_until
        """Monotonic time until which no other worker can have taken the lease (the
        renewal was sent before Redis stamped it)."""
        self.stop_reason: str | None = None
        self._stop = asyncio.Event()
        self._renewed = asyncio.Event()
        self.lost = False
        self.processor: RecordProcessor | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"kcl-shard-{self.shard_id}")
        self._task.add_done_callback(lambda _: self._s.on_done(self))

    @property
    def done(self) -> bool:
        return self._task is None or self._task.done()

    def renewed(self, counter: int, valid_until: float) -> None:
        self.counter = counter
        self.valid_until = valid_until
        self._renewed.set()

    def request_stop(self, reason: str) -> None:
        """Finish the batch in hand, let the processor checkpoint, release the lease."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self._stop.set()

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.wait({self._task})

    async def _stop_task(self) -> None:
        """Cancel the task and wait for it (bounded: a processor that swallows its
        cancellation must not hold up the worker)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            _, late = await asyncio.wait({self._task},
                                         timeout=self._s.config.shutdown_timeout_s)
            if late:
                log.error("shard %s: the record processor ignores cancellation",
                          self.shard_id)

    async def lease_lost(self) -> None:
        """Another worker holds the lease now: stop at once, no checkpoint."""
        self.lost = True
        await self._stop_task()
        await self._tell_lost()

    async def cancel(self) -> None:
        """Stop without releasing (the lease expires): shutdown took too long."""
        await self._stop_task()

    # -- the task ------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            if not await self._wait_for_parents():
                await self._release()
                return
            await self._process_shard()
        except LeaseLostError:
            self.lost = True
            await self._tell_lost()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("shard %s: processing stopped; the lease is released", self.shard_id)
            await self._release()
        finally:
            self._s.metrics.shard_gone(self.shard_id)

    async def _tell_lost(self) -> None:
        processor, self.processor = self.processor, None
        if processor is None:
            return
        try:
            await asyncio.wait_for(processor.lease_lost(), self._s.config.shutdown_timeout_s)
        except Exception:
            log.exception("shard %s: lease_lost() raised", self.shard_id)

    async def _wait_for_parents(self) -> bool:
        """False when asked to stop first. A parent whose lease is gone does not block."""
        parents = self._lease.parents
        while parents:
            found = await self._s.table.get(parents)
            waiting = [p for p, lease in found.items() if not lease.finished]
            if not waiting:
                return True
            log.debug("shard %s waits for its parents %s", self.shard_id, waiting)
            if await self._stopped_within(self._s.config.parent_poll_s):
                return False
        return True

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    async def _process_shard(self) -> None:
        s, lease = self._s, self._lease
        processor = s.processor_factory()
        self.processor = processor
        checkpointer = Checkpointer(s.table, s.worker_id, self.shard_id, self.token,
                                    lease.checkpoint, self._checkpoint_refused,
                                    lambda _: s.metrics.checkpoint())
        await processor.initialize(ShardInfo(self.shard_id, lease.checkpoint,
                                             lease.pending or None, lease.parents))
        start = Start.after_checkpoint(lease.checkpoint, s.config.initial_timestamp)
        batches = push(s.stream, s.consumer_arn, self.shard_id, start, s.config) \
            if s.config.retrieval == PUSH and s.consumer_arn \
            else polling(s.stream, self.shard_id, start, s.config)
        try:
            while not self._stop.is_set():
                batch = await self._next(batches)
                if batch is None:
                    break
                if batch.records:
                    await self._deliver(processor, batch, checkpointer)
                s.metrics.batch(self.shard_id, len(batch.records), batch.millis_behind_latest)
                if batch.children is not None:
                    checkpointer.children = child_leases(batch.children)
                    if await self._shard_end(processor, checkpointer):
                        return
                    break
        finally:
            await batches.aclose()
        await self._shutdown_requested(processor, checkpointer)

    async def _next(self, batches: AsyncGenerator[Batch, None]) -> Batch | None:
        """The next batch, or None when a stop is requested first."""
        fetch = asyncio.ensure_future(anext(batches))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not fetch.done():  # stopped, or this task was cancelled (lease lost)
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await fetch
        if fetch.cancelled():
            return None
        try:
            return fetch.result()
        except StopAsyncIteration:
            return None

    async def _until_valid(self) -> None:
        """Never process on a lease another worker may already have taken."""
        while time.monotonic() > self.valid_until:
            self._renewed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._renewed.wait(), self._s.config.renew_s)

    async def _deliver(self, processor: RecordProcessor, batch: Batch,
                       checkpointer: Checkpointer) -> None:
        backoff = Backoff(self._s.config.retry_backoff_max_s)
        before = checkpointer.last_delivered
        while True:
            await self._until_valid()
            if self.lost:
                raise LeaseLostError(f"shard {self.shard_id}: the lease was lost")
            # the batch may be checkpointed while it is processed, and after; a batch that
            # failed never is (a shutdown's checkpoint stops before it)
            checkpointer.last_delivered = batch.records[-1].sequence_number
            try:
                await processor.process_records(batch.records, checkpointer,
                                                batch.millis_behind_latest)
                return
            except LeaseLostError:
                raise
            except Exception:
                checkpointer.last_delivered = before
                self._s.metrics.processor_error()
                log.exception("shard %s: process_records raised; the batch of %d records "
                              "is retried", self.shard_id, len(batch.records))
                if self._stop.is_set():
                    return
                await backoff.wait()

    async def _checkpoint_refused(self) -> None:
        self._s.metrics.checkpoint_failed()
        self.lost = True

    async def _shard_end(self, processor: RecordProcessor, checkpointer: Checkpointer
                         ) -> bool:
        """Call ``shard_ended`` until it checkpoints SHARD_END; True once it has and the
        lease is released (its children may start), False when asked to stop first."""
        children = [c.shard_id for c in checkpointer.children or ()]
        while True:
            try:
                await asyncio.wait_for(processor.shard_ended(checkpointer),
                                       self._s.config.shutdown_timeout_s)
            except LeaseLostError:
                raise
            except Exception:
                log.exception("shard %s: shard_ended raised", self.shard_id)
            if checkpointer.current == SHARD_END:
                self.processor = None
                await self._release()
                log.info("shard %s ended; its children %s may start", self.shard_id,
                         children)
                return True
            log.error("Application didn't checkpoint at end of shard %s: call `await "
                      "checkpointer.checkpoint()` in shard_ended(), or its child shards %s "
                      "never start. Calling shard_ended() again in %.0f s.",
                      self.shard_id, children, self._s.config.failover_s)
            if await self._stopped_within(self._s.config.failover_s):
                return False

    async def _shutdown_requested(self, processor: RecordProcessor,
                                  checkpointer: Checkpointer) -> None:
        if self.lost:
            raise LeaseLostError(f"shard {self.shard_id}: the lease was lost")
        try:
            await asyncio.wait_for(processor.shutdown_requested(checkpointer),
                                   self._s.config.shutdown_timeout_s)
        except LeaseLostError:
            raise
        except Exception:
            log.exception("shard %s: shutdown_requested raised", self.shard_id)
        self.processor = None
        await self._release()

    async def _release(self) -> None:
        to = await self._s.table.release(self._s.worker_id, self.shard_id, self.token,
                                         self._s.config.failover_ms)
        if to:
            log.info("shard %s handed over to %s", self.shard_id, to)
