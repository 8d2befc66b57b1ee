"""Resharding (standalone and cluster): SplitShard, MergeShards and UpdateShardCount with
Kinesis's lineage; writers and lineage-following readers running through reshards lose
and duplicate nothing, and see a parent's records before its children's for each key; a
reshard interrupted by a crash is finished by the next caller."""

from __future__ import annotations

import asyncio
import json

import msgpack
import pytest

from broker import ManualClock, errors
from broker.engine import Engine
from broker.engine.keys import StreamKeys
from broker.engine.resharding import STALE_RESHARD_MS
from broker.engine.stream_admin import StreamRef
from broker.engine.stream_routing import MAX_HASH_KEY
from broker.engine.stream_types import Record
from broker.engine.streams import PutEntry

ACCOUNT = "000000000000"
HALF = str(2**127)


async def _drain_lineage(engine: Engine, ref: StreamRef) -> dict[str, list[Record]]:
    """Every record, shard by shard, parents before children (as a KCL worker does)."""
    s = engine.streams
    shards = (await engine.stream_admin.describe(ref, limit=10_000))[0].shards
    done: dict[str, list[Record]] = {}
    pending = [x for x in shards if not x.parent]
    while pending:
        shard = pending.pop(0)
        it: str | None = await s.get_shard_iterator(ref, shard.shard_id, "TRIM_HORIZON")
        got: list[Record] = []
        while it is not None:
            page = await s.get_records(it)
            got += page.records
            if not page.records and page.next_iterator is not None:
                break  # an open shard, read to its end
            it = page.next_iterator
            if it is None:
                for child in page.child_shards:
                    ready = all(p in done or p == shard.shard_id
                                for p in (child.parent, child.adjacent_parent) if p)
                    if ready and child.shard_id not in done and \
                            all(c.shard_id != child.shard_id for c in pending):
                        pending.append(child)
        done[shard.shard_id] = got
    return done


async def test_split_and_merge_lineage(engine: Engine) -> None:
    ref = StreamRef(ACCOUNT, "lineage")
    await engine.stream_admin.create(ref, 1)
    r = engine.resharding
    await engine.streams.put_record(ref, PutEntry(b"before", "k"))
    await r.split(ref, "shardId-000000000000", HALF)
    info, _ = await engine.stream_admin.describe(ref)
    parent, left, right = info.shards
    assert parent.ending_sequence is not None and info.status == "ACTIVE"
    assert (left.shard_id, left.parent, left.end_hash) == ("shardId-000000000001",
                                                           "shardId-000000000000", 2**127 - 1)
    assert (right.start_hash, right.end_hash) == (2**127, MAX_HASH_KEY)
    assert int(left.starting_sequence) > int(parent.ending_sequence)
    with pytest.raises(errors.InvalidArgumentException, match="already been merged or split"):
        await r.split(ref, "shardId-000000000000", HALF)
    with pytest.raises(errors.InvalidArgumentException, match="NewStartingHashKey"):
        await r.split(ref, "shardId-000000000001", str(MAX_HASH_KEY))
    with pytest.raises(errors.ResourceNotFoundException, match="Could not find shard"):
        await r.split(ref, "shardId-000000000042", "5")
    put = await engine.streams.put_record(ref, PutEntry(b"after", "k"))
    assert put.shard_id in (left.shard_id, right.shard_id)
    await r.merge(ref, left.shard_id, right.shard_id)
    merged = (await engine.stream_admin.describe(ref))[0].shards[-1]
    assert (merged.parent, merged.adjacent_parent) == (left.shard_id, right.shard_id)
    assert (merged.start_hash, merged.end_hash) == (0, MAX_HASH_KEY)
    # the closed parent: its records, then the end and its children
    it = await engine.streams.get_shard_iterator(ref, "shardId-000000000000", "TRIM_HORIZON")
    page = await engine.streams.get_records(it)
    assert [x.data for x in page.records] == [b"before"]
    end = await engine.streams.get_records(page.next_iterator or "")
    assert end.next_iterator is None
    assert [c.shard_id for c in end.child_shards] == [left.shard_id, right.shard_id]
    shards, _ = await engine.stream_admin.list_shards(ref, shard_filter={"Type": "AT_LATEST"})
    assert [s.shard_id for s in shards] == [merged.shard_id]


async def test_update_shard_count(engine: Engine) -> None:
    ref = StreamRef(ACCOUNT, "scaled")
    await engine.stream_admin.create(ref, 3)
    r = engine.resharding
    with pytest.raises(errors.InvalidArgumentException, match="over double"):
        await r.update_shard_count(ref, 7)
    with pytest.raises(errors.InvalidArgumentException, match="below half"):
        await r.update_shard_count(ref, 1)
    for target in (5, 3, 2, 4):
        before = await r.update_shard_count(ref, target)
        shards = (await engine.stream_admin.describe(ref, limit=10_000))[0].shards
        live = sorted((s for s in shards if s.open), key=lambda s: s.start_hash)
        assert len(live) == target, (before, target)
        assert live[0].start_hash == 0 and live[-1].end_hash == MAX_HASH_KEY
        for a, b in zip(live, live[1:], strict=False):
            assert a.end_hash + 1 == b.start_hash
        for s in shards:  # lineage: at most two parents, each closed
            for p in (s.parent, s.adjacent_parent):
                assert p is None or any(x.shard_id == p and not x.open for x in shards)
    await engine.stream_admin.create(StreamRef(ACCOUNT, "elastic"), None, "ON_DEMAND")
    with pytest.raises(errors.ValidationException, match="ON_DEMAND"):
        await r.split(StreamRef(ACCOUNT, "elastic"), "shardId-000000000000", HALF)


async def test_writers_and_readers_through_reshards(engine: Engine) -> None:
    """Producers keep writing while the stream is split, merged and rescaled: every
    acknowledged record is read exactly once, and for each key the records come in put
    order along the lineage (a parent's before its children's)."""
    ref = StreamRef(ACCOUNT, "busy-reshard")
    await engine.stream_admin.create(ref, 2)
    acked: dict[str, list[bytes]] = {}
    stop = asyncio.Event()

    async def producer(w: int) -> None:
        i = 0
        while not stop.is_set():
            batch = [PutEntry(f"{w}:{k}:{i}".encode(), f"key-{w}-{k}") for k in range(5)]
            results, failed = await engine.streams.put_records(ref, batch)
            assert failed == 0
            for e in batch:
                acked.setdefault(e.partition_key, []).append(e.data)
            i += 1

    tasks = [asyncio.create_task(producer(w)) for w in range(4)]
    await asyncio.sleep(0.05)
    await engine.resharding.split(ref, "shardId-000000000000", str(2**126))
    await asyncio.sleep(0.05)
    await engine.resharding.update_shard_count(ref, 5)
    await asyncio.sleep(0.05)
    await engine.resharding.update_shard_count(ref, 3)
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks)
    by_shard = await _drain_lineage(engine, ref)
    shards = {s.shard_id: s for s in (await engine.stream_admin.describe(
        ref, limit=10_000))[0].shards}

    def depth(sid: str) -> int:
        s = shards[sid]
        return 0 if not s.parent else 1 + max(depth(p) for p in (s.parent,
                                                                s.adjacent_parent) if p)

    read: dict[str, list[bytes]] = {}
    for sid in sorted(by_shard, key=lambda x: (depth(x), x)):
        for rec in by_shard[sid]:
            read.setdefault(rec.partition_key, []).append(rec.data)
    assert sum(len(v) for v in read.values()) == sum(len(v) for v in acked.values())
    for key, values in acked.items():
        assert read[key] == values, key


async def test_interrupted_reshard_is_finished(clocked_engine: Engine,
                                               clock: ManualClock) -> None:
    engine = clocked_engine
    ref = StreamRef(ACCOUNT, "crashy")
    await engine.stream_admin.create(ref, 1)
    await engine.streams.put_record(ref, PutEntry(b"one", "k"))
    keys = StreamKeys(ACCOUNT, "crashy")
    epoch = (await engine.redis.hget(keys.meta, "epoch") or b"").decode()
    children = [{"s": "0", "e": str(2**127 - 1), "p": "shardId-000000000000"},
                {"s": str(2**127), "e": str(MAX_HASH_KEY), "p": "shardId-000000000000"}]
    # a resharder that "dies" after closing the parent
    await engine.scripts.call("stream_reshard_begin", [keys.meta, keys.shards],
                              [str(clock.now_ms()), epoch, 2,
                               json.dumps({"parents": ["shardId-000000000000"],
                                           "children": children}),
                               "shardId-000000000000"])
    parent = keys.shard("shardId-000000000000")
    await engine.scripts.call("stream_close_shard", [parent.data, parent.state],
                              [str(clock.now_ms()), epoch])
    assert (await engine.stream_admin.summary(ref)).status == "UPDATING"
    clock.advance(STALE_RESHARD_MS / 1000 + 1)
    info = await engine.stream_admin.summary(ref)  # finds it stale and finishes it
    assert info.status == "ACTIVE" and info.open_shards == 2
    put = await engine.streams.put_record(ref, PutEntry(b"two", "k"))
    assert put.shard_id in ("shardId-000000000001", "shardId-000000000002")
    raw = await engine.redis.hget(keys.shards, "shardId-000000000000")
    assert msgpack.unpackb(raw)["se"]  # the parent got its ending sequence number



async def test_reshard_steps_cannot_cross(engine: Engine) -> None:
    """A parent checked by one caller but split meanwhile by another is refused at the
    begin step, and a late end step of a finished reshard cannot end a newer one."""
    ref = StreamRef(ACCOUNT, "racing")
    await engine.stream_admin.create(ref, 1)
    keys = StreamKeys(ACCOUNT, "racing")
    epoch = (await engine.redis.hget(keys.meta, "epoch") or b"").decode()
    await engine.resharding.split(ref, "shardId-000000000000", HALF)
    with pytest.raises(errors.InvalidArgumentException, match="already been merged"):
        await engine.scripts.call("stream_reshard_begin", [keys.meta, keys.shards],
                                  ["", epoch, 2, "{}", "shardId-000000000000"])
    # a newer reshard is under way (begun, parent closed) when a late end of the split
    # arrives: it changes nothing
    first = await engine.scripts.call(
        "stream_reshard_begin", [keys.meta, keys.shards],
        ["", epoch, 2, json.dumps({"parents": ["shardId-000000000001"], "children": []}),
         "shardId-000000000001"])
    assert await engine.scripts.call("stream_reshard_end", [keys.meta, keys.shards],
                                     [epoch, 1]) == 0
    assert (await engine.redis.hget(keys.meta, "reshard_first")) == str(first).encode()
    assert await engine.scripts.call("stream_reshard_end", [keys.meta, keys.shards],
                                     [epoch, first]) == 1


async def test_rescaling_keeps_nearby_boundaries(engine: Engine) -> None:
    """3 -> 6 splits each shard once (6 children), not into one-key slivers that are
    merged back: boundaries one key apart from existing ones are reused."""
    ref = StreamRef(ACCOUNT, "snapped")
    await engine.stream_admin.create(ref, 3)
    await engine.resharding.update_shard_count(ref, 6)
    shards = (await engine.stream_admin.describe(ref, limit=10_000))[0].shards
    assert len(shards) == 9 and sum(s.open for s in shards) == 6
    await engine.resharding.update_shard_count(ref, 3)
    shards = (await engine.stream_admin.describe(ref, limit=10_000))[0].shards
    assert len(shards) == 12 and sum(s.open for s in shards) == 3
