"""The record processor: what an application writes (KCL's ShardRecordProcessor)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from broker.engine.stream_types import Record

if TYPE_CHECKING:
    from workers.kcl.checkpointer import Checkpointer


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """What ``initialize`` gets: the shard and where processing starts."""

    shard_id: str
    starting_position: str
    """The lease's checkpoint: a sequence number (processing resumes after it), or
    TRIM_HORIZON, LATEST or AT_TIMESTAMP."""
    pending_checkpoint: str | None = None
    """A checkpoint prepared but not committed by the previous owner, if any."""
    parents: tuple[str, ...] = ()


class RecordProcessor:
    """One instance per shard lease; subclass it and override what you need.

    Calls come one at a time, in this order: ``initialize``, ``process_records`` (many
    times), then one of ``shard_ended`` (the shard is closed and fully read: call
    ``await checkpointer.checkpoint()``, or its child shards never start),
    ``shutdown_requested`` (the worker stops, or hands the lease to another worker:
    checkpoint what you processed), or ``lease_lost`` (another worker has the shard now;
    checkpointing is no longer possible).
    """

    async def initialize(self, shard: ShardInfo) -> None:
        """Called before the first records of the shard."""

    async def process_records(self, records: list[Record], checkpointer: Checkpointer,
                              millis_behind_latest: int) -> None:
        """A batch of records in sequence order; checkpoint when it suits you. An
        exception makes the worker retry the same batch after a pause."""
        raise NotImplementedError

    async def lease_lost(self) -> None:
        """The lease is gone; clean up, do not checkpoint."""

    async def shard_ended(self, checkpointer: Checkpointer) -> None:
        """Every record of the closed shard was processed: checkpoint (SHARD_END)."""
        await checkpointer.checkpoint()

    async def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        """The worker is stopping or handing the lease over: checkpoint now."""
