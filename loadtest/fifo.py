"""``python -m loadtest fifo``: SQS FIFO-queue benchmarks through the public SDK.

Scenarios (1 KiB bodies, one Python process, the in-process engine of ``broker.Client``):

1. ``throughput``  producers send batches of 10 (message i to group i mod G, explicit
                   deduplication ids) while consumers receive(10) + delete_batch, at the
                   same time, until every message is deleted -> msgs/s end to end
2. ``groups``      p50/p99 of one sequential receive(10) + delete_batch round trip with 10
                   active groups vs 100,000 (groups and depth held by re-sending what was
                   taken to the same groups)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from broker import Client
from broker.sdk.client import Message, Queue, message
from loadtest import harness
from loadtest.harness import Server, progress, say
from loadtest.stats import fmt_latency, summarize

NAME = "fifo"
#: scenario key -> (number, title)
SCENARIOS: dict[str, tuple[int, str]] = {
    "throughput": (1, "send + receive + delete throughput, many groups"),
    "groups": (2, "receive latency vs number of active groups"),
}
#: the issue's targets
TARGET_MSGS_S = 10_000
TARGET_GROUPS_P50_RATIO = 1.5
#: (full, quick) defaults of the count options
DEFAULTS: dict[str, tuple[int, int]] = {
    "count": (200_000, 20_000),
    "samples": (2_000, 300),
    "many_groups": (100_000, 10_000),
}
BATCH = 10
#: messages per group in scenario 2 (10 groups hold this many times more each)
PER_MANY_GROUP = 2
FEW_GROUPS = 10
PROGRESS_EVERY_S = 5.0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help="SQS FIFO-queue throughput and latency vs number of groups",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_server_arguments(p)
    p.add_argument("--quick", action="store_true",
                   help="scale the counts down; explicit count options still win")
    p.add_argument("--only", type=harness.scenario_list(SCENARIOS), default=None, metavar="LIST",
                   help="comma-separated scenarios (throughput,groups; default both)")
    p.add_argument("--groups", type=harness.positive_int, default=1_000, metavar="G",
                   help="message groups in scenario 1 (default 1000)")
    p.add_argument("--producers", type=harness.positive_int, default=8, metavar="N",
                   help="send_batch coroutines in scenario 1 (default 8)")
    p.add_argument("--consumers", type=harness.positive_int, default=16, metavar="N",
                   help="receive+delete coroutines in scenario 1 (default 16)")
    p.add_argument("--count", type=harness.positive_int, default=None, metavar="N",
                   help="messages through scenario 1 (default 200000; quick 20000)")
    p.add_argument("--samples", type=harness.positive_int, default=None, metavar="N",
                   help="timed round trips per queue in scenario 2 (default 2000; quick 300)")
    p.add_argument("--many-groups", type=harness.positive_int, default=None, metavar="N",
                   help="active groups of the large queue in scenario 2 (default 100000; "
                        "quick 10000)")
    p.set_defaults(func=main, parser=p)
    return p


def main(args: argparse.Namespace) -> int:
    harness.apply_defaults(args, DEFAULTS, SCENARIOS)
    return harness.run(_main(args))


@dataclass
class Ctx:
    args: argparse.Namespace
    server: Server
    client: Client
    body: str
    run_id: str
    queues: list[Queue] = field(default_factory=list)
    dedup: itertools.count[int] = field(default_factory=itertools.count)

    async def new_queue(self, suffix: str) -> Queue:
        q = await self.client.create_queue(f"lt-{self.run_id}-{suffix}.fifo",
                                           visibility_timeout_s=120)
        self.queues.append(q)
        return q

    async def drop_queue(self, q: Queue) -> None:
        with contextlib.suppress(Exception):
            await q.delete_queue()
        if q in self.queues:
            self.queues.remove(q)

    def entries(self, groups: list[str]) -> list[Any]:
        """One batch: a message for each group named, with fresh deduplication ids."""
        return [message(self.body, group_id=g, deduplication_id=str(next(self.dedup)))
                for g in groups]


async def _send_all(ctx: Ctx, q: Queue, groups: list[str], producers: int,
                    label: str, latencies: list[int] | None = None) -> int:
    """Send one message per entry of ``groups`` in batches of 10 from ``producers``
    coroutines; returns how many were stored."""
    batches = iter(range(0, len(groups), BATCH))
    sent = 0
    start = last = time.monotonic()

    async def producer() -> None:
        nonlocal sent, last
        for first in batches:
            t0 = time.perf_counter_ns()
            res = await q.send_batch(ctx.entries(groups[first:first + BATCH]))
            if latencies is not None:
                latencies.append(time.perf_counter_ns() - t0)
            if res.failed:
                raise RuntimeError(f"send_batch failed: {res.failed[0]}")
            sent += len(res.successful)
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                progress(f"  {label}: {sent:,}/{len(groups):,} sent "
                         f"({sent / (now - start):,.0f} msgs/s)")

    await asyncio.gather(*(producer() for _ in range(producers)))
    return sent


async def scenario_throughput(ctx: Ctx) -> dict[str, Any]:
    """1. Producers and consumers at once, until every message is deleted."""
    a = ctx.args
    q = await ctx.new_queue("tp")
    groups = [f"g{i % a.groups}" for i in range(a.count)]
    await ctx.server.settle(say=progress)
    send_lat: list[int] = []
    recv_lat: list[int] = []
    deleted = 0
    done = asyncio.Event()
    cpu = harness.CpuMeter(ctx.server)
    await cpu.start()
    t0 = time.perf_counter()

    async def consumer() -> None:
        nonlocal deleted
        while not done.is_set():
            t = time.perf_counter_ns()
            got: list[Message] = await q.receive(10, attribute_names=(),
                                                 message_attribute_names=())
            if not got:
                await asyncio.sleep(0.001)
                continue
            res = await q.delete_batch([m.receipt_handle for m in got])
            recv_lat.append(time.perf_counter_ns() - t)
            if res.failed:
                raise RuntimeError(f"delete_batch failed: {res.failed[0]}")
            deleted += len(got)
            if deleted >= a.count:
                done.set()

    consumers = [asyncio.create_task(consumer()) for _ in range(a.consumers)]
    sent = await _send_all(ctx, q, groups, a.producers, "send", send_lat)
    sent_s = time.perf_counter() - t0
    last = time.monotonic()
    try:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), PROGRESS_EVERY_S)
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                progress(f"  draining: {deleted:,}/{sent:,} deleted")
            for t in consumers:
                if t.done() and t.exception():
                    raise t.exception()  # type: ignore[misc]
    finally:
        done.set()
        await asyncio.gather(*consumers, return_exceptions=True)
    usage = await cpu.stop()
    wall = usage["wall_s"]
    rate = deleted / wall
    res = {
        "messages": deleted, "groups": a.groups, "producers": a.producers,
        "consumers": a.consumers, "elapsed_s": wall, "sends_done_s": sent_s,
        "msgs_per_s": rate, "send_call_latency_ms": summarize(send_lat, 1e-6),
        "receive_delete_latency_ms": summarize(recv_lat, 1e-6), "cpu": usage,
        "target_msgs_per_s": TARGET_MSGS_S, "pass": rate >= TARGET_MSGS_S,
    }
    say(f"  {deleted:,} messages sent, received and deleted in {wall:.2f} s = "
        f"{rate:,.0f} msgs/s ({a.groups:,} groups, {a.producers} producers, "
        f"{a.consumers} consumers; target >= {TARGET_MSGS_S:,}) -> {_verdict(res['pass'])}")
    say(f"  (sends finished after {sent_s:.2f} s: {sent / sent_s:,.0f} msgs/s while "
        f"consumers ran)")
    say(f"  send_batch call: {fmt_latency(res['send_call_latency_ms'])}")
    say(f"  receive(10)+delete_batch: {fmt_latency(res['receive_delete_latency_ms'])}")
    _print_cpu(usage, deleted)
    await ctx.drop_queue(q)
    return res


async def scenario_groups(ctx: Ctx) -> dict[str, Any]:
    """2. Sequential receive+delete latency: 10 active groups vs many."""
    a = ctx.args
    total = a.many_groups * PER_MANY_GROUP
    few = await ctx.new_queue("few")
    many = await ctx.new_queue("many")
    few_groups = [f"g{i % FEW_GROUPS}" for i in range(total)]
    many_groups = [f"g{i % a.many_groups}" for i in range(total)]
    progress(f"  filling both queues with {total:,} messages "
             f"({FEW_GROUPS} and {a.many_groups:,} groups)")
    await _send_all(ctx, few, few_groups, 16, "fill few")
    await _send_all(ctx, many, many_groups, 16, "fill many")
    waited = await ctx.server.settle(say=progress)

    async def sample(q: Queue, into: list[int]) -> None:
        t0 = time.perf_counter_ns()
        got = await q.receive(10, attribute_names=("MessageGroupId",),
                              message_attribute_names=())
        if not got:
            raise RuntimeError("groups sample: the receive returned nothing")
        res = await q.delete_batch([m.receipt_handle for m in got])
        into.append(time.perf_counter_ns() - t0)
        if res.failed:
            raise RuntimeError(f"groups sample: {len(res.failed)} deletes failed")
        again = await q.send_batch(ctx.entries([m.group_id or "" for m in got]))
        if again.failed:
            raise RuntimeError(f"groups sample: re-send failed: {again.failed[0]}")

    warm: list[int] = []
    for _ in range(50):
        await sample(few, warm)
        await sample(many, warm)
    lat: dict[str, list[int]] = {"few": [], "many": []}
    cpu = harness.CpuMeter(ctx.server)
    await cpu.start()
    done = 0
    while done < a.samples:
        n = min(100, a.samples - done)
        for _ in range(n):
            await sample(few, lat["few"])
        for _ in range(n):
            await sample(many, lat["many"])
        done += n
    usage = await cpu.stop()
    s = {k: summarize(v, 1e-6) for k, v in lat.items()}
    p50_ratio = s["many"]["p50"] / s["few"]["p50"]
    p99_ratio = s["many"]["p99"] / s["few"]["p99"]
    res = {
        "samples": a.samples, "few_groups": FEW_GROUPS, "many_groups": a.many_groups,
        "messages_per_queue": total, "settle_wait_s": waited, "cpu": usage,
        "latency_ms": s, "p50_ratio": p50_ratio, "p99_ratio": p99_ratio,
        "target_p50_ratio": TARGET_GROUPS_P50_RATIO,
        "pass": p50_ratio <= TARGET_GROUPS_P50_RATIO,
    }
    say(f"  {FEW_GROUPS:>7,} groups  receive+delete {fmt_latency(s['few'])}")
    say(f"  {a.many_groups:>7,} groups  receive+delete {fmt_latency(s['many'])}")
    say(f"  ratio: p50 {p50_ratio:.2f}x  p99 {p99_ratio:.2f}x "
        f"(target p50 <= {TARGET_GROUPS_P50_RATIO}x) -> {_verdict(res['pass'])}")
    _warn_other_load(usage)
    await ctx.drop_queue(few)
    await ctx.drop_queue(many)
    return res


RUNNERS = {"throughput": scenario_throughput, "groups": scenario_groups}


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _print_cpu(cpu: dict[str, float], messages: int) -> None:
    say(f"  CPU: this process {cpu['client_cores']:.2f} cores "
        f"({cpu['client_cpu_s'] * 1e6 / messages:.1f} us/msg), redis-server "
        f"{cpu['redis_cores']:.2f} cores ({cpu['redis_cpu_s'] * 1e6 / messages:.1f} us/msg)")
    if cpu["fcall_calls"]:
        say(f"  inside the Lua functions: {cpu['fcall_s'] * 1e6 / messages:.1f} us/msg "
            f"({cpu['fcall_calls']:,} FCALLs, "
            f"{cpu['fcall_s'] * 1e6 / cpu['fcall_calls']:.0f} us each)")
    _warn_other_load(cpu)


def _warn_other_load(cpu: dict[str, float]) -> None:
    if cpu["other_cores"] > 0.15:
        say(f"  WARNING: other processes used {cpu['other_cores']:.2f} cores meanwhile: "
            f"this figure is depressed")


async def _main(args: argparse.Namespace) -> int:
    started = time.time()
    machine = harness.machine_facts()
    machine["calibration_ms_start"] = harness.calibrate()
    results: dict[str, Any] = {}
    async with harness.redis_server(args) as server, Client(server.url) as client:
        ctx = Ctx(args, server, client, harness.make_body(args.body_size),
                  uuid.uuid4().hex[:8])
        machine["event_loop"] = harness.loop_name()
        say(f"loadtest fifo: {machine['cpus']} CPUs ({machine['cpu_model']}), "
            f"Python {machine['python']}, {machine['event_loop']}; redis-server "
            f"{server.facts['redis_version']}, appendfsync {server.fsync}")
        say(f"calibration: {machine['calibration_ms_start']:.1f} ms (lower = faster)")
        try:
            for key in SCENARIOS:
                if key not in args.only:
                    continue
                number, title = SCENARIOS[key]
                say(f"\n[{number}] {title}")
                if args.wait_idle > 0:
                    await harness.wait_idle(args.wait_idle, server.pids)
                results[key] = await RUNNERS[key](ctx)
        finally:
            for q in list(ctx.queues):
                await ctx.drop_queue(q)
    machine["calibration_ms_end"] = harness.calibrate()
    say("\nsummary")
    if r := results.get("throughput"):
        say(f"  1 FIFO send+receive+delete, {r['groups']:,} groups: "
            f"{r['msgs_per_s']:,.0f} msgs/s (target >= {TARGET_MSGS_S:,}) "
            f"{_verdict(r['pass'])}")
    if r := results.get("groups"):
        say(f"  2 receive+delete p50 @{FEW_GROUPS} / @{r['many_groups']:,} groups: "
            f"{r['latency_ms']['few']['p50']:.3f} / {r['latency_ms']['many']['p50']:.3f} ms "
            f"= {r['p50_ratio']:.2f}x (target <= {TARGET_GROUPS_P50_RATIO}x) "
            f"{_verdict(r['pass'])}")
    repro = harness.reproduce_line(NAME, args.argv)
    say(f"\ncalibration at the end: {machine['calibration_ms_end']:.1f} ms")
    say(f"reproduce (from the repository root, {round(time.time() - started)} s):")
    say(f"  {repro}")
    say(f"  {harness.explicit_line(NAME, args.parser, args)}")
    if args.json:
        harness.write_json(args.json, {
            "benchmark": NAME, "command": repro, "machine": machine,
            "server": server.facts, "results": results,
            "parameters": {k: getattr(args, k) for k in (
                "quick", "only", "groups", "producers", "consumers", "body_size",
                *DEFAULTS)}})
        say(f"  results written to {args.json}")
    missed = [k for k, r in results.items() if not r.get("pass", True)]
    return 1 if missed and args.strict else 0

