"""``python -m loadtest streams``: Kinesis streams through the public SDK (in-process
engine), 4 shards, 1 KiB records, throughput limits off.

Scenarios:

1. ``put``        N coroutines send PutRecords of 500 records (random partition keys)
                  -> records/s
2. ``get``        one GetRecords loop per shard (Limit 10,000) reads everything put in 1
                  -> records/s
3. ``subscribe``  records put at a fixed rate while one SubscribeToShard subscriber per
                  shard receives: put returned -> record received (p50/p99)
4. ``poll``       the same with a GetRecords loop per shard (idle pause 10 ms) instead
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from broker import Client, Stream, record
from broker.engine.stream_admin import LIMITS_TAG
from loadtest import harness
from loadtest.harness import progress, say
from loadtest.stats import fmt_latency, summarize

NAME = "streams"
SCENARIOS: dict[str, tuple[int, str]] = {
    "put": (1, "PutRecords (500) throughput"),
    "get": (2, "GetRecords throughput"),
    "subscribe": (3, "put-to-consumer latency, SubscribeToShard"),
    "poll": (4, "put-to-consumer latency, GetRecords loop"),
}
SHARDS = 4
TARGET_PUT_S = 50_000
TARGET_GET_S = 100_000
TARGET_PUSH_P99_MS = 10.0
TARGET_POLL_P99_MS = 50.0
POLL_IDLE_S = 0.01
DEFAULTS: dict[str, tuple[int, int]] = {
    "count": (500_000, 50_000),
    "rate": (1_000, 500),
    "seconds": (10, 3),
}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help="Kinesis streams: PutRecords and GetRecords throughput, put-to-consumer "
                   "latency", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_server_arguments(p)
    p.add_argument("--quick", action="store_true", help="scale the counts down")
    p.add_argument("--only", type=harness.scenario_list(SCENARIOS), default=None,
                   metavar="LIST", help="put,get,subscribe,poll (default all)")
    p.add_argument("--producers", type=harness.positive_int, default=4, metavar="N",
                   help="PutRecords coroutines in scenario 1 (default 4)")
    p.add_argument("--count", type=harness.positive_int, default=None, metavar="N",
                   help="records put in scenario 1 (default 500000; quick 50000)")
    p.add_argument("--rate", type=harness.positive_int, default=None, metavar="R",
                   help="records/s put in scenarios 3 and 4 (default 1000; quick 500)")
    p.add_argument("--seconds", type=harness.positive_int, default=None, metavar="S",
                   help="duration of scenarios 3 and 4 (default 10; quick 3)")
    p.set_defaults(func=main, parser=p)
    return p


def main(args: argparse.Namespace) -> int:
    harness.apply_defaults(args, DEFAULTS, SCENARIOS)
    return harness.run(_main(args))


async def _stream(client: Client, name: str) -> Stream:
    return await client.create_stream(name, SHARDS, tags={LIMITS_TAG: "off"})


async def scenario_put(args: argparse.Namespace, stream: Stream, server: Any
                       ) -> dict[str, Any]:
    data = os.urandom(args.body_size)
    batches = [[record(data, uuid.uuid4().hex) for _ in range(500)] for _ in range(16)]
    todo = iter(range(0, args.count, 500))
    latencies: list[int] = []
    failed = 0
    cpu = harness.CpuMeter(server)
    await cpu.start()

    async def producer(n: int) -> None:
        nonlocal failed
        for i in todo:
            t0 = time.perf_counter_ns()
            results = await stream.put_batch(batches[(i // 500 + n) % len(batches)])
            latencies.append(time.perf_counter_ns() - t0)
            failed += sum(1 for r in results if r.error_code)

    await asyncio.gather(*(producer(n) for n in range(args.producers)))
    usage = await cpu.stop()
    rate = args.count / usage["wall_s"]
    res = {"records": args.count, "producers": args.producers, "failed": failed,
           "elapsed_s": usage["wall_s"], "records_per_s": rate,
           "call_latency_ms": summarize(latencies, 1e-6), "cpu": usage,
           "pass": rate >= TARGET_PUT_S and failed == 0}
    say(f"  {args.count:,} records ({args.body_size} B) in {usage['wall_s']:.2f} s = "
        f"{rate:,.0f} records/s (target >= {TARGET_PUT_S:,}), failed {failed} -> "
        f"{'PASS' if res['pass'] else 'MISS'}")
    say(f"  PutRecords call: {fmt_latency(res['call_latency_ms'])}")
    _cpu_line(usage, args.count, "record")
    return res


async def scenario_get(args: argparse.Namespace, stream: Stream, server: Any
                       ) -> dict[str, Any]:
    shards = [s.shard_id for s in await stream.shards()]
    cpu = harness.CpuMeter(server)
    await cpu.start()
    counts: list[int] = []

    async def reader(shard_id: str) -> None:
        it: str | None = await stream.iterator(shard_id)
        n = 0
        while it is not None:
            page = await stream.get_records(it, 10_000)
            if not page.records:
                break
            n += len(page.records)
            it = page.next_iterator
        counts.append(n)

    await asyncio.gather(*(reader(s) for s in shards))
    usage = await cpu.stop()
    total = sum(counts)
    rate = total / usage["wall_s"]
    res = {"records": total, "elapsed_s": usage["wall_s"], "records_per_s": rate,
           "cpu": usage, "pass": rate >= TARGET_GET_S and total >= args.count}
    say(f"  {total:,} records read from {len(shards)} shards in {usage['wall_s']:.2f} s = "
        f"{rate:,.0f} records/s (target >= {TARGET_GET_S:,}) -> "
        f"{'PASS' if res['pass'] else 'MISS'}")
    _cpu_line(usage, total, "record")
    return res


async def scenario_latency(args: argparse.Namespace, client: Client, run: str,
                           push: bool) -> dict[str, Any]:
    stream = await _stream(client, f"lt-{run}-{'push' if push else 'poll'}")
    shards = [s.shard_id for s in await stream.shards()]
    received: dict[bytes, int] = {}
    total = args.rate * args.seconds
    done = asyncio.Event()
    consumer = await stream.register_consumer("loadtest") if push else None

    def seen(data: bytes) -> None:
        received[data] = time.perf_counter_ns()
        if len(received) >= total:
            done.set()

    async def subscriber(shard_id: str) -> None:
        assert consumer is not None
        async for event in stream.subscribe(consumer, shard_id, "LATEST"):
            for r in event.records:
                seen(r.data)

    async def poller(shard_id: str) -> None:
        it: str | None = await stream.iterator(shard_id, "LATEST")
        while it is not None:
            page = await stream.get_records(it)
            for r in page.records:
                seen(r.data)
            it = page.next_iterator
            if not page.records:
                await asyncio.sleep(POLL_IDLE_S)

    loop: Callable[[str], Coroutine[Any, Any, None]] = subscriber if push else poller
    readers = [asyncio.create_task(loop(s)) for s in shards]
    await asyncio.sleep(0.5)  # subscribed / iterators taken before the first put
    returned: dict[bytes, int] = {}
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        key = f"{i}-{uuid.uuid4().hex}".encode()
        await stream.put(key, key.decode())
        returned[key] = time.perf_counter_ns()
        if i and i % args.rate == 0:
            progress(f"  {i:,}/{total:,} put")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), 10)
    for t in readers:
        t.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    lat = [max(0, received[k] - t) for k, t in returned.items() if k in received]
    s = summarize(lat, 1e-6)
    target = TARGET_PUSH_P99_MS if push else TARGET_POLL_P99_MS
    res = {"rate": args.rate, "seconds": args.seconds, "put": total,
           "received": len(lat), "latency_ms": s,
           "pass": len(lat) == total and s["p99"] < target}
    how = "SubscribeToShard" if push else f"GetRecords loop ({POLL_IDLE_S * 1000:.0f} ms " \
                                          f"idle pause)"
    say(f"  {total:,} records at {args.rate:,}/s over {len(shards)} shards, received: "
        f"{len(lat):,}")
    say(f"  put returned -> received ({how}): {fmt_latency(s)} (target p99 < {target} ms) "
        f"-> {'PASS' if res['pass'] else 'MISS'}")
    with contextlib.suppress(Exception):
        await stream.delete()
    return res


def _cpu_line(usage: dict[str, float], n: int, unit: str) -> None:
    say(f"  CPU: this process {usage['client_cores']:.2f} cores "
        f"({usage['client_cpu_s'] * 1e6 / max(n, 1):.1f} us/{unit}), redis-server "
        f"{usage['redis_cores']:.2f} cores ({usage['redis_cpu_s'] * 1e6 / max(n, 1):.1f} "
        f"us/{unit})")


async def _main(args: argparse.Namespace) -> int:
    started = time.time()
    results: dict[str, Any] = {}
    machine = harness.machine_facts()
    machine["calibration_ms_start"] = harness.calibrate()
    run = uuid.uuid4().hex[:8]
    async with harness.redis_server(args) as server, Client(server.url) as client:
        say(f"loadtest streams: {machine['cpus']} CPUs ({machine['cpu_model']}), Python "
            f"{machine['python']}, {harness.loop_name()}; redis-server "
            f"{server.facts['redis_version']}, appendfsync {server.fsync}; calibration "
            f"{machine['calibration_ms_start']:.1f} ms")
        stream = await _stream(client, f"lt-{run}-bulk")
        for key, (number, title) in SCENARIOS.items():
            if key not in args.only:
                continue
            say(f"\n[{number}] {title}")
            if args.wait_idle > 0:
                await harness.wait_idle(args.wait_idle, server.pids)
            if key == "put":
                results[key] = await scenario_put(args, stream, server)
            elif key == "get":
                if "put" not in args.only:
                    say("  (needs records: run with put)")
                    continue
                results[key] = await scenario_get(args, stream, server)
            else:
                results[key] = await scenario_latency(args, client, run, key == "subscribe")
        with contextlib.suppress(Exception):
            await stream.delete()
    return harness.finish(NAME, args, started, machine, results)
