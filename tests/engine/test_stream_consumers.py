"""Enhanced fan-out in the engine: the consumer registry, SubscribeToShard pushing
records as they are stored, the 5-second re-subscribe rule and take-over, and the end of
a closed shard with its children."""

from __future__ import annotations

import asyncio

import pytest

from broker import errors
from broker.engine import Engine
from broker.engine.stream_admin import StreamRef
from broker.engine.stream_consumers import RESUBSCRIBE_GAP_MS, SubscribeEvent
from broker.engine.streams import PutEntry

ACCOUNT = "000000000000"


async def test_consumer_registry(engine: Engine) -> None:
    ref = StreamRef(ACCOUNT, "fanout")
    await engine.stream_admin.create(ref, 1)
    c = engine.stream_consumers
    arn = engine.stream_admin.arn(ref)
    first = await c.register(arn, "app-1")
    assert first.arn.startswith(f"{arn}/consumer/app-1:") and first.status == "ACTIVE"
    with pytest.raises(errors.ResourceInUseException):
        await c.register(arn, "app-1")
    await c.register(arn, "app-2")
    page, token = await c.list(arn, max_results=1)
    assert [x.name for x in page] == ["app-1"] and token
    assert [x.name for x in (await c.list(arn, next_token=token))[0]] == ["app-2"]
    assert (await c.describe(None, None, first.arn)).name == "app-1"
    assert (await c.describe(arn, "app-2", None)).arn.endswith(
        (await c.list(arn))[0][1].arn[-10:])
    await c.deregister(None, None, first.arn)
    with pytest.raises(errors.ResourceNotFoundException):
        await c.describe(None, None, first.arn)
    with pytest.raises(errors.ResourceNotFoundException):
        await c.register(engine.stream_admin.arn(StreamRef(ACCOUNT, "none")), "x")
    for i in range(19):
        await c.register(arn, f"more-{i}")
    with pytest.raises(errors.LimitExceededException):
        await c.register(arn, "one-too-many")


async def test_subscribe_pushes_records(engine: Engine) -> None:
    ref = StreamRef(ACCOUNT, "pushed")
    await engine.stream_admin.create(ref, 1)
    shard = "shardId-000000000000"
    await engine.streams.put_record(ref, PutEntry(b"old", "k"))
    consumer = await engine.stream_consumers.register(engine.stream_admin.arn(ref), "app")
    events = await engine.stream_consumers.subscribe(consumer.arn, shard,
                                                     {"Type": "TRIM_HORIZON"})
    got: list[SubscribeEvent] = []

    async def reader() -> None:
        async for event in events:
            got.append(event)
            if sum(len(e.records) for e in got) >= 3:
                return

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.1)
    with pytest.raises(errors.ResourceInUseException):  # within 5 s of the first
        await engine.stream_consumers.subscribe(consumer.arn, shard, {"Type": "LATEST"})
    for data in (b"new-1", b"new-2"):
        await engine.streams.put_record(ref, PutEntry(data, "k"))
    await asyncio.wait_for(task, 10)
    assert [r.data for e in got for r in e.records] == [b"old", b"new-1", b"new-2"]
    assert got[-1].continuation_sequence_number == got[-1].records[-1].sequence_number
    assert got[-1].millis_behind_latest == 0


async def test_take_over_and_closed_shard_end(clocked_engine: Engine, clock: object) -> None:
    engine = clocked_engine
    ref = StreamRef(ACCOUNT, "handover")
    await engine.stream_admin.create(ref, 1)
    shard = "shardId-000000000000"
    consumer = await engine.stream_consumers.register(engine.stream_admin.arn(ref), "app")
    old = await engine.stream_consumers.subscribe(consumer.arn, shard, {"Type": "LATEST"})
    clock.advance(RESUBSCRIBE_GAP_MS / 1000 + 1)  # type: ignore[attr-defined]
    new = await engine.stream_consumers.subscribe(consumer.arn, shard,
                                                  {"Type": "TRIM_HORIZON"})
    assert [e async for e in old] == []  # taken over: ends at once
    await engine.streams.put_record(ref, PutEntry(b"last", "k"))
    await engine.resharding.split(ref, shard, str(2**127))
    events = [e async for e in new]
    assert [r.data for e in events for r in e.records] == [b"last"]
    assert [c.shard_id for c in events[-1].child_shards] == ["shardId-000000000001",
                                                            "shardId-000000000002"]


async def test_empty_closed_shard_and_deregistered_consumer_end(engine: Engine) -> None:
    """A subscription to an empty shard that a reshard closed ends with its children
    (UpdateShardCount makes such short-lived shards); deregistering the consumer ends its
    subscriptions."""
    ref = StreamRef(ACCOUNT, "short-lived")
    await engine.stream_admin.create(ref, 1)
    c = engine.stream_consumers
    consumer = await c.register(engine.stream_admin.arn(ref), "app")
    await engine.resharding.split(ref, "shardId-000000000000", str(2**127))
    events = await c.subscribe(consumer.arn, "shardId-000000000000", {"Type": "TRIM_HORIZON"})
    got = [e async for e in events]
    assert len(got) == 1 and got[0].records == []
    assert [s.shard_id for s in got[0].child_shards] == ["shardId-000000000001",
                                                        "shardId-000000000002"]
    live = await c.subscribe(consumer.arn, "shardId-000000000001", {"Type": "LATEST"})
    task = asyncio.create_task(anext(live, None))
    await asyncio.sleep(0.1)
    await c.deregister(None, None, consumer.arn)
    assert await asyncio.wait_for(task, 5) is None  # ended without an event
