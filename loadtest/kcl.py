"""``python -m loadtest kcl``: the KCL-style stream consumer (``workers.kcl``) in one
worker process, a stream of 4 shards, a no-op record processor that checkpoints every
1,000 records.

The stream is filled first (PutRecords of 500, throughput limits off); then one
``StreamConsumer`` starts in this process, creates and takes the 4 leases, and reads
every record with GetRecords loops (Limit 10,000). Reported: records/s from the start of
the consumer to the last record processed (lease set-up included), records/s from the
first record to the last, and checkpoints written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

from broker import Client, record
from broker.engine.stream_admin import LIMITS_TAG
from broker.engine.stream_types import Record
from loadtest import harness
from loadtest.harness import progress, say
from workers.kcl import Checkpointer, ConsumerConfig, RecordProcessor, StreamConsumer

NAME = "kcl"
SCENARIOS: dict[str, tuple[int, str]] = {"consume": (1, "one worker, 4 shards, no-op")}
SHARDS = 4
TARGET_S = 50_000
CHECKPOINT_EVERY = 1_000
DEFAULTS: dict[str, tuple[int, int]] = {"count": (500_000, 50_000)}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help="the KCL-style stream consumer: records/s of one worker process",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_server_arguments(p)
    p.add_argument("--quick", action="store_true", help="scale the counts down")
    p.add_argument("--count", type=harness.positive_int, default=None, metavar="N",
                   help="records in the stream (default 500000; quick 50000)")
    p.add_argument("--retrieval", choices=("polling", "push"), default="polling",
                   help="GetRecords loops (default) or SubscribeToShard")
    p.set_defaults(func=main, parser=p, only=None)
    return p


def main(args: argparse.Namespace) -> int:
    harness.apply_defaults(args, DEFAULTS, SCENARIOS)
    return harness.run(_main(args))


class Counting(RecordProcessor):
    """No-op: counts, and checkpoints at every 1,000th record."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    async def process_records(self, records: list[Record], checkpointer: Checkpointer,
                              millis_behind_latest: int) -> None:
        s = self.state
        if s["first_ns"] == 0:
            s["first_ns"] = time.perf_counter_ns()
        before = s["n"]
        s["n"] += len(records)
        # the records whose running number is a multiple of 1,000
        first = (before // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
        for k in range(first, s["n"] + 1, CHECKPOINT_EVERY):
            await checkpointer.checkpoint(records[k - before - 1])
            s["checkpoints"] += 1
        if s["n"] >= s["total"]:
            s["last_ns"] = time.perf_counter_ns()
            s["done"].set()


async def fill(args: argparse.Namespace, client: Client, name: str) -> None:
    stream = await client.create_stream(name, SHARDS, tags={LIMITS_TAG: "off"})
    data = os.urandom(args.body_size)
    batches = [[record(data, uuid.uuid4().hex) for _ in range(500)] for _ in range(16)]
    todo = iter(range(0, args.count, 500))

    async def producer(n: int) -> None:
        for i in todo:
            results = await stream.put_batch(batches[(i // 500 + n) % len(batches)])
            assert not any(r.error_code for r in results), "PutRecords failed"
            if i % 50_000 == 0:
                progress(f"  filling: {i:,}/{args.count:,}")

    await asyncio.gather(*(producer(n) for n in range(4)))


async def scenario_consume(args: argparse.Namespace, client: Client, name: str,
                           server: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"n": 0, "total": args.count, "checkpoints": 0, "first_ns": 0,
                             "last_ns": 0, "done": asyncio.Event()}
    config = ConsumerConfig(retrieval=args.retrieval)
    consumer = StreamConsumer(client, name, "loadtest", lambda: Counting(state),
                              config=config)
    cpu = harness.CpuMeter(server)
    await cpu.start()
    started = time.perf_counter_ns()
    task = asyncio.create_task(consumer.run())
    while not state["done"].is_set():
        try:
            await asyncio.wait_for(state["done"].wait(), 2)
        except TimeoutError:
            progress(f"  consumed {state['n']:,}/{args.count:,}")
            if task.done():
                break
    usage = await cpu.stop()
    consumer.stop()
    await task
    n = state["n"]
    total_s = (state["last_ns"] - started) / 1e9 if state["last_ns"] else usage["wall_s"]
    steady_s = (state["last_ns"] - state["first_ns"]) / 1e9 if state["last_ns"] else 0.0
    rate = n / total_s if total_s else 0.0
    steady = n / steady_s if steady_s else 0.0
    res = {"records": n, "shards": SHARDS, "retrieval": args.retrieval,
           "checkpoints": state["checkpoints"], "elapsed_s": total_s,
           "records_per_s": rate, "steady_s": steady_s, "steady_records_per_s": steady,
           "cpu": usage, "pass": n >= args.count and rate >= TARGET_S}
    say(f"  {n:,} records ({args.body_size} B) from {SHARDS} shards in {total_s:.2f} s from "
        f"the consumer's start = {rate:,.0f} records/s (target >= {TARGET_S:,}) -> "
        f"{'PASS' if res['pass'] else 'MISS'}")
    say(f"  first record to last: {steady_s:.2f} s = {steady:,.0f} records/s; "
        f"{state['checkpoints']:,} checkpoints (every {CHECKPOINT_EVERY:,} records)")
    say(f"  CPU: this process {usage['client_cores']:.2f} cores "
        f"({usage['client_cpu_s'] * 1e6 / max(n, 1):.1f} us/record), redis-server "
        f"{usage['redis_cores']:.2f} cores")
    return res


async def _main(args: argparse.Namespace) -> int:
    started = time.time()
    machine = harness.machine_facts()
    machine["calibration_ms_start"] = harness.calibrate()
    name = f"lt-kcl-{uuid.uuid4().hex[:8]}"
    results: dict[str, Any] = {}
    async with harness.redis_server(args) as server, Client(server.url) as client:
        say(f"loadtest kcl: {machine['cpus']} CPUs ({machine['cpu_model']}), Python "
            f"{machine['python']}, {harness.loop_name()}; redis-server "
            f"{server.facts['redis_version']}, appendfsync {server.fsync}; calibration "
            f"{machine['calibration_ms_start']:.1f} ms")
        say(f"\n[1] one worker process, {SHARDS} shards, no-op processor, checkpoint every "
            f"{CHECKPOINT_EVERY:,} records ({args.retrieval})")
        await fill(args, client, name)
        if args.wait_idle > 0:
            await harness.wait_idle(args.wait_idle, server.pids)
        results["consume"] = await scenario_consume(args, client, name, server)
        await client.lease_table("loadtest", name).delete()
        await client.stream(name).delete()
    return harness.finish(NAME, args, started, machine, results)
