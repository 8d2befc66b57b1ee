"""``python -m loadtest topics``: SNS topics through the public SDK (in-process engine).

Scenarios (1 KiB messages):

1. ``publish``  N coroutines publish to a topic with 10 queue subscriptions -> publishes/s
                and queue deliveries/s; every queue is checked to hold every message
2. ``latency``  publishes at a fixed rate while 10 long-polling consumers (one per queue)
                receive: p50/p99 from Publish returning to the message being received
                in all 10 queues (negative: received before Publish returned -> 0)
3. ``filter``   evaluations/s of one compiled 5-key filter policy against message
                attributes, in this process
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from typing import Any

from broker import Client, Queue, Topic
from broker.engine.filter_policy import AttributeValues, compile_policy
from loadtest import harness
from loadtest.harness import progress, say
from loadtest.stats import fmt_latency, summarize

NAME = "topics"
SCENARIOS: dict[str, tuple[int, str]] = {
    "publish": (1, "publish throughput, 10 queue subscriptions"),
    "latency": (2, "publish-to-receive latency at a fixed rate"),
    "filter": (3, "filter policy evaluations"),
}
TARGET_PUBLISHES_S = 5_000
TARGET_P99_MS = 10.0
TARGET_FILTER_EVALS_S = 200_000
DEFAULTS: dict[str, tuple[int, int]] = {
    "count": (20_000, 2_000),
    "rate": (1_000, 500),
    "seconds": (10, 3),
    "evaluations": (1_000_000, 100_000),
}
SUBSCRIPTIONS = 10


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help="SNS topics: publish fan-out throughput and latency, filter evaluations",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_server_arguments(p)
    p.add_argument("--quick", action="store_true", help="scale the counts down")
    p.add_argument("--only", type=harness.scenario_list(SCENARIOS), default=None,
                   metavar="LIST", help="publish,latency,filter (default all)")
    p.add_argument("--publishers", type=harness.positive_int, default=64, metavar="N",
                   help="publishing coroutines in scenario 1 (default 64)")
    p.add_argument("--count", type=harness.positive_int, default=None, metavar="N",
                   help="publishes in scenario 1 (default 20000; quick 2000)")
    p.add_argument("--rate", type=harness.positive_int, default=None, metavar="R",
                   help="publishes/s in scenario 2 (default 1000; quick 500)")
    p.add_argument("--seconds", type=harness.positive_int, default=None, metavar="S",
                   help="duration of scenario 2 (default 10; quick 3)")
    p.add_argument("--evaluations", type=harness.positive_int, default=None, metavar="N",
                   help="policy evaluations in scenario 3 (default 1000000)")
    p.set_defaults(func=main, parser=p)
    return p


def main(args: argparse.Namespace) -> int:
    harness.apply_defaults(args, DEFAULTS, SCENARIOS)
    return harness.run(_main(args))


async def _fan_out(client: Client, run: str, label: str) -> tuple[Topic, list[Queue]]:
    topic = await client.create_topic(f"lt-{run}-{label}")
    queues = [await client.create_queue(f"lt-{run}-{label}-{i}") for i in range(SUBSCRIPTIONS)]
    for q in queues:
        await topic.subscribe_queue(q, raw=True)
    return topic, queues


async def _cleanup(topic: Topic, queues: list[Queue]) -> None:
    with contextlib.suppress(Exception):
        await topic.delete()
    for q in queues:
        with contextlib.suppress(Exception):
            await q.delete_queue()


async def scenario_publish(args: argparse.Namespace, client: Client, server: Any,
                           run: str) -> dict[str, Any]:
    topic, queues = await _fan_out(client, run, "pub")
    body = harness.make_body(args.body_size)
    latencies: list[int] = []
    counter = iter(range(args.count))
    cpu = harness.CpuMeter(server)
    await cpu.start()

    async def publisher() -> None:
        for _ in counter:
            t0 = time.perf_counter_ns()
            await topic.publish(body)
            latencies.append(time.perf_counter_ns() - t0)

    await asyncio.gather(*(publisher() for _ in range(args.publishers)))
    usage = await cpu.stop()
    rate = args.count / usage["wall_s"]
    depths = [int((await q.attributes(["ApproximateNumberOfMessages"]))[
        "ApproximateNumberOfMessages"]) for q in queues]
    res = {"publishes": args.count, "publishers": args.publishers,
           "elapsed_s": usage["wall_s"], "publishes_per_s": rate,
           "deliveries_per_s": rate * SUBSCRIPTIONS, "depths": depths,
           "publish_latency_ms": summarize(latencies, 1e-6), "cpu": usage,
           "pass": rate >= TARGET_PUBLISHES_S and all(d == args.count for d in depths)}
    say(f"  {args.count:,} publishes in {usage['wall_s']:.2f} s = {rate:,.0f} publishes/s "
        f"({rate * SUBSCRIPTIONS:,.0f} queue deliveries/s; target >= {TARGET_PUBLISHES_S:,} "
        f"publishes/s) -> {'PASS' if res['pass'] else 'MISS'}")
    say(f"  every queue holds every message: {all(d == args.count for d in depths)} "
        f"(depths {min(depths):,}-{max(depths):,})")
    say(f"  publish call: {fmt_latency(res['publish_latency_ms'])}")
    say(f"  CPU: this process {usage['client_cores']:.2f} cores "
        f"({usage['client_cpu_s'] * 1e6 / args.count:.0f} us/publish), redis-server "
        f"{usage['redis_cores']:.2f} cores ({usage['redis_cpu_s'] * 1e6 / args.count:.0f} "
        f"us/publish)")
    await _cleanup(topic, queues)
    return res


async def scenario_latency(args: argparse.Namespace, client: Client, server: Any,
                           run: str) -> dict[str, Any]:
    topic, queues = await _fan_out(client, run, "lat")
    returned: dict[str, int] = {}
    received: dict[str, list[int]] = {}
    stop = asyncio.Event()
    complete = asyncio.Event()
    total = args.rate * args.seconds

    async def consumer(q: Queue) -> None:
        while not stop.is_set():
            got = await q.receive(10, wait_time_s=1, attribute_names=(),
                                  message_attribute_names=())
            now = time.perf_counter_ns()
            for m in got:
                received.setdefault(m.body, []).append(now)
                if len(received[m.body]) == SUBSCRIPTIONS and len(
                        [k for k in received if len(received[k]) == SUBSCRIPTIONS]) >= total:
                    complete.set()
            if got:
                await q.delete_batch([m.receipt_handle for m in got])

    consumers = [asyncio.create_task(consumer(q)) for q in queues]
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        key = f"{i}-{uuid.uuid4().hex}"
        await topic.publish(key)
        returned[key] = time.perf_counter_ns()
        if i and i % args.rate == 0:
            progress(f"  {i:,}/{total:,} published")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(complete.wait(), 10)
    stop.set()
    await asyncio.gather(*consumers, return_exceptions=True)
    lat = [max(0, max(received[k]) - t) for k, t in returned.items()
           if len(received.get(k, [])) == SUBSCRIPTIONS]
    s = summarize(lat, 1e-6)
    res = {"rate": args.rate, "seconds": args.seconds, "published": total,
           "complete": len(lat), "latency_ms": s,
           "pass": len(lat) == total and s["p99"] < TARGET_P99_MS}
    say(f"  {total:,} publishes at {args.rate:,}/s, received in all {SUBSCRIPTIONS} queues: "
        f"{len(lat):,}")
    say(f"  publish returned -> received everywhere: {fmt_latency(s)} "
        f"(target p99 < {TARGET_P99_MS} ms) -> {'PASS' if res['pass'] else 'MISS'}")
    await _cleanup(topic, queues)
    return res


def scenario_filter(args: argparse.Namespace) -> dict[str, Any]:
    policy = compile_policy(
        '{"store":["example_corp"],"event":[{"anything-but":"order_cancelled"}],'
        '"interests":["rugby","football","baseball"],"price":[{"numeric":[">=",100]}],'
        '"region":[{"prefix":"eu-"}]}')
    attrs = {"store": {"DataType": "String", "StringValue": "example_corp"},
             "event": {"DataType": "String", "StringValue": "order_placed"},
             "interests": {"DataType": "String.Array",
                           "StringValue": '["soccer","rugby","hockey"]'},
             "price": {"DataType": "Number", "StringValue": "210.75"},
             "region": {"DataType": "String", "StringValue": "eu-west-1"}}
    assert policy.matches_attributes(attrs)
    n = args.evaluations
    t0 = time.perf_counter()
    for _ in range(n):
        policy.matches_attributes(attrs)
    elapsed = time.perf_counter() - t0
    rate = n / elapsed
    parsed = AttributeValues(attrs)  # what each further subscription of a message costs
    t0 = time.perf_counter()
    for _ in range(n):
        policy.matches_parsed(parsed, "")
    shared_rate = n / (time.perf_counter() - t0)
    res = {"evaluations": n, "elapsed_s": elapsed, "evaluations_per_s": rate,
           "evaluations_per_s_parsed_once": shared_rate,
           "pass": rate >= TARGET_FILTER_EVALS_S}
    say(f"  {n:,} evaluations of a 5-key policy (a matching message, its attributes parsed "
        f"each time) in {elapsed:.2f} s = {rate:,.0f}/s (target >= "
        f"{TARGET_FILTER_EVALS_S:,}) -> {'PASS' if res['pass'] else 'MISS'}")
    say(f"  with the attributes parsed once per message (each further subscription of a "
        f"publish): {shared_rate:,.0f}/s")
    return res


async def _main(args: argparse.Namespace) -> int:
    started = time.time()
    results: dict[str, Any] = {}
    machine = harness.machine_facts()
    machine["calibration_ms_start"] = harness.calibrate()
    run = uuid.uuid4().hex[:8]
    async with harness.redis_server(args) as server, Client(server.url) as client:
        say(f"loadtest topics: {machine['cpus']} CPUs ({machine['cpu_model']}), Python "
            f"{machine['python']}, {harness.loop_name()}; redis-server "
            f"{server.facts['redis_version']}, appendfsync {server.fsync}; calibration "
            f"{machine['calibration_ms_start']:.1f} ms")
        for key, (number, title) in SCENARIOS.items():
            if key not in args.only:
                continue
            say(f"\n[{number}] {title}")
            if args.wait_idle > 0:
                await harness.wait_idle(args.wait_idle, server.pids)
            if key == "filter":
                results[key] = scenario_filter(args)
            elif key == "publish":
                results[key] = await scenario_publish(args, client, server, run)
            else:
                results[key] = await scenario_latency(args, client, server, run)
    return harness.finish(NAME, args, started, machine, results)
