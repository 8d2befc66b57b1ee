"""Kinesis records: PutRecord(s), GetShardIterator, GetRecords.

Each shard is a Redis Stream in a slot of its own, with a small state hash beside it
(the stream incarnation it belongs to, and whether a reshard closed it). A put routes
each record by its hash key to an open shard of the cached shard map and appends the
shard's records in one call per shard; a shard that turns out closed or gone makes the
engine re-read the map and route again, so a write racing a reshard or a delete never
lands in a closed shard and is never lost. Reads go from an iterator's position, never
older than the stream's retention.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.exceptions import ResponseError

from broker import errors
from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import StreamKeys
from broker.engine.records import as_text
from broker.engine.scripts import translate
from broker.engine.stream_admin import ShardMap, StreamAdmin, StreamRef, validation_error
from broker.engine.stream_iterators import IteratorCodec, Position
from broker.engine.stream_routing import (
    entry_id,
    entry_ms,
    hash_key,
    parse_hash_key,
    sequence_number,
)
from broker.engine.stream_types import GetRecordsResult, PutResult, Record, Shard

MAX_RECORD_BYTES = 1_048_576
MAX_PUT_RECORDS = 500
MAX_PUT_BYTES = 10 * 1_048_576
MAX_GET_LIMIT = 10_000
MAX_GET_BYTES = 10 * 1_048_576
#: the first read of an unmetered GetRecords (the rest follows, sized by what it got)
FIRST_READ = 1_000
ITERATOR_TYPES = ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST",
                  "AT_TIMESTAMP")
#: how long a put keeps re-reading the shard map after meeting a closed shard (longer
#: than a stale reshard takes to be taken over)
REROUTE_FOR_S = 15.0


@dataclass(frozen=True, slots=True)
class PutEntry:
    data: bytes
    partition_key: str
    explicit_hash_key: str | None = None


class Streams:
    def __init__(self, ctx: Context, admin: StreamAdmin) -> None:
        self._ctx = ctx
        self._admin = admin
        self._iterators = IteratorCodec(ctx.redis)

    # -- put -----------------------------------------------------------------------------

    async def put_record(self, ref: StreamRef, entry: PutEntry,
                         sequence_for_ordering: str | None = None) -> PutResult:
        """PutRecord. ``SequenceNumberForOrdering`` is checked and needs nothing more:
        a shard's sequence numbers always grow in the order its puts arrive."""
        if sequence_for_ordering is not None and entry_id(sequence_for_ordering) is None \
                and not sequence_for_ordering.isdigit():
            raise errors.InvalidArgumentException(
                f"SequenceNumberForOrdering {sequence_for_ordering} is not a sequence "
                f"number.")
        _check_entry(entry, "")
        [result] = await self._put(ref, [entry])
        if result.error_code:
            raise errors.ProvisionedThroughputExceededException(result.error_message or "")
        return result

    async def put_records(self, ref: StreamRef, entries: Sequence[PutEntry]
                          ) -> tuple[list[PutResult], int]:
        """PutRecords: per-record results in request order, and how many failed."""
        if not entries:
            raise validation_error("[]", "records", "Member must have length greater than "
                                                    "or equal to 1")
        if len(entries) > MAX_PUT_RECORDS:
            raise validation_error(f"{len(entries)} records", "records",
                                   f"Member must have length less than or equal to "
                                   f"{MAX_PUT_RECORDS}")
        for i, e in enumerate(entries, 1):
            _check_entry(e, f"records.{i}.member.")
        total = sum(len(e.data) + len(e.partition_key.encode()) for e in entries)
        if total > MAX_PUT_BYTES:
            raise errors.InvalidArgumentException(
                f"Records size exceeds {MAX_PUT_BYTES // 1_048_576} MB limit")
        results = await self._put(ref, entries)
        return results, sum(1 for r in results if r.error_code)

    async def _put(self, ref: StreamRef, entries: Sequence[PutEntry]) -> list[PutResult]:
        hashes = [(parse_hash_key(e.explicit_hash_key) or 0)
                  if e.explicit_hash_key is not None else hash_key(e.partition_key)
                  for e in entries]
        results: list[PutResult | None] = [None] * len(entries)
        todo = list(range(len(entries)))
        smap = await self._admin.shard_map(ref)
        deadline = time.monotonic() + REROUTE_FOR_S
        for attempt in itertools.count():
            by_shard: dict[str, list[int]] = {}
            for i in todo:
                by_shard.setdefault(smap.route(hashes[i]).shard_id, []).append(i)
            replies = await asyncio.gather(*(
                self._append(ref, smap, sid, [entries[i] for i in idx])
                for sid, idx in by_shard.items()))
            todo = []
            stale = False
            for (sid, idx), reply in zip(by_shard.items(), replies, strict=True):
                if reply is None:
                    todo += idx
                    stale = True
                    continue
                for i, eid in zip(idx, reply, strict=True):
                    results[i] = PutResult(sid, sequence_number(eid)) if eid != "T" else \
                        PutResult(error_code="ProvisionedThroughputExceededException",
                                  error_message=_rate_exceeded(ref, sid))
            if not todo:
                break
            # a closed shard: a reshard is under way (its last step puts the children in
            # the map), or a crash left it unfinished (taken over once stale)
            if time.monotonic() > deadline:
                raise errors.ServiceUnavailable(
                    "The stream is being resharded and the put could not be routed; try "
                    "again.")
            await asyncio.sleep(min(0.002 * 2 ** attempt, 0.25))
            if stale and self._admin.resharding is not None:
                await self._admin.resharding.finish(ref)
            smap = await self._admin.shard_map(ref, refresh=True)
            todo.sort()
        return [r for r in results if r is not None]

    async def _append(self, ref: StreamRef, smap: ShardMap, sid: str,
                      entries: Sequence[PutEntry]) -> list[str] | None:
        """Append to one shard; None when the shard is closed or not this stream's."""
        shard = StreamKeys(ref.account, ref.name).shard(sid)
        args: list[Any] = [clock_arg(self._ctx.clock), smap.epoch, smap.retention_ms,
                           "1" if smap.throttled else ""]
        for e in entries:
            args += [e.data, e.partition_key]
        reply = await self._ctx.scripts.call("stream_put", [shard.data, shard.state], args)
        if reply[0] != b"OK":
            return None
        return [as_text(r) for r in reply[1:]]

    # -- iterators -----------------------------------------------------------------------

    async def get_shard_iterator(self, ref: StreamRef, shard_id: str, iterator_type: str,
                                 starting_sequence_number: str | None = None,
                                 timestamp: dt.datetime | float | None = None) -> str:
        """GetShardIterator."""
        smap, position, mode = await self.position(ref, shard_id, iterator_type,
                                                   starting_sequence_number, timestamp)
        return await self._iterators.issue(Position(
            ref.account, ref.name, shard_id, smap.epoch, position, mode,
            await self._admin.now_ms()))

    async def position(self, ref: StreamRef, shard_id: str, iterator_type: str,
                       starting_sequence_number: str | None = None,
                       timestamp: dt.datetime | float | None = None
                       ) -> tuple[ShardMap, str, str]:
        """Where an iterator type points in a shard: (shard map, entry id, 'at' |
        'after')."""
        if iterator_type not in ITERATOR_TYPES:
            raise validation_error(iterator_type, "shardIteratorType",
                                   "Member must satisfy enum value set: [" +
                                   ", ".join(ITERATOR_TYPES) + "]")
        smap = await self._admin.shard_map(ref)
        if smap.shard(shard_id) is None:
            smap = await self._admin.shard_map(ref, refresh=True)
            if smap.shard(shard_id) is None:
                raise errors.ResourceNotFoundException(
                    f"Shard {shard_id} in stream {ref.name} under account {ref.account} "
                    f"does not exist")
        if iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if starting_sequence_number is None:
                raise errors.InvalidArgumentException(
                    f"StartingSequenceNumber must be specified for ShardIteratorType "
                    f"{iterator_type}.")
            found = entry_id(starting_sequence_number)
            if found is None:
                raise errors.InvalidArgumentException(
                    f"StartingSequenceNumber {starting_sequence_number} used in "
                    f"GetShardIterator on shard {shard_id} in stream {ref.name} under "
                    f"account {ref.account} is invalid.")
            return smap, found, "at" if iterator_type == "AT_SEQUENCE_NUMBER" else "after"
        if iterator_type == "AT_TIMESTAMP":
            if timestamp is None:
                raise errors.InvalidArgumentException(
                    "Timestamp must be specified for ShardIteratorType AT_TIMESTAMP.")
            ms = int((timestamp.timestamp() if isinstance(timestamp, dt.datetime)
                      else float(timestamp)) * 1000)
            return smap, f"{max(ms, 0)}-0", "at"
        if iterator_type == "LATEST":
            shard = StreamKeys(ref.account, ref.name).shard(shard_id)
            last = cast("list[tuple[bytes, Any]]",
                        await self._ctx.redis.xrevrange(shard.data, "+", "-", count=1))
            return smap, as_text(last[0][0]) if last else "0-0", "after"
        return smap, "0-0", "after"  # TRIM_HORIZON

    # -- get records ---------------------------------------------------------------------

    async def get_records(self, iterator: str, limit: int | None = None, *,
                          account: str | None = None) -> GetRecordsResult:
        """GetRecords: up to ``limit`` (10,000) records, and at most 10 MiB, from the
        iterator's position. ``account``: the caller's, when it must own the stream."""
        if limit is not None and not 1 <= limit <= MAX_GET_LIMIT:
            raise validation_error(limit, "limit", f"Member must have value between 1 and "
                                                   f"{MAX_GET_LIMIT}")
        if not isinstance(iterator, str) or not iterator:
            raise validation_error(iterator, "shardIterator",
                                   "Member must have length greater than or equal to 1")
        now = await self._admin.now_ms()
        pos = await self._iterators.read(iterator, now)
        ref = StreamRef(pos.account, pos.stream)
        if account is not None and account != pos.account:
            raise errors.AccessDenied(
                f"User is not authorized to read stream {pos.stream} of account "
                f"{pos.account}.")
        smap = await self._admin.shard_map(ref)
        if smap.epoch != pos.epoch:
            smap = await self._admin.shard_map(ref, refresh=True)
            if smap.epoch != pos.epoch:
                raise self._admin.not_found(ref)
        shard = StreamKeys(ref.account, ref.name).shard(pos.shard_id)
        count = limit or MAX_GET_LIMIT
        if smap.throttled:  # metered: the script counts the calls and bytes it serves
            reply = await self._ctx.scripts.call(
                "stream_get", [shard.data, shard.state],
                [clock_arg(self._ctx.clock), pos.epoch, smap.retention_ms, pos.entry_id,
                 pos.mode, count, "1"])
            if reply[0] == b"T":
                raise errors.ProvisionedThroughputExceededException(
                    _rate_exceeded(ref, pos.shard_id))
            state, entries = reply[1:3], reply[3] if reply[0] != b"GONE" else []
            now = int(reply[0]) if reply[0] != b"GONE" else now
            if reply[0] == b"GONE":
                state = [b"GONE"]
        else:  # the shard's state and a plain XRANGE, in one round trip
            floor = now - smap.retention_ms
            start = f"{floor}-0" if entry_ms(pos.entry_id) < floor else \
                pos.entry_id if pos.mode == "at" else f"({pos.entry_id}"
            state, entries = await self._peek_and_read(shard.data, shard.state, pos.epoch,
                                                       start, min(count, FIRST_READ))
        if state[0] == b"GONE":
            raise self._admin.not_found(ref)
        closed, last = as_text(state[0]), as_text(state[1])
        records = _capped([record_of(e) for e in entries])
        if not smap.throttled:
            records = await self._read_more(shard.data, records, count)
        if records:
            read_to = entry_id(records[-1].sequence_number) or pos.entry_id
            next_pos = Position(pos.account, pos.stream, pos.shard_id, pos.epoch, read_to,
                                "after", now)
            behind = 0 if read_to == last else max(0, now - records[-1].arrival_ms)
        else:  # nothing after the position: caught up
            next_pos = Position(pos.account, pos.stream, pos.shard_id, pos.epoch,
                                pos.entry_id, pos.mode, now)
            behind = 0
        if closed and not records:  # the end of a closed shard: its children are next
            children = children_of(smap, pos.shard_id)
            if not children:  # the reshard is finishing: the map will have them
                children = children_of(await self._admin.shard_map(ref, refresh=True),
                                     pos.shard_id)
            if children:
                return GetRecordsResult(records, None, 0, children)
        return GetRecordsResult(records, await self._iterators.issue(next_pos), behind)


    async def _read_more(self, data: str, records: list[Record], count: int
                         ) -> list[Record]:
        """Continue an unmetered read to ``count`` records or 10 MiB, sizing the next
        read by the records seen so far (usually one more round trip, if any)."""
        size = sum(_size(r) for r in records)
        asked = min(count, FIRST_READ)
        while len(records) == asked and len(records) < count and size < MAX_GET_BYTES:
            room = (MAX_GET_BYTES - size) // max(1, size // len(records)) + 1
            want = min(count - len(records), room)
            more = cast("list[Any]", await self._ctx.redis.xrange(
                data, f"({entry_id(records[-1].sequence_number)}", "+", count=want))
            if not more:
                break
            grown = _capped(records + [record_of(e) for e in more])
            if len(grown) < len(records) + len(more) or len(more) < want:
                return grown  # full (10 MiB), or the end of the shard
            records, asked = grown, len(grown)
            size = sum(_size(r) for r in records)
        return records

    async def _peek_and_read(self, data: str, state: str, epoch: str, start: str,
                             count: int) -> tuple[Any, Any]:
        for attempt in (1, 2):
            try:
                async with self._ctx.redis.pipeline(transaction=False) as pipe:
                    pipe.fcall("rc_stream_peek", 2, data, state, epoch)
                    pipe.xrange(data, start, "+", count=count)
                    peeked, entries = await pipe.execute()
                return peeked, entries
            except ResponseError as exc:
                if attempt == 2 or "Function not found" not in str(exc):
                    raise translate(exc) from None
                await self._ctx.scripts.load()  # Redis lost the library: load it again
        raise AssertionError("unreachable")


def _size(r: Record) -> int:
    return len(r.data) + len(r.partition_key)


def _capped(records: list[Record]) -> list[Record]:
    """The records that fit in one GetRecords reply: 10 MiB, at least one record."""
    total = 0
    for i, r in enumerate(records):
        total += _size(r)
        if total > MAX_GET_BYTES and i > 0:
            return records[:i]
    return records


def _rate_exceeded(ref: StreamRef, shard_id: str) -> str:
    return (f"Rate exceeded for shard {shard_id} in stream {ref.name} under account "
            f"{ref.account}.")


def children_of(smap: ShardMap, parent: str) -> list[Shard]:
    return [s for s in smap.shards if parent in (s.parent, s.adjacent_parent)]


def _check_entry(e: PutEntry, member: str) -> None:
    if not isinstance(e.partition_key, str) or not 1 <= len(e.partition_key) <= 256:
        raise validation_error(e.partition_key, f"{member}partitionKey",
                               "Member must have length between 1 and 256")
    if len(e.data) + len(e.partition_key.encode()) > MAX_RECORD_BYTES:
        raise validation_error("java.nio.HeapByteBuffer", f"{member}data",
                               f"Member must have length less than or equal to "
                               f"{MAX_RECORD_BYTES}")
    if e.explicit_hash_key is not None and parse_hash_key(e.explicit_hash_key) is None:
        raise errors.InvalidArgumentException(
            f"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
            f"[0, 340282366920938463463374607431768211455]. Specified value was "
            f"{e.explicit_hash_key}")


def record_of(entry: Any) -> Record:
    """A Record from a Redis Stream entry as XRANGE / XREAD return it."""
    eid = entry[0].decode()
    fields = entry[1]
    if isinstance(fields, dict):  # as redis-py parses XRANGE / XREAD replies
        data, key = fields.get(b"d", b""), fields.get(b"k", b"")
    elif len(fields) == 4 and fields[0] == b"d":  # a script's reply: d, k as written
        data, key = fields[1], fields[3]
    else:
        values = {as_text(fields[i]): fields[i + 1] for i in range(0, len(fields), 2)}
        data, key = values.get("d", b""), values.get("k", b"")
    ms, _, seq = eid.partition("-")
    return Record(f"49{ms.zfill(20)}{seq.zfill(20)}", key.decode(), data, int(ms))
