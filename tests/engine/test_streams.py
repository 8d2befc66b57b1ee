"""Kinesis streams in the engine (standalone and cluster, where every shard lives in a
slot of its own): management, Kinesis's routing, sequence numbers, every iterator type,
expiry and tampering, retention, order under concurrent writers."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

import pytest

from broker import Limits, ManualClock, errors
from broker.engine import Engine
from broker.engine.stream_admin import StreamRef
from broker.engine.stream_routing import MAX_HASH_KEY, even_ranges
from broker.engine.streams import PutEntry

ACCOUNT = "000000000000"


def test_even_ranges_match_kinesis_layouts() -> None:
    # what CreateStream answers for 1, 2 and 3 shards
    assert even_ranges(1) == [(0, MAX_HASH_KEY)]
    assert even_ranges(2) == [(0, 170141183460469231731687303715884105727),
                              (170141183460469231731687303715884105728, MAX_HASH_KEY)]
    three = even_ranges(3)
    assert three[0][1] == 113427455640312821154458202477256070484
    assert three[1] == (113427455640312821154458202477256070485,
                        226854911280625642308916404954512140969)
    assert three[2][1] == MAX_HASH_KEY


async def test_stream_management(engine: Engine) -> None:
    admin = engine.stream_admin
    ref = StreamRef(ACCOUNT, "clicks")
    await admin.create(ref, 3, tags={"team": "web"})
    with pytest.raises(errors.ResourceInUseException, match="already exists"):
        await admin.create(ref, 1)
    info, more = await admin.describe(ref)
    assert (info.status, info.mode, info.retention_hours, more) == ("ACTIVE", "PROVISIONED",
                                                                   24, False)
    assert [s.shard_id for s in info.shards] == [f"shardId-00000000000{i}" for i in range(3)]
    assert info.arn == f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks"
    page, more = await admin.describe(ref, limit=2)
    assert len(page.shards) == 2 and more
    shards, token = await admin.list_shards(ref, max_results=2)
    assert len(shards) == 2 and token
    rest, token = await admin.list_shards(ref, next_token=token)
    assert [s.shard_id for s in rest] == ["shardId-000000000002"] and token is None
    after, _ = await admin.list_shards(ref, shard_filter={"Type": "AFTER_SHARD_ID",
                                                          "ShardId": "shardId-000000000000"})
    assert len(after) == 2
    await admin.create(StreamRef(ACCOUNT, "views"), None, "ON_DEMAND")
    streams, more, _ = await admin.list_streams(ACCOUNT)
    assert [s.name for s in streams] == ["clicks", "views"] and not more
    assert streams[1].open_shards == 4 and streams[1].mode == "ON_DEMAND"
    assert await admin.list_tags(ref) == ({"team": "web"}, False)
    await admin.add_tags(ref, {"tier": "1"})
    await admin.remove_tags(ref, ["team"])
    assert (await admin.list_tags(ref))[0] == {"tier": "1"}
    await admin.set_retention(ref, 48, increase=True)
    with pytest.raises(errors.InvalidArgumentException, match="can not be shorter"):
        await admin.set_retention(ref, 30, increase=True)
    with pytest.raises(errors.InvalidArgumentException, match="too long"):
        await admin.set_retention(ref, 9000, increase=True)
    await admin.set_retention(ref, 24, increase=False)
    limits = await admin.limits(ACCOUNT)
    assert limits["OpenShardCount"] == 7 and limits["OnDemandStreamCount"] == 1
    for bad in ("has space", "x" * 129, ""):
        with pytest.raises(errors.ValidationException):
            await admin.create(StreamRef(ACCOUNT, bad), 1)
    with pytest.raises(errors.ValidationException):
        await admin.create(StreamRef(ACCOUNT, "zero"), 0)
    await admin.delete(ref)
    with pytest.raises(errors.ResourceNotFoundException, match="clicks under account"):
        await admin.describe(ref)
    with pytest.raises(errors.ResourceNotFoundException):
        await admin.delete(ref)


async def test_routing_and_reading(engine: Engine) -> None:
    ref = StreamRef(ACCOUNT, "routed")
    await engine.stream_admin.create(ref, 4)
    keys = [f"user-{i}" for i in range(40)]
    results, failed = await engine.streams.put_records(
        ref, [PutEntry(k.encode(), k) for k in keys])
    assert failed == 0
    ranges = even_ranges(4)
    for k, r in zip(keys, results, strict=True):
        h = int(hashlib.md5(k.encode()).hexdigest(), 16)  # noqa: S324
        want = next(i for i, (lo, hi) in enumerate(ranges) if lo <= h <= hi)
        assert r.shard_id == f"shardId-{want:012d}"
        assert r.sequence_number.isdigit()
    explicit = await engine.streams.put_record(
        ref, PutEntry(b"x", "any", explicit_hash_key=str(MAX_HASH_KEY)))
    assert explicit.shard_id == "shardId-000000000003"
    for shard in (f"shardId-{i:012d}" for i in range(4)):
        it = await engine.streams.get_shard_iterator(ref, shard, "TRIM_HORIZON")
        got = await engine.streams.get_records(it)
        mine = [r for r in [*results, explicit] if r.shard_id == shard]
        assert [r.sequence_number for r in got.records] == [r.sequence_number for r in mine]
        assert got.millis_behind_latest == 0 and got.next_iterator
        assert all(r.data == r.partition_key.encode() for r in got.records
                   if r.partition_key != "any")
        empty = await engine.streams.get_records(got.next_iterator)
        assert empty.records == [] and empty.next_iterator


async def test_iterator_types(engine: Engine) -> None:
    ref = StreamRef(ACCOUNT, "positions")
    await engine.stream_admin.create(ref, 1)
    s = engine.streams
    shard = "shardId-000000000000"
    first = [await s.put_record(ref, PutEntry(f"r{i}".encode(), "k")) for i in range(5)]
    latest = await s.get_shard_iterator(ref, shard, "LATEST")
    at = await s.get_shard_iterator(ref, shard, "AT_SEQUENCE_NUMBER",
                                    first[2].sequence_number)
    after = await s.get_shard_iterator(ref, shard, "AFTER_SEQUENCE_NUMBER",
                                       first[2].sequence_number)
    assert [r.data for r in (await s.get_records(at)).records] == [b"r2", b"r3", b"r4"]
    assert [r.data for r in (await s.get_records(after)).records] == [b"r3", b"r4"]
    await s.put_record(ref, PutEntry(b"new", "k"))
    assert [r.data for r in (await s.get_records(latest)).records] == [b"new"]
    past = await s.get_shard_iterator(ref, shard, "AT_TIMESTAMP",
                                      timestamp=dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
    page = await s.get_records(past, limit=2)
    assert [r.data for r in page.records] == [b"r0", b"r1"] and page.millis_behind_latest >= 0
    rest = await s.get_records(page.next_iterator or "")
    assert [r.data for r in rest.records] == [b"r2", b"r3", b"r4", b"new"]
    future = await s.get_shard_iterator(ref, shard, "AT_TIMESTAMP",
                                        timestamp=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    assert (await s.get_records(future)).records == []
    with pytest.raises(errors.InvalidArgumentException, match="StartingSequenceNumber"):
        await s.get_shard_iterator(ref, shard, "AT_SEQUENCE_NUMBER")
    with pytest.raises(errors.InvalidArgumentException, match="invalid"):
        await s.get_shard_iterator(ref, shard, "AT_SEQUENCE_NUMBER", "12")
    with pytest.raises(errors.ResourceNotFoundException, match="shardId-000000000009"):
        await s.get_shard_iterator(ref, "shardId-000000000009", "LATEST")
    with pytest.raises(errors.ValidationException):
        await s.get_shard_iterator(ref, shard, "SOMEWHERE")
    tampered = latest[:-4] + ("AAAA" if latest[-4:] != "AAAA" else "BBBB")
    with pytest.raises(errors.InvalidArgumentException, match="Invalid ShardIterator"):
        await s.get_records(tampered)
    with pytest.raises(errors.InvalidArgumentException):
        await s.get_records("not an iterator")
    await engine.stream_admin.delete(ref)
    await engine.stream_admin.create(ref, 1)
    with pytest.raises(errors.ResourceNotFoundException):
        await s.get_records(latest)  # an iterator of the deleted incarnation


async def test_expiry_and_retention(clocked_engine: Engine, clock: ManualClock) -> None:
    engine = clocked_engine
    ref = StreamRef(ACCOUNT, "aging")
    await engine.stream_admin.create(ref, 1)
    s = engine.streams
    shard = "shardId-000000000000"
    await s.put_record(ref, PutEntry(b"old", "k"))
    it = await s.get_shard_iterator(ref, shard, "TRIM_HORIZON")
    clock.advance(301)
    with pytest.raises(errors.ExpiredIteratorException, match="Iterator expired"):
        await s.get_records(it)
    clock.advance(23 * 3600)
    await s.put_record(ref, PutEntry(b"young", "k"))
    it = await s.get_shard_iterator(ref, shard, "TRIM_HORIZON")
    got = await s.get_records(it)
    assert [r.data for r in got.records] == [b"old", b"young"]
    clock.advance(3600)  # "old" is now past the 24 h retention
    it = await s.get_shard_iterator(ref, shard, "TRIM_HORIZON")
    assert [r.data for r in (await s.get_records(it)).records] == [b"young"]
    behind = await s.get_records(await s.get_shard_iterator(ref, shard, "TRIM_HORIZON"),
                                 limit=1)
    assert behind.millis_behind_latest == 0


async def test_put_validation(engine: Engine) -> None:
    ref = StreamRef(ACCOUNT, "strict")
    await engine.stream_admin.create(ref, 1)
    s = engine.streams
    with pytest.raises(errors.ValidationException, match="partitionKey"):
        await s.put_record(ref, PutEntry(b"x", ""))
    with pytest.raises(errors.ValidationException, match="partitionKey"):
        await s.put_record(ref, PutEntry(b"x", "k" * 257))
    with pytest.raises(errors.ValidationException, match="data"):
        await s.put_record(ref, PutEntry(b"x" * 1_048_576, "k"))
    with pytest.raises(errors.InvalidArgumentException, match="ExplicitHashKey"):
        await s.put_record(ref, PutEntry(b"x", "k", explicit_hash_key=str(MAX_HASH_KEY + 1)))
    with pytest.raises(errors.ValidationException, match="500"):
        await s.put_records(ref, [PutEntry(b"x", "k")] * 501)
    with pytest.raises(errors.ValidationException):
        await s.put_records(ref, [])
    with pytest.raises(errors.ResourceNotFoundException):
        await s.put_record(StreamRef(ACCOUNT, "missing"), PutEntry(b"x", "k"))


async def test_order_within_a_shard_under_concurrent_writers(engine: Engine) -> None:
    ref = StreamRef(ACCOUNT, "busy")
    await engine.stream_admin.create(ref, 2)
    s = engine.streams

    async def writer(w: int) -> list[str]:
        return [(await s.put_record(ref, PutEntry(f"{w}:{i}".encode(), f"key-{w}")))
                .sequence_number for i in range(30)]

    written = await asyncio.gather(*(writer(w) for w in range(8)))
    for seqs in written:
        assert seqs == sorted(seqs, key=int)  # each writer's records in its order
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        got = await s.get_records(await s.get_shard_iterator(ref, shard, "TRIM_HORIZON"))
        seqs = [int(r.sequence_number) for r in got.records]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        for w in range(8):
            mine = [r.data for r in got.records if r.partition_key == f"key-{w}"]
            assert mine == [f"{w}:{i}".encode() for i in range(len(mine))]


async def test_provisioned_throughput_limits(redis_url: str, clock: ManualClock) -> None:
    """With limits on (the default outside tests), a provisioned shard takes 1,000
    records/s and 1 MiB/s and serves 5 reads/s and 2 MiB/s; a stream tagged
    redcurrent:throughput-limits=off and an on-demand stream are never throttled."""
    limits = Limits(stream_throughput_limits=True)
    async with Engine.from_url(redis_url, clock=clock, limits=limits) as engine:
        s, admin = engine.streams, engine.stream_admin
        ref = StreamRef(ACCOUNT, "metered")
        await admin.create(ref, 1)
        results, failed = await s.put_records(ref, [PutEntry(b"x", "k")] * 500)
        assert failed == 0
        results, failed = await s.put_records(ref, [PutEntry(b"x", "k")] * 500)
        assert failed == 0
        results, failed = await s.put_records(ref, [PutEntry(b"x", "k")] * 3)
        assert failed == 3
        assert results[0].error_code == "ProvisionedThroughputExceededException"
        assert "Rate exceeded for shard shardId-000000000000" in (results[0].error_message
                                                                  or "")
        with pytest.raises(errors.ProvisionedThroughputExceededException):
            await s.put_record(ref, PutEntry(b"x", "k"))
        clock.advance(1)
        big = b"y" * 600_000
        assert (await s.put_record(ref, PutEntry(big, "k"))).sequence_number
        with pytest.raises(errors.ProvisionedThroughputExceededException):
            await s.put_record(ref, PutEntry(big, "k"))  # over 1 MiB in this second
        clock.advance(1)
        it = await s.get_shard_iterator(ref, "shardId-000000000000", "TRIM_HORIZON")
        for _ in range(5):
            await s.get_records(it, limit=1)
        with pytest.raises(errors.ProvisionedThroughputExceededException):
            await s.get_records(it, limit=1)
        for _ in range(2):
            clock.advance(1)
            await s.put_records(ref, [PutEntry(b"z" * 500_000, f"k{i}") for i in range(2)])
        clock.advance(1)
        page = await s.get_records(await s.get_shard_iterator(ref, "shardId-000000000000",
                                                              "TRIM_HORIZON"))
        assert len(page.records) == 1005  # 2.6 MB: the next second's budget is spent
        with pytest.raises(errors.ProvisionedThroughputExceededException):
            await s.get_records(page.next_iterator or "")
        clock.advance(2)
        await s.get_records(page.next_iterator or "")
        await admin.add_tags(ref, {"redcurrent:throughput-limits": "off"})
        for _ in range(3):
            await s.put_records(ref, [PutEntry(b"x", "k")] * 500)
        await admin.remove_tags(ref, ["redcurrent:throughput-limits"])
        for _ in range(2):
            await s.put_records(ref, [PutEntry(b"x", "k")] * 500)
        with pytest.raises(errors.ProvisionedThroughputExceededException):
            await s.put_record(ref, PutEntry(b"x", "k"))
        elastic = StreamRef(ACCOUNT, "elastic")
        await admin.create(elastic, 1, "ON_DEMAND")
        for _ in range(3):
            assert (await s.put_records(elastic, [PutEntry(b"x", "k")] * 500))[1] == 0


@pytest.mark.parametrize("metered", [False, True])
async def test_get_records_stops_at_10_mib(redis_url: str, clock: ManualClock,
                                           metered: bool) -> None:
    """A GetRecords reply holds at most 10 MiB (at least one record), metered or not,
    and the next iterator continues right after it; sequence numbers out of a stream
    entry id's range are refused, not a server error."""
    limits = Limits(stream_throughput_limits=metered)
    async with Engine.from_url(redis_url, clock=clock, limits=limits) as engine:
        ref = StreamRef(ACCOUNT, "heavy")
        await engine.stream_admin.create(ref, 1)
        s = engine.streams
        big = b"z" * 900_000
        for i in range(14):  # 12.6 MB, one second's write budget at a time
            clock.advance(1)
            await s.put_record(ref, PutEntry(big, f"k{i}"))
        clock.advance(1)
        it = await s.get_shard_iterator(ref, "shardId-000000000000", "TRIM_HORIZON")
        first = await s.get_records(it)
        assert len(first.records) == 11  # 11 x 0.9 MB <= 10 MiB < 12 x 0.9 MB
        clock.advance(10)
        rest = await s.get_records(first.next_iterator or "")
        assert [r.partition_key for r in rest.records] == ["k11", "k12", "k13"]
        with pytest.raises(errors.InvalidArgumentException):
            await s.get_shard_iterator(ref, "shardId-000000000000", "AT_SEQUENCE_NUMBER",
                                       "49" + "9" * 40)
