"""Kinesis streams in the SDK: ``Stream`` handles made by ``Client.create_stream`` /
``Client.stream``."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterable
from typing import Any

from broker.engine.stream_admin import StreamRef
from broker.engine.stream_consumers import Consumer, SubscribeEvent
from broker.engine.stream_types import GetRecordsResult, PutResult, Record, Shard, StreamInfo
from broker.engine.streams import PutEntry
from broker.sdk.transport import Transport

#: a GetRecords loop's pause when it is caught up (Kinesis suggests about 1 s; a local
#: Redis answers fast, so the loop polls more often by default)
IDLE_POLL_S = 0.2


def record(data: bytes | str, partition_key: str,
           explicit_hash_key: str | int | None = None) -> PutEntry:
    """One entry for ``Stream.put_batch``."""
    return PutEntry(data.encode() if isinstance(data, str) else bytes(data), partition_key,
                    None if explicit_hash_key is None else str(explicit_hash_key))


class Stream:
    """A handle on one stream. Creating a handle does not create the stream."""

    def __init__(self, transport: Transport, ref: StreamRef, arn: str) -> None:
        self._t = transport
        self.ref = ref
        self.arn = arn

    @property
    def name(self) -> str:
        return self.ref.name

    async def put(self, data: bytes | str, partition_key: str, *,
                  explicit_hash_key: str | int | None = None,
                  sequence_for_ordering: str | None = None) -> PutResult:
        """PutRecord: the record's shard and sequence number."""
        return await self._t.put_record(self.ref, record(data, partition_key,
                                                         explicit_hash_key),
                                        sequence_for_ordering)

    async def put_batch(self, records: Iterable[PutEntry | tuple[bytes | str, str]]
                        ) -> list[PutResult]:
        """PutRecords (<= 500): one result per record, in order; a failed record has
        ``error_code`` set (retry those)."""
        entries = [r if isinstance(r, PutEntry) else record(*r) for r in records]
        return await self._t.put_records(self.ref, entries)

    async def describe(self) -> StreamInfo:
        """The stream with all its shards."""
        return await self._t.describe_stream(self.ref)

    async def shards(self) -> list[Shard]:
        return (await self.describe()).shards

    async def iterator(self, shard_id: str, start: str = "TRIM_HORIZON", *,
                       sequence_number: str | None = None,
                       timestamp: dt.datetime | None = None) -> str:
        """GetShardIterator: ``start`` is TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER,
        AFTER_SEQUENCE_NUMBER (with ``sequence_number``) or AT_TIMESTAMP (with
        ``timestamp``)."""
        return await self._t.shard_iterator(self.ref, shard_id, start, sequence_number,
                                            timestamp)

    async def get_records(self, iterator: str, limit: int | None = None) -> GetRecordsResult:
        """GetRecords: up to ``limit`` (10,000) records and the next iterator."""
        return await self._t.get_records(iterator, limit)

    async def read(self, shard_id: str, start: str = "TRIM_HORIZON", *,
                   sequence_number: str | None = None, limit: int | None = None,
                   idle_poll_s: float = IDLE_POLL_S) -> AsyncIterator[Record]:
        """Every record of one shard from ``start`` on, as they arrive (a GetRecords
        loop); ends at the end of a closed shard."""
        it: str | None = await self.iterator(shard_id, start,
                                             sequence_number=sequence_number)
        while it is not None:
            got = await self.get_records(it, limit)
            for r in got.records:
                yield r
            it = got.next_iterator
            if not got.records and it is not None:
                await asyncio.sleep(idle_poll_s)

    async def split_shard(self, shard_id: str, new_starting_hash_key: str | int) -> None:
        """SplitShard: two children, the second starting at the hash key."""
        await self._t.split_shard(self.ref, shard_id, str(new_starting_hash_key))

    async def merge_shards(self, shard_id: str, adjacent_shard_id: str) -> None:
        """MergeShards: two adjacent open shards become one."""
        await self._t.merge_shards(self.ref, shard_id, adjacent_shard_id)

    async def update_shard_count(self, target: int) -> None:
        """UpdateShardCount (uniform scaling, between half and double the open shards)."""
        await self._t.update_shard_count(self.ref, target)

    # -- enhanced fan-out ----------------------------------------------------------------

    async def register_consumer(self, name: str) -> Consumer:
        """RegisterStreamConsumer: a consumer with its own push subscriptions."""
        return await self._t.register_consumer(self.arn, name)

    async def consumers(self) -> list[Consumer]:
        return await self._t.list_consumers(self.arn)

    async def deregister_consumer(self, consumer: Consumer | str) -> None:
        await self._t.deregister_consumer(consumer if isinstance(consumer, str)
                                          else consumer.arn)

    def subscribe(self, consumer: Consumer | str, shard_id: str, start: str = "LATEST", *,
                  sequence_number: str | None = None,
                  timestamp: dt.datetime | None = None) -> AsyncIterator[SubscribeEvent]:
        """SubscribeToShard: an async iterator of events (records, continuation sequence
        number, MillisBehindLatest; ChildShards at the end of a closed shard). It ends
        after 5 minutes, as in Kinesis: subscribe again AFTER_SEQUENCE_NUMBER the last
        event's continuation. In-process the records are pushed as they are stored; over
        HTTP they come from a GetRecords loop."""
        position: dict[str, Any] = {"Type": start}
        if sequence_number is not None:
            position["SequenceNumber"] = sequence_number
        if timestamp is not None:
            position["Timestamp"] = timestamp
        return self._t.subscribe_to_shard(
            consumer if isinstance(consumer, str) else consumer.arn, shard_id, position)

    async def set_retention(self, hours: int) -> None:
        """Increase or decrease the retention period (24-8,760 hours)."""
        current = (await self.describe()).retention_hours
        if hours != current:
            await self._t.set_stream_retention(self.ref, hours, hours > current)

    async def delete(self) -> None:
        await self._t.delete_stream(self.ref)

    def __repr__(self) -> str:
        return f"Stream({self.arn!r})"
