"""Streams through the SDK, on both transports (in-process engine, HTTP to a broker
server) and both topologies: create, put, put_batch, iterators, get_records, the read
loop, retention and delete."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from broker import Client, errors, record


async def test_stream_round_trip(client: Client) -> None:
    stream = await client.create_stream("sdk-clicks", 2, tags={"team": "web"})
    info = await stream.describe()
    assert info.status == "ACTIVE" and len(info.shards) == 2 and info.open_shards == 2
    assert stream.arn.endswith(":stream/sdk-clicks")
    one = await stream.put(b"hello", "user-1")
    results = await stream.put_batch([("a", "user-1"), record(b"b", "user-2"),
                                      record("c", "x", explicit_hash_key=0)])
    assert all(r.error_code is None for r in results)
    assert results[2].shard_id == "shardId-000000000000"
    assert int(results[0].sequence_number) > int(one.sequence_number)
    got = []
    for shard in info.shards:
        page = await stream.get_records(await stream.iterator(shard.shard_id))
        got += [(r.partition_key, r.data) for r in page.records]
        assert page.next_iterator and page.millis_behind_latest == 0
    assert sorted(got) == sorted([("user-1", b"hello"), ("user-1", b"a"), ("user-2", b"b"),
                                  ("x", b"c")])
    at = await stream.iterator(one.shard_id, "AT_SEQUENCE_NUMBER",
                               sequence_number=one.sequence_number)
    first = (await stream.get_records(at, limit=1)).records[0]
    assert (first.data, first.partition_key) == (b"hello", "user-1")
    assert isinstance(first.arrival, dt.datetime)
    assert [s.name for s in await client.list_streams()] == ["sdk-clicks"]
    await stream.set_retention(48)
    assert (await stream.describe()).retention_hours == 48
    await stream.delete()
    with pytest.raises(errors.ResourceNotFoundException):
        await stream.describe()


async def test_read_loop_follows_new_records(client: Client) -> None:
    stream = await client.create_stream("sdk-follow")
    shard = (await stream.shards())[0].shard_id
    seen: list[bytes] = []

    async def reader() -> None:
        async for r in stream.read(shard, "LATEST", idle_poll_s=0.01):
            seen.append(r.data)
            if len(seen) == 3:
                return

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.1)
    for i in range(3):
        await stream.put(f"r{i}", "k")
    await asyncio.wait_for(task, 10)
    assert seen == [b"r0", b"r1", b"r2"]


async def test_errors_reach_the_caller(client: Client) -> None:
    with pytest.raises(errors.ResourceNotFoundException):
        await client.stream("sdk-missing").put(b"x", "k")
    stream = await client.create_stream("sdk-errors")
    with pytest.raises(errors.ResourceInUseException):
        await client.create_stream("sdk-errors")
    with pytest.raises(errors.InvalidArgumentException):
        await stream.get_records("forged")
    on_demand = await client.create_stream("sdk-on-demand", on_demand=True)
    assert (await on_demand.describe()).open_shards == 4


async def test_resharding_through_the_sdk(client: Client) -> None:
    stream = await client.create_stream("sdk-reshard", 2)
    await stream.put("before", "k")
    await stream.update_shard_count(4)
    live = [s for s in await stream.shards() if s.open]
    assert len(live) == 4 and all(s.parent for s in live)
    await stream.merge_shards(live[0].shard_id, live[1].shard_id)
    await stream.split_shard(live[2].shard_id, live[2].start_hash + 1)
    shards = await stream.shards()
    assert sum(s.open for s in shards) == 4
    assert (await stream.put("after", "k")).shard_id in {s.shard_id for s in shards
                                                         if s.open}


async def test_enhanced_fan_out(client: Client) -> None:
    stream = await client.create_stream("sdk-efo")
    shard = (await stream.shards())[0].shard_id
    consumer = await stream.register_consumer("dashboard")
    assert [c.name for c in await stream.consumers()] == ["dashboard"]
    await stream.put("first", "k")
    got: list[bytes] = []

    async def reader() -> str:
        async for event in stream.subscribe(consumer, shard, "TRIM_HORIZON"):
            got.extend(r.data for r in event.records)
            if len(got) >= 2:
                return event.continuation_sequence_number
        return ""

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.1)
    last = await stream.put("second", "k")
    assert await asyncio.wait_for(task, 10) == last.sequence_number
    assert got == [b"first", b"second"]
    await stream.deregister_consumer(consumer)
    assert await stream.consumers() == []
