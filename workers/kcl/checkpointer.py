"""Checkpoints of one shard lease, fenced by the lease's acquisition token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from broker.engine.leases import SENTINELS, SHARD_END, Lease
from broker.engine.stream_types import Record
from broker.sdk.leases import LeaseTable
from workers.kcl.errors import InvalidCheckpointError, LeaseLostError


def _seq(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidCheckpointError(f"{value!r} is not a sequence number") from None


class Checkpointer:
    """Given to the record processor. ``checkpoint()`` records the last record delivered
    so far (``SHARD_END`` once a closed shard has been read to its end); ``checkpoint(r)``
    records the record (or sequence number) ``r``.

    A checkpoint from a worker that no longer holds the lease, or holds an older
    acquisition of it, raises ``LeaseLostError`` and writes nothing."""

    def __init__(self, table: LeaseTable, worker: str, shard_id: str, token: int,
                 checkpoint: str, on_lost: Callable[[], Awaitable[None]],
                 on_written: Callable[[str], None]) -> None:
        self._table = table
        self._worker = worker
        self.shard_id = shard_id
        self._token = token
        self.current = checkpoint
        """The last checkpoint written (or found at the start)."""
        self.last_delivered: str | None = None
        """The sequence number of the last record given to the processor."""
        self.children: Sequence[Lease] | None = None
        """Set once the shard is closed and read to its end: the children's leases."""
        self._on_lost = on_lost
        self._on_written = on_written

    @property
    def at_shard_end(self) -> bool:
        return self.children is not None

    def _value(self, at: Record | str | None) -> str | None:
        if at is None:
            return SHARD_END if self.at_shard_end else self.last_delivered
        value = at.sequence_number if isinstance(at, Record) else str(at)
        if value == SHARD_END:
            if not self.at_shard_end:
                raise InvalidCheckpointError(
                    f"shard {self.shard_id} has not been read to its end: SHARD_END is "
                    "only for shard_ended()")
            return value
        n = _seq(value)
        if self.last_delivered is None or n > int(self.last_delivered):
            raise InvalidCheckpointError(
                f"sequence number {value} of shard {self.shard_id} is past the last record "
                f"delivered ({self.last_delivered or 'none yet'})")
        if self.current not in SENTINELS and n < int(self.current):
            raise InvalidCheckpointError(
                f"sequence number {value} of shard {self.shard_id} is before its "
                f"checkpoint {self.current}")
        return value

    async def checkpoint(self, at: Record | str | None = None) -> None:
        value = self._value(at)
        if value is None:
            return  # nothing delivered yet: nothing to record
        await self._write(value, prepare=False)
        self.current = value
        self._on_written(value)

    async def prepare_checkpoint(self, at: Record | str | None = None) -> None:
        """Record a pending checkpoint (the next owner's ``initialize`` sees it)."""
        value = self._value(at)
        if value is not None and value != SHARD_END:
            await self._write(value, prepare=True)

    async def _write(self, value: str, prepare: bool) -> None:
        children = (self.children or ()) if value == SHARD_END else ()
        done = await self._table.checkpoint(self._worker, self.shard_id, self._token, value,
                                            prepare=prepare, children=children)
        if done < 0:
            raise InvalidCheckpointError(
                f"shard {self.shard_id} is at SHARD_END already: that checkpoint is final")
        if not done:
            await self._on_lost()
            raise LeaseLostError(
                f"Can't {'prepare' if prepare else 'update'} checkpoint of shard "
                f"{self.shard_id}: worker {self._worker} doesn't hold the lease for this "
                "shard any more (it expired or another worker took it)")

