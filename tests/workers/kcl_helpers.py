"""Shared pieces of the stream consumer tests: a recording processor and polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from broker.engine.stream_types import Record
from workers.kcl import Checkpointer, ConsumerConfig, RecordProcessor, ShardInfo

#: short timeouts: failover 1.5 s, so a cycle is 0.5 s
FAST = ConsumerConfig(failover_s=1.5, parent_poll_s=0.1, idle_poll_s=0.05,
                      shard_sync_interval_s=1.0, handoff_timeout_s=4.0,
                      retry_backoff_max_s=0.5, shutdown_timeout_s=3.0)


@dataclass
class Seen:
    """Everything processors of one test saw, in processing order."""

    records: list[tuple[str, str, Record]] = field(default_factory=list)
    """(worker, shard, record)"""
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(worker, shard, event)"""

    def data(self) -> list[bytes]:
        return [r.data for _, _, r in self.records]

    def by_shard(self, shard_id: str) -> list[str]:
        return [r.sequence_number for _, s, r in self.records if s == shard_id]


class Recorder(RecordProcessor):
    """Records what it is given and checkpoints after every batch."""

    def __init__(self, seen: Seen, worker: str, checkpoint: bool = True) -> None:
        self.seen = seen
        self.worker = worker
        self.shard = ""
        self.checkpoint = checkpoint

    async def initialize(self, shard: ShardInfo) -> None:
        self.shard = shard.shard_id
        self.seen.events.append((self.worker, self.shard, f"initialize {shard.starting_position}"))

    async def process_records(self, records: list[Record], checkpointer: Checkpointer,
                              millis_behind_latest: int) -> None:
        self.seen.records += [(self.worker, self.shard, r) for r in records]
        if self.checkpoint:
            await checkpointer.checkpoint()

    async def lease_lost(self) -> None:
        self.seen.events.append((self.worker, self.shard, "lease_lost"))

    async def shard_ended(self, checkpointer: Checkpointer) -> None:
        self.seen.events.append((self.worker, self.shard, "shard_ended"))
        await checkpointer.checkpoint()

    async def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        self.seen.events.append((self.worker, self.shard, "shutdown_requested"))
        await checkpointer.checkpoint()


def factory(seen: Seen, worker: str, **kwargs: bool) -> Callable[[], RecordProcessor]:
    return lambda: Recorder(seen, worker, **kwargs)


async def eventually(check: Callable[[], bool], within_s: float = 20.0,
                     what: str = "condition") -> float:
    """Poll ``check`` until it holds; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within_s:
            raise AssertionError(f"{what} did not hold within {within_s} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start
