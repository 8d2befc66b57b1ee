"""A stream workload's consumer group on the in-process SDK: ``consumers`` KCL-style
workers (``workers.kcl.StreamConsumer``) of one application sharing the shards through
leases, checkpointing every ``checkpoint_every`` records and at shutdown."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from broker.engine.stream_types import Record
from loadtest.payload import decode
from loadtest.recorder import Recorder
from workers.kcl import ConsumerConfig, RecordProcessor, StreamConsumer
from workers.kcl.checkpointer import Checkpointer

if TYPE_CHECKING:
    from loadtest.runner import Run


class _Processor(RecordProcessor):
    def __init__(self, run_id: str, rec: Recorder, every: int) -> None:
        self._run_id = run_id
        self._rec = rec
        self._every = every
        self._since = 0

    async def process_records(self, records: list[Record], checkpointer: Checkpointer,
                              millis_behind_latest: int) -> None:
        now = time.perf_counter_ns()
        for r in records:
            stamp = decode(self._run_id, r.data)
            if stamp is not None:
                self._rec.delivered(0, stamp, now)
        self._since += len(records)
        if self._since >= self._every:
            await checkpointer.checkpoint()
            self._since = 0

    async def shard_ended(self, checkpointer: Checkpointer) -> None:
        await checkpointer.checkpoint()

    async def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        await checkpointer.checkpoint()


def start_group(run: Run, rec: Recorder, group: asyncio.TaskGroup,
                stop: asyncio.Event) -> None:
    from loadtest.target_sdk import SdkTarget

    target = run.target
    assert isinstance(target, SdkTarget)
    config = ConsumerConfig(failover_s=10.0, shutdown_timeout_s=5.0)
    workers = [StreamConsumer(target.client, run.stream_name(), f"lt-{run.run_id}",
                              lambda: _Processor(run.run_id, rec, run.wl.checkpoint_every),
                              worker_id=f"lt-{run.run_id}-{i}", config=config)
               for i in range(run.wl.consumers)]

    async def stopper() -> None:
        await stop.wait()
        for w in workers:
            w.stop()

    for w in workers:
        group.create_task(w.run())
    group.create_task(stopper())
