"""Enhanced fan-out: registered stream consumers and SubscribeToShard as a push stream.

A subscription is an async iterator of events (records, ContinuationSequenceNumber,
MillisBehindLatest, and ChildShards at the end of a closed shard). It blocks on the
shard's Redis Stream (``XREAD BLOCK``), so a record reaches the subscriber as soon as it
is stored, without polling; an event without records comes at least every 5 seconds. A
subscription lasts 5 minutes, as in Kinesis: the subscriber then subscribes again from
the continuation sequence number. A second subscription of the same consumer to the
same shard within 5 seconds is refused (ResourceInUseException); later, it takes over
and the first one ends. Each live subscription holds one Redis connection while it
waits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import msgpack

from broker import errors
from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import StreamKeys
from broker.engine.records import as_text
from broker.engine.stream_admin import StreamAdmin, StreamRef, check_name, validation_error
from broker.engine.stream_routing import entry_ms, sequence_number
from broker.engine.stream_types import Record, Shard
from broker.engine.streams import Streams, children_of, record_of

MAX_CONSUMERS = 20
SUBSCRIPTION_S = 300.0
RESUBSCRIBE_GAP_MS = 5_000
HEARTBEAT_S = 5.0
#: how long one XREAD waits before the subscription looks at its lease and the clock
BLOCK_MS = 1_000
MAX_EVENT_RECORDS = 10_000
#: live subscriptions per engine: each holds one of the pool's connections while it waits
#: (the pool has 64; the rest stay for everything else)
MAX_LIVE_SUBSCRIPTIONS = 32


@dataclass(frozen=True, slots=True)
class Consumer:
    name: str
    arn: str
    stream_arn: str
    created_ms: int
    status: str = "ACTIVE"

    def to_wire(self, with_stream: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ConsumerName": self.name, "ConsumerARN": self.arn,
            "ConsumerStatus": self.status,
            "ConsumerCreationTimestamp": dt.datetime.fromtimestamp(self.created_ms / 1000,
                                                                   dt.UTC)}
        if with_stream:
            out["StreamARN"] = self.stream_arn
        return out

    @classmethod
    def from_wire(cls, d: Mapping[str, Any], stream_arn: str = "") -> Consumer:
        created = d["ConsumerCreationTimestamp"]
        ms = int((created.timestamp() if isinstance(created, dt.datetime)
                  else float(created)) * 1000)
        return cls(d["ConsumerName"], d["ConsumerARN"], d.get("StreamARN") or stream_arn,
                   ms, d.get("ConsumerStatus", "ACTIVE"))


@dataclass(frozen=True, slots=True)
class SubscribeEvent:
    records: list[Record]
    continuation_sequence_number: str
    millis_behind_latest: int
    child_shards: list[Shard] = field(default_factory=list)


class StreamConsumers:
    def __init__(self, ctx: Context, admin: StreamAdmin, streams: Streams) -> None:
        self._ctx = ctx
        self._admin = admin
        self._streams = streams
        self._live = 0
        """Subscriptions being iterated in this process."""

    # -- the registry --------------------------------------------------------------------

    async def register(self, stream_arn: str, name: str) -> Consumer:
        """RegisterStreamConsumer."""
        check_name(name, "consumerName")
        ref = self._admin.ref_from("", None, stream_arn)
        created = await self._admin.now_ms()
        arn = f"{self._admin.arn(ref)}/consumer/{name}:{created // 1000}"
        consumer = Consumer(name, arn, self._admin.arn(ref), created)
        keys = StreamKeys(ref.account, ref.name)
        try:
            await self._ctx.scripts.call(
                "stream_consumer_add", [keys.meta, keys.consumers],
                [name, msgpack.packb({"arn": arn, "created_ms": created}), MAX_CONSUMERS])
        except errors.ResourceNotFoundException:
            raise self._admin.not_found(ref) from None
        return consumer

    async def deregister(self, stream_arn: str | None, name: str | None,
                         consumer_arn: str | None) -> None:
        """DeregisterStreamConsumer (by stream ARN and name, or by consumer ARN)."""
        consumer = await self.describe(stream_arn, name, consumer_arn)
        ref = self._admin.ref_from("", None, consumer.stream_arn)
        keys = StreamKeys(ref.account, ref.name)
        await self._ctx.redis.hdel(keys.consumers, consumer.name)
        for sid in await self._ctx.redis.hkeys(keys.shards):  # its subscriptions end
            await self._ctx.redis.delete(keys.shard(as_text(sid)).subscription(consumer.name))

    async def describe(self, stream_arn: str | None, name: str | None,
                       consumer_arn: str | None) -> Consumer:
        """DescribeStreamConsumer."""
        if consumer_arn:
            stream_arn, name, created = _parse_consumer_arn(consumer_arn)
        elif not (stream_arn and name):
            raise errors.InvalidArgumentException(
                "Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
        else:
            created = None
        ref = self._admin.ref_from("", None, stream_arn)
        raw = await self._ctx.redis.hget(StreamKeys(ref.account, ref.name).consumers, name)
        found = msgpack.unpackb(raw) if raw is not None else None
        if found is None or (created is not None and found["created_ms"] // 1000 != created):
            raise errors.ResourceNotFoundException(
                f"Consumer {name} under stream {stream_arn} not found.")
        return Consumer(name, found["arn"], self._admin.arn(ref), found["created_ms"])

    async def list(self, stream_arn: str, max_results: int | None = None,
                   next_token: str | None = None) -> tuple[list[Consumer], str | None]:
        """ListStreamConsumers: by name, up to ``max_results`` (100) a page."""
        limit = max_results if max_results is not None else 100
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise validation_error(limit, "maxResults", "Member must have value between 1 "
                                                        "and 10000")
        ref = self._admin.ref_from("", None, stream_arn)
        await self._admin.summary(ref)  # the stream exists
        raw = await self._ctx.redis.hgetall(StreamKeys(ref.account, ref.name).consumers)
        consumers = sorted((Consumer(as_text(k), m["arn"], self._admin.arn(ref),
                                     m["created_ms"])
                            for k, m in ((k, msgpack.unpackb(v)) for k, v in raw.items())),
                           key=lambda c: c.name)
        if next_token:
            consumers = [c for c in consumers if c.name > next_token]
        more = len(consumers) > limit
        return consumers[:limit], consumers[limit - 1].name if more else None

    # -- SubscribeToShard ----------------------------------------------------------------

    async def subscribe(self, consumer_arn: str, shard_id: str,
                        starting_position: Mapping[str, Any],
                        lifetime_s: float = SUBSCRIPTION_S) -> AsyncIterator[SubscribeEvent]:
        """SubscribeToShard: checks everything before returning the event iterator."""
        if self._live >= MAX_LIVE_SUBSCRIPTIONS:
            raise errors.LimitExceededException(
                f"This process already serves {self._live} live subscriptions, the most "
                f"it may (each holds a Redis connection while it waits).")
        consumer = await self.describe(None, None, consumer_arn)
        ref = self._admin.ref_from("", None, consumer.stream_arn)
        kind = starting_position.get("Type") or ""
        smap, position, mode = await self._streams.position(
            ref, shard_id, kind, starting_position.get("SequenceNumber"),
            starting_position.get("Timestamp"))
        shard = StreamKeys(ref.account, ref.name).shard(shard_id)
        token = os.urandom(8).hex()
        taken = await self._ctx.scripts.call(
            "stream_subscribe", [shard.subscription(consumer.name)],
            [clock_arg(self._ctx.clock), token, int(lifetime_s * 1000), RESUBSCRIBE_GAP_MS,
             "take"])
        if not taken:
            raise errors.ResourceInUseException(
                f"Another active subscription exists for consumer {consumer_arn} on shard "
                f"{shard_id}.")
        return self._events(ref, smap.epoch, smap.retention_ms, shard_id, consumer.name,
                            token, position, mode, lifetime_s)

    async def _events(self, ref: StreamRef, epoch: str, retention_ms: int, shard_id: str,
                      consumer: str, token: str, position: str, mode: str,
                      lifetime_s: float) -> AsyncIterator[SubscribeEvent]:
        self._live += 1
        try:
            async for event in self._push(ref, epoch, retention_ms, shard_id, consumer,
                                          token, position, mode, lifetime_s):
                yield event
        finally:
            self._live -= 1

    async def _push(self, ref: StreamRef, epoch: str, retention_ms: int, shard_id: str,
                    consumer: str, token: str, position: str, mode: str,
                    lifetime_s: float) -> AsyncIterator[SubscribeEvent]:
        shard = StreamKeys(ref.account, ref.name).shard(shard_id)
        redis = self._ctx.redis
        ends = time.monotonic() + lifetime_s
        quiet_since = time.monotonic()
        first = True
        me = asyncio.current_task()
        while time.monotonic() < ends:
            if me is not None and me.cancelling():
                # redis-py can swallow a cancellation that lands inside a blocking read:
                # honour it here, or the subscription would run on for its 5 minutes
                raise asyncio.CancelledError
            held = await self._ctx.scripts.call(
                "stream_subscribe", [shard.subscription(consumer)],
                [clock_arg(self._ctx.clock), token, 0, 0, "check"])
            if not held:
                return  # taken over by another subscription, or the consumer is gone
            now = await self._admin.now_ms()
            floor = now - retention_ms
            if first:  # the starting position itself may be a record (AT_*)
                start = f"{floor}-0" if entry_ms(position) < floor else \
                    position if mode == "at" else f"({position}"
                entries = cast("list[Any]", await redis.xrange(shard.data, start, "+",
                                                               count=MAX_EVENT_RECORDS))
                first = False
            else:
                got = cast("list[Any]", await redis.xread(
                    {shard.data: position}, count=MAX_EVENT_RECORDS, block=BLOCK_MS))
                entries = cast("list[Any]", got[0][1] if got else [])
            if not entries:
                state = await redis.hmget(shard.state, ["epoch", "closed"])
                if state[0] is None or as_text(state[0]) != epoch:
                    return  # the stream was deleted
                if state[1] is not None:
                    # closed: nothing more can come; read what arrived before the close
                    entries = cast("list[Any]", await redis.xrange(
                        shard.data, f"({position}", "+", count=MAX_EVENT_RECORDS))
                    if not entries:
                        smap = await self._admin.shard_map(ref, refresh=True)
                        yield SubscribeEvent([], sequence_number(as_text(state[1])), 0,
                                             children_of(smap, shard_id))
                        return
            records = [r for r in (record_of(e) for e in entries) if r.arrival_ms >= floor]
            if entries:
                position = as_text(entries[-1][0])
            if records:
                last = cast("list[tuple[bytes, Any]]",
                            await redis.xrevrange(shard.data, "+", "-", count=1))
                caught_up = not last or as_text(last[0][0]) == position
                yield SubscribeEvent(records, records[-1].sequence_number,
                                     0 if caught_up else max(0, now - records[-1].arrival_ms))
                quiet_since = time.monotonic()
                continue
            if time.monotonic() - quiet_since >= HEARTBEAT_S:
                yield SubscribeEvent([], sequence_number(position), 0)
                quiet_since = time.monotonic()


def _parse_consumer_arn(arn: str) -> tuple[str, str, int]:
    """(stream ARN, consumer name, creation seconds) of a consumer ARN."""
    stream_arn, sep, rest = arn.partition("/consumer/")
    name, _, created = rest.rpartition(":")
    if not sep or not name or not created.isdigit():
        raise errors.InvalidArgumentException(f"Invalid ConsumerARN: {arn}")
    return stream_arn, name, int(created)
