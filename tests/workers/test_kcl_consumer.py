"""The stream consumer in one process: consuming and checkpointing, resuming from
checkpoints, balancing and graceful handoff between workers, graceful shutdown,
resharding lineage, checkpoint fencing, initial positions, push retrieval."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator

import pytest

from broker.engine.leases import SHARD_END
from broker.engine.stream_types import Record
from broker.sdk import Client
from tests.conftest import TEST_LIMITS
from tests.workers.kcl_helpers import FAST, Recorder, Seen, eventually, factory
from workers.kcl import (
    AT_TIMESTAMP,
    LATEST,
    PUSH,
    Checkpointer,
    ConsumerConfig,
    InvalidCheckpointError,
    LeaseLostError,
    StreamConsumer,
)


@pytest.fixture
async def kclient(redis_url: str) -> AsyncIterator[Client]:
    async with Client(redis_url, limits=TEST_LIMITS) as c:
        yield c


@contextlib.asynccontextmanager
async def running(consumer: StreamConsumer) -> AsyncIterator[StreamConsumer]:
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        consumer.stop()
        await task


async def put(client: Client, stream: str, n: int, prefix: str = "r", keys: int = 16
              ) -> list[bytes]:
    s = client.stream(stream)
    data = [f"{prefix}{i}".encode() for i in range(n)]
    for i in range(0, n, 500):
        results = await s.put_batch((d, f"key-{j % keys}") for j, d in
                                    enumerate(data[i:i + 500], start=i))
        assert not any(r.error_code for r in results)
    return data


async def test_consumes_every_shard_and_resumes_from_checkpoints(kclient: Client) -> None:
    await kclient.create_stream("clicks", 4)
    sent = await put(kclient, "clicks", 400)
    seen = Seen()
    consumer = StreamConsumer(kclient, "clicks", "billing", factory(seen, "w1"),
                              worker_id="w1", config=FAST)
    async with running(consumer):
        await eventually(lambda: len(seen.records) >= 400, what="all records processed")
        assert consumer.held == sorted(s.shard_id for s in await kclient.stream("clicks")
                                       .shards())
    assert sorted(seen.data()) == sorted(sent)
    for shard in {s for _, s, _ in seen.records}:
        seqs = seen.by_shard(shard)
        assert seqs == sorted(seqs, key=int)  # in order within a shard
    assert sum(e == "shutdown_requested" for _, _, e in seen.events) == 4
    table = kclient.lease_table("billing", "clicks")
    state = await table.read(1500)
    assert all(lease.owner == "" for lease in state.leases.values())  # released on stop
    assert state.workers == []  # and left the registry

    # a new worker resumes after the checkpoints: only new records come
    more = await put(kclient, "clicks", 40, prefix="late")
    seen2 = Seen()
    async with running(StreamConsumer(kclient, "clicks", "billing", factory(seen2, "w2"),
                                      worker_id="w2", config=FAST)):
        await eventually(lambda: len(seen2.records) >= 40, what="new records processed")
        await asyncio.sleep(0.3)
    assert sorted(seen2.data()) == sorted(more)
    # another application reads the stream independently, from the start
    seen3 = Seen()
    async with running(StreamConsumer(kclient, "clicks", "analytics", factory(seen3, "a"),
                                      config=FAST)):
        await eventually(lambda: len(seen3.records) >= 440, what="second application")
    assert sorted(seen3.data()) == sorted(sent + more)


async def test_two_workers_balance_and_hand_over_on_shutdown(plain_url: str) -> None:
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        await client.create_stream("orders", 6)
        seen = Seen()
        first = StreamConsumer(client, "orders", "app", factory(seen, "w1"), worker_id="w1",
                               config=FAST)
        second = StreamConsumer(client, "orders", "app", factory(seen, "w2"),
                                worker_id="w2", config=FAST)
        async with running(first):
            await eventually(lambda: len(first.held) == 6, what="w1 takes all")
            async with running(second):
                # w2 steals through graceful handoffs: w1 checkpoints first
                await eventually(lambda: len(first.held) == 3 and len(second.held) == 3,
                                 what="3 and 3")
                assert ("w1", second.held[0], "shutdown_requested") in seen.events
                sent = await put(client, "orders", 300)
                await eventually(lambda: len(seen.records) >= 300, what="processed")
            # w2 stopped gracefully: w1 takes its shards at once, not after failover
            took = await eventually(lambda: len(first.held) == 6, what="w1 takes back")
            assert took < FAST.failover_s
            more = await put(client, "orders", 60, prefix="m")
            await eventually(lambda: len(seen.records) >= 360, what="processed after")
        assert sorted(seen.data()) == sorted(sent + more)  # nothing twice, nothing lost


async def test_parent_records_come_before_children_across_a_reshard(kclient: Client) -> None:
    stream = await kclient.create_stream("resharded", 2)
    seen = Seen()
    consumer = StreamConsumer(kclient, "resharded", "app", factory(seen, "w"),
                              config=FAST)
    async with running(consumer):
        before = await put(kclient, "resharded", 200, prefix="a", keys=8)
        [s0, s1] = await stream.shards()
        await stream.split_shard(s0.shard_id, (s0.start_hash + s0.end_hash) // 2)
        middle = await put(kclient, "resharded", 200, prefix="b", keys=8)
        shards = {s.shard_id for s in await stream.shards() if s.ending_sequence is None}
        await stream.merge_shards(*sorted(shards - {s1.shard_id})[:2])
        after = await put(kclient, "resharded", 200, prefix="c", keys=8)
        await eventually(lambda: len(seen.records) >= 600, what="all records")
        await eventually(lambda: len(consumer.held) == 2, what="only open shards held")
    assert sorted(seen.data()) == sorted(before + middle + after)
    # for every partition key, records are processed in the order they were put
    phase = {"a": 0, "b": 1000, "c": 2000}
    by_key: dict[str, list[int]] = {}
    for _, _, r in seen.records:
        by_key.setdefault(r.partition_key, []).append(phase[chr(r.data[0])] + int(r.data[1:]))
    for key, order in by_key.items():
        assert order == sorted(order), key
    state = await kclient.lease_table("app", "resharded").read(1500)
    ended = [lease for lease in state.leases.values() if lease.checkpoint == SHARD_END]
    assert len(ended) == 3 and all(lease.children for lease in ended)
    shard_ended = [s for _, s, e in seen.events if e == "shard_ended"]
    assert sorted(shard_ended) == sorted(lease.shard_id for lease in ended)


class Stalling(Recorder):
    """Checkpoints only when told to, so a test can steal the lease in between."""

    gate: asyncio.Event
    checkpointer: Checkpointer | None = None

    async def process_records(self, records: list[Record], checkpointer: Checkpointer,
                              millis_behind_latest: int) -> None:
        self.seen.records += [(self.worker, self.shard, r) for r in records]
        self.checkpointer = checkpointer
        await self.gate.wait()
        await checkpointer.checkpoint()


async def test_checkpoint_fencing_under_a_forced_steal(plain_url: str) -> None:
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        await client.create_stream("fenced", 1)
        await put(client, "fenced", 10)
        seen = Seen()
        stalled = Stalling(seen, "old")
        stalled.gate = asyncio.Event()
        slow = dataclasses.replace(FAST, failover_s=30.0, handoff_timeout_s=60.0)
        old = StreamConsumer(client, "fenced", "app", lambda: stalled, worker_id="old",
                             config=slow)
        async with running(old):
            await eventually(lambda: len(seen.records) == 10, what="old got the batch")
            table = client.lease_table("app", "fenced")
            [(shard_id, lease)] = (await table.read(30_000)).leases.items()
            # another worker steals the lease outright (no handoff) and checkpoints
            [stolen] = await table.take("thief", [(shard_id, lease.counter)])
            assert await table.checkpoint("thief", shard_id, stolen.token,
                                          seen.records[3][2].sequence_number)
            assert stalled.checkpointer is not None
            with pytest.raises(LeaseLostError, match="doesn't hold the lease"):
                await stalled.checkpointer.checkpoint()
            stalled.gate.set()
            after = (await table.read(30_000)).leases[shard_id]
            assert (after.owner, after.checkpoint) == ("thief", seen.records[3][2]
                                                       .sequence_number)
            await eventually(lambda: ("old", shard_id, "lease_lost") in seen.events,
                             what="old told of the loss")
            assert old.held == []
            assert (old.metrics.registry.get_sample_value(
                "redcurrent_kcl_checkpoint_failures_total", {"application": "app"}) or 0) >= 1


async def test_checkpoint_arguments_are_checked(plain_url: str) -> None:
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        await client.create_stream("checked", 1)
        await put(client, "checked", 5)
        seen = Seen()
        stalled = Stalling(seen, "w")
        stalled.gate = asyncio.Event()
        async with running(StreamConsumer(client, "checked", "app", lambda: stalled,
                                          config=FAST)):
            await eventually(lambda: stalled.checkpointer is not None, what="a batch")
            cp = stalled.checkpointer
            assert cp is not None
            last = seen.records[-1][2].sequence_number
            with pytest.raises(InvalidCheckpointError, match="past the last record"):
                await cp.checkpoint(str(int(last) + 1))
            with pytest.raises(InvalidCheckpointError, match="only for shard_ended"):
                await cp.checkpoint(SHARD_END)
            with pytest.raises(InvalidCheckpointError, match="not a sequence number"):
                await cp.checkpoint("soon")
            await cp.checkpoint(seen.records[2][2])
            with pytest.raises(InvalidCheckpointError, match="before its checkpoint"):
                await cp.checkpoint(seen.records[1][2])
            await cp.prepare_checkpoint()
            lease = next(iter((await client.lease_table("app", "checked").read(1500))
                              .leases.values()))
            assert (lease.checkpoint, lease.pending) == (seen.records[2][2].sequence_number,
                                                         last)
            stalled.gate.set()


class NoShardEndCheckpoint(Recorder):
    async def shard_ended(self, checkpointer: Checkpointer) -> None:
        self.seen.events.append((self.worker, self.shard, "shard_ended"))


async def test_shard_ended_without_checkpoint_says_so_and_children_wait(
        plain_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        stream = await client.create_stream("stuck", 1)
        await put(client, "stuck", 20)
        [parent] = await stream.shards()
        await stream.split_shard(parent.shard_id, (parent.start_hash + parent.end_hash) // 2)
        late = await put(client, "stuck", 20, prefix="child")
        seen = Seen()
        with caplog.at_level(logging.ERROR, logger="workers.kcl"):
            async with running(StreamConsumer(
                    client, "stuck", "app", lambda: NoShardEndCheckpoint(seen, "w"),
                    config=FAST)):
                await eventually(lambda: any(e == "shard_ended" for _, _, e in seen.events),
                                 what="shard_ended called")
                await asyncio.sleep(1.0)
        assert "didn't checkpoint at end of shard" in caplog.text
        assert not set(late) & set(seen.data())  # the children never started


async def test_initial_positions(plain_url: str) -> None:
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        await client.create_stream("positions", 2)
        await put(client, "positions", 50, prefix="old")
        await asyncio.sleep(0.05)
        mark = dt.datetime.now(dt.UTC)
        await asyncio.sleep(0.05)
        middle = await put(client, "positions", 30, prefix="mid")
        seen_latest, seen_ts = Seen(), Seen()
        latest = StreamConsumer(client, "positions", "latest", factory(seen_latest, "l"),
                                config=dataclasses.replace(FAST, initial_position=LATEST))
        at_ts = StreamConsumer(client, "positions", "ts", factory(seen_ts, "t"),
                               config=dataclasses.replace(FAST, initial_position=AT_TIMESTAMP,
                                                          initial_timestamp=mark))
        async with running(latest), running(at_ts):
            await eventually(lambda: len(latest.held) == 2 and len(seen_latest.events) >= 2,
                             what="LATEST initialised")
            new = await put(client, "positions", 20, prefix="new")
            await eventually(lambda: len(seen_latest.records) >= 20, what="LATEST reads")
            await eventually(lambda: len(seen_ts.records) >= 50, what="AT_TIMESTAMP reads")
        assert sorted(seen_latest.data()) == sorted(new)
        assert sorted(seen_ts.data()) == sorted(middle + new)
    with pytest.raises(ValueError, match="initial_timestamp"):
        ConsumerConfig(initial_position=AT_TIMESTAMP)


async def test_push_retrieval(kclient: Client) -> None:
    await kclient.create_stream("pushed", 2)
    sent = await put(kclient, "pushed", 100)
    seen = Seen()
    consumer = StreamConsumer(kclient, "pushed", "pusher", factory(seen, "p"),
                              config=dataclasses.replace(FAST, retrieval=PUSH))
    async with running(consumer):
        await eventually(lambda: len(seen.records) >= 100, what="pushed records")
        more = await put(kclient, "pushed", 50, prefix="live")
        await eventually(lambda: len(seen.records) >= 150, what="live records")
    assert sorted(seen.data()) == sorted(sent + more)
    assert [c.name for c in await kclient.stream("pushed").consumers()] == ["pusher"]


async def test_metrics(plain_url: str) -> None:
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        await client.create_stream("measured", 2)
        await put(client, "measured", 30)
        seen = Seen()
        consumer = StreamConsumer(client, "measured", "m", factory(seen, "w"),
                                  worker_id="w", config=FAST)
        reg = consumer.metrics.registry
        async with running(consumer):
            await eventually(lambda: len(seen.records) >= 30, what="records")
            await eventually(lambda: reg.get_sample_value(
                "redcurrent_kcl_leases_held", {"application": "m", "worker": "w"}) == 2,
                what="leases gauge")
            total = sum(reg.get_sample_value("redcurrent_kcl_records_processed_total",
                                             {"application": "m", "shard": s}) or 0
                        for s in consumer.held)
            assert total == 30
            behind = [reg.get_sample_value("redcurrent_kcl_millis_behind_latest",
                                           {"application": "m", "shard": s})
                      for s in consumer.held]
            assert all(b is not None for b in behind)


async def test_http_clients_cannot_hold_leases(plain_url: str) -> None:
    async with Client("http://127.0.0.1:1") as client:
        with pytest.raises(ValueError, match="redis://"):
            StreamConsumer(client, "s", "app", lambda: Recorder(Seen(), "w"))


class SlowShutdown(Recorder):
    async def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        await asyncio.sleep(FAST.failover_s * 1.5)  # longer than the failover time
        await super().shutdown_requested(checkpointer)


async def test_leases_stay_renewed_while_processors_shut_down(plain_url: str) -> None:
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        await client.create_stream("slow", 1)
        await put(client, "slow", 5)
        seen = Seen()
        consumer = StreamConsumer(client, "slow", "app", lambda: SlowShutdown(seen, "w"),
                                  worker_id="w", config=FAST)
        async with running(consumer):
            await eventually(lambda: len(seen.records) == 5, what="records")
        assert ("w", seen.records[0][1], "shutdown_requested") in seen.events
        assert not any(e == "lease_lost" for _, _, e in seen.events)
        [lease] = (await client.lease_table("app", "slow").read(1500)).leases.values()
        assert (lease.owner, lease.checkpoint) == ("", seen.records[-1][2].sequence_number)


class FailsAlways(Recorder):
    async def process_records(self, records: list[Record], checkpointer: Checkpointer,
                              millis_behind_latest: int) -> None:
        self.seen.events.append((self.worker, self.shard, "failed"))
        raise RuntimeError("cannot process")


async def test_a_failed_batch_is_not_checkpointed_on_shutdown(plain_url: str) -> None:
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        await client.create_stream("failing", 1)
        await put(client, "failing", 10)
        seen = Seen()
        async with running(StreamConsumer(client, "failing", "app",
                                          lambda: FailsAlways(seen, "w"), config=FAST)):
            await eventually(lambda: sum(e == "failed" for _, _, e in seen.events) >= 2,
                             what="retried")
        assert ("w", seen.events[0][1], "shutdown_requested") in seen.events
        [lease] = (await client.lease_table("app", "failing").read(1500)).leases.values()
        assert lease.checkpoint == "TRIM_HORIZON"  # the failed batch comes again


async def test_reshard_order_holds_across_workers(plain_url: str) -> None:
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        stream = await client.create_stream("spread", 2)
        seen = Seen()
        workers = [StreamConsumer(client, "spread", "app", factory(seen, w), worker_id=w,
                                  config=FAST) for w in ("w1", "w2")]
        async with running(workers[0]), running(workers[1]):
            await eventually(lambda: all(len(w.held) == 1 for w in workers), what="1 and 1")
            before = await put(client, "spread", 300, prefix="a", keys=12)
            for s in await stream.shards():
                await stream.split_shard(s.shard_id, (s.start_hash + s.end_hash) // 2)
            after = await put(client, "spread", 300, prefix="b", keys=12)
            await eventually(lambda: len(seen.records) >= 600, what="all records")
        assert sorted(seen.data()) == sorted(before + after)
        assert {w for w, _, _ in seen.records} == {"w1", "w2"}
        last_a: dict[str, int] = {}
        first_b: dict[str, int] = {}
        for i, (_, _, r) in enumerate(seen.records):
            (last_a if r.data.startswith(b"a") else first_b).setdefault(r.partition_key, i)
            if r.data.startswith(b"a"):
                last_a[r.partition_key] = i
        assert all(last_a[k] < first_b[k] for k in first_b)
