"""``python -m loadtest queues``: SQS standard-queue benchmarks through the public SDK.

Scenarios (1 KiB bodies, one Python process, the in-process engine of ``broker.Client``):

1. ``send``     SendMessageBatch of 10 from N concurrent coroutines, a fixed count -> msgs/s
2. ``receive``  drain that queue with ReceiveMessage(10) + DeleteMessageBatch, N coroutines
                -> msgs/s
3. ``depth``    p50/p99 of one sequential receive(10) + delete_batch round trip with a
                shallow queue (1,000) vs a deep one (1,000,000), depth held by refilling
4. ``memory``   INFO used_memory before/after storing M messages in one queue -> bytes/msg
5. ``wakeup``   long-poll wake-up latency: a receive(wait_time_s=20) on an empty queue is
                woken by a send from another process; floor: LPUSH -> BLPOP across processes

The scenarios run in the order wakeup, send, receive, memory, depth (the quiet ones before
the one that fills a million messages); results are printed in scenario order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from broker import Client
from broker.engine.keys import QueueKeys
from broker.sdk.client import Queue
from loadtest import harness
from loadtest.harness import Server, progress, say
from loadtest.stats import fmt_latency, summarize

NAME = "queues"
#: scenario key -> (number, title)
SCENARIOS: dict[str, tuple[int, str]] = {
    "send": (1, "send-batch throughput"),
    "receive": (2, "receive+delete throughput"),
    "depth": (3, "receive latency vs depth"),
    "memory": (4, "memory per stored message"),
    "wakeup": (5, "long-poll wake-up latency"),
}
RUN_ORDER = ("wakeup", "send", "receive", "memory", "depth")
#: the issue's targets
TARGET_SEND_MSGS_S = 25_000
TARGET_RECEIVE_MSGS_S = 15_000
TARGET_DEPTH_P50_RATIO = 1.5
TARGET_MEMORY_BYTES = 1536
TARGET_WAKE_P99_MS = 2.0
#: the connection pool of broker.engine holds 64 connections; more concurrent calls fail
MAX_CONCURRENCY = 64
#: (full, quick) defaults of the count options
DEFAULTS: dict[str, tuple[int, int]] = {
    "count": (200_000, 20_000),
    "samples": (2_000, 500),
    "shallow": (1_000, 1_000),
    "deep": (1_000_000, 100_000),
    "mem_count": (200_000, 20_000),
    "wake_samples": (1_000, 200),
}
BATCH = 10
PROGRESS_EVERY_S = 5.0


# ------------------------------------------------------------------------------ CLI


def _concurrency(text: str) -> int:
    value = harness.positive_int(text)
    if value > MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_CONCURRENCY} (the engine's Redis connection pool size)")
    return value


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help="SQS standard-queue throughput, latency, memory, long-poll wake-up",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_server_arguments(p)
    p.add_argument("--quick", action="store_true",
                   help="scale the counts down (whole run well under a minute); explicit "
                        "count options still win")
    p.add_argument("--only", type=harness.scenario_list(SCENARIOS), default=None, metavar="LIST",
                   help="comma-separated scenarios to run, by name or number "
                        "(send,receive,depth,memory,wakeup; default all)")
    p.add_argument("--concurrency", type=_concurrency, default=16, metavar="N",
                   help="concurrent coroutines in scenarios 1, 2 and 4 (default 16)")
    p.add_argument("--fill-concurrency", type=_concurrency, default=48, metavar="N",
                   help="concurrent send_batch coroutines filling the deep queue (default 48)")
    p.add_argument("--count", type=harness.positive_int, default=None, metavar="N",
                   help="messages sent in scenario 1 and drained in 2 (default 200000; "
                        "quick 20000)")
    p.add_argument("--samples", type=harness.positive_int, default=None, metavar="N",
                   help="timed round trips per depth in scenario 3 (default 2000; quick 500)")
    p.add_argument("--shallow", type=harness.positive_int, default=None, metavar="N",
                   help="depth of the shallow queue in scenario 3 (default 1000)")
    p.add_argument("--deep", type=harness.positive_int, default=None, metavar="N",
                   help="depth of the deep queue in scenario 3 (default 1000000; "
                        "quick 100000)")
    p.add_argument("--mem-count", type=harness.positive_int, default=None, metavar="N",
                   help="messages stored in scenario 4 (default 200000; quick 20000)")
    p.add_argument("--wake-samples", type=harness.positive_int, default=None, metavar="N",
                   help="wake-ups measured per method in scenario 5 (default 1000; "
                        "quick 200)")
    p.set_defaults(func=main, parser=p)
    return p


def _resolve(args: argparse.Namespace) -> None:
    harness.apply_defaults(args, DEFAULTS, SCENARIOS)


def main(args: argparse.Namespace) -> int:
    _resolve(args)
    return harness.run(_main(args))


# ------------------------------------------------------------------------------ context


@dataclass
class Ctx:
    args: argparse.Namespace
    server: Server
    client: Client
    body: str
    run_id: str
    results: dict[str, Any] = field(default_factory=dict)
    queues: list[Queue] = field(default_factory=list)
    #: the queue scenario 1 filled, for scenario 2 to drain
    sent_queue: Queue | None = None
    sent_count: int = 0

    async def new_queue(self, suffix: str) -> Queue:
        q = await self.client.create_queue(f"lt-{self.run_id}-{suffix}")
        self.queues.append(q)
        return q

    async def drop_queue(self, q: Queue) -> None:
        with contextlib.suppress(Exception):
            await q.delete_queue()
        if q in self.queues:
            self.queues.remove(q)


async def _fill(ctx: Ctx, q: Queue, n: int, concurrency: int, label: str,
                latencies: list[int] | None = None) -> int:
    """Send ``n`` messages in batches of 10 from ``concurrency`` coroutines; returns the
    count stored. Per-call latencies (ns) go to ``latencies`` when given."""
    bodies = [ctx.body] * BATCH
    batches = iter(range(0, n, BATCH))
    sent = 0
    last = time.monotonic()
    start = last

    async def worker() -> None:
        nonlocal sent, last
        for first in batches:
            size = min(BATCH, n - first)
            t0 = time.perf_counter_ns()
            res = await q.send_batch(bodies[:size])
            if latencies is not None:
                latencies.append(time.perf_counter_ns() - t0)
            if res.failed:
                raise RuntimeError(f"send_batch failed: {res.failed[0]}")
            sent += len(res.successful)
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                rate = sent / (now - start)
                progress(f"  {label}: {sent:,}/{n:,} sent ({rate:,.0f} msgs/s)")

    await asyncio.gather(*(worker() for _ in range(min(concurrency, math.ceil(n / BATCH)))))
    return sent


async def _warm_up(ctx: Ctx) -> None:
    """Open the pool's connections and exercise every call once (not measured)."""
    q = await ctx.new_queue("warmup")
    await _fill(ctx, q, 2_000, ctx.args.concurrency, "warm-up")
    while msgs := await q.receive(10):
        await q.delete_batch([m.receipt_handle for m in msgs])
    await ctx.drop_queue(q)


# ------------------------------------------------------------------------------ scenarios


async def scenario_send(ctx: Ctx) -> dict[str, Any]:
    """1. SendMessageBatch(10) from N coroutines, ``count`` messages."""
    a = ctx.args
    q = await ctx.new_queue("send")
    await ctx.server.settle(say=progress)
    lat: list[int] = []
    rewrites = await ctx.server.aof_rewrites()
    cpu = harness.CpuMeter(ctx.server)
    await cpu.start()
    sent = await _fill(ctx, q, a.count, a.concurrency, "send", lat)
    usage = await cpu.stop()
    rate = sent / usage["wall_s"]
    ctx.sent_queue, ctx.sent_count = q, sent
    res = {
        "messages": sent, "concurrency": a.concurrency, "batch": BATCH,
        "elapsed_s": usage["wall_s"], "msgs_per_s": rate,
        "call_latency_ms": summarize(lat, 1e-6),
        "cpu": usage, "aof_rewrites_during": await ctx.server.aof_rewrites() - rewrites,
        "target_msgs_per_s": TARGET_SEND_MSGS_S, "pass": rate >= TARGET_SEND_MSGS_S,
    }
    _print_rate(res, "send_batch call")
    return res


async def scenario_receive(ctx: Ctx) -> dict[str, Any]:
    """2. Drain the queue with receive(10) + delete_batch from N coroutines."""
    a = ctx.args
    q, expected = ctx.sent_queue, ctx.sent_count
    if q is None:
        q = await ctx.new_queue("receive")
        progress(f"  filling {a.count:,} messages to drain (not timed)")
        expected = await _fill(ctx, q, a.count, a.concurrency, "fill")
    await ctx.server.settle(say=progress)
    recv_lat: list[int] = []
    del_lat: list[int] = []
    done = 0
    empty_receives = 0
    last = time.monotonic()
    start = last

    async def worker() -> None:
        nonlocal done, last, empty_receives
        while done < expected:
            t0 = time.perf_counter_ns()
            msgs = await q.receive(10)
            t1 = time.perf_counter_ns()
            if not msgs:
                empty_receives += 1
                return
            res = await q.delete_batch([m.receipt_handle for m in msgs])
            t2 = time.perf_counter_ns()
            if res.failed:
                raise RuntimeError(f"delete_batch failed: {res.failed[0]}")
            recv_lat.append(t1 - t0)
            del_lat.append(t2 - t1)
            done += len(msgs)
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                progress(f"  receive: {done:,}/{expected:,} "
                         f"({done / (now - start):,.0f} msgs/s)")

    rewrites = await ctx.server.aof_rewrites()
    cpu = harness.CpuMeter(ctx.server)
    await cpu.start()
    await asyncio.gather(*(worker() for _ in range(a.concurrency)))
    usage = await cpu.stop()
    left = int((await q.attributes(["ApproximateNumberOfMessages"]))
               ["ApproximateNumberOfMessages"])
    rate = done / usage["wall_s"]
    res = {
        "messages": done, "expected": expected, "left_in_queue": left,
        "concurrency": a.concurrency, "elapsed_s": usage["wall_s"], "msgs_per_s": rate,
        "msgs_per_receive": done / max(1, len(recv_lat)),
        "receive_latency_ms": summarize(recv_lat, 1e-6),
        "delete_batch_latency_ms": summarize(del_lat, 1e-6),
        "cpu": usage, "aof_rewrites_during": await ctx.server.aof_rewrites() - rewrites,
        "target_msgs_per_s": TARGET_RECEIVE_MSGS_S, "pass": rate >= TARGET_RECEIVE_MSGS_S,
    }
    _print_rate(res, "receive(10) call", extra=("delete_batch call",
                                                 res["delete_batch_latency_ms"]))
    await ctx.drop_queue(q)
    ctx.sent_queue = None
    return res


async def scenario_depth(ctx: Ctx) -> dict[str, Any]:
    """3. Sequential receive(10)+delete_batch latency, shallow vs deep queue.

    Both queues exist while measuring and samples alternate between them in blocks, so
    background work (AOF fsync, rewrites) falls on both alike; each sample is followed by
    an untimed send_batch that puts the depth back."""
    a = ctx.args
    shallow = await ctx.new_queue("shallow")
    deep = await ctx.new_queue("deep")
    await _fill(ctx, shallow, a.shallow, a.concurrency, "fill shallow")
    progress(f"  filling the deep queue with {a.deep:,} messages "
             f"({a.fill_concurrency} coroutines)")
    t0 = time.perf_counter()
    filled = await _fill(ctx, deep, a.deep, a.fill_concurrency, "fill deep")
    fill_s = time.perf_counter() - t0
    waited = await ctx.server.settle(say=progress)
    bodies = [ctx.body] * BATCH

    async def sample(q: Queue, into: dict[str, list[int]]) -> None:
        t0 = time.perf_counter_ns()
        msgs = await q.receive(10)
        t1 = time.perf_counter_ns()
        res = await q.delete_batch([m.receipt_handle for m in msgs])
        t2 = time.perf_counter_ns()
        if len(msgs) != 10 or res.failed:
            raise RuntimeError(f"depth sample got {len(msgs)} messages, "
                               f"{len(res.failed)} failed deletes")
        into["round_trip"].append(t2 - t0)
        into["receive"].append(t1 - t0)
        into["delete"].append(t2 - t1)
        await q.send_batch(bodies[:len(msgs)])

    def fresh() -> dict[str, list[int]]:
        return {"round_trip": [], "receive": [], "delete": []}

    warm = fresh()
    for _ in range(50):
        await sample(shallow, warm)
        await sample(deep, warm)
    lat = {"shallow": fresh(), "deep": fresh()}
    rewrites = await ctx.server.aof_rewrites()
    cpu = harness.CpuMeter(ctx.server)
    await cpu.start()
    block = 100
    done = 0
    while done < a.samples:
        n = min(block, a.samples - done)
        for _ in range(n):
            await sample(shallow, lat["shallow"])
        for _ in range(n):
            await sample(deep, lat["deep"])
        done += n
    usage = await cpu.stop()
    rewrites = await ctx.server.aof_rewrites() - rewrites
    depths = {}
    for label, q in (("shallow", shallow), ("deep", deep)):
        attrs = await q.attributes(["ApproximateNumberOfMessages"])
        depths[label] = int(attrs["ApproximateNumberOfMessages"])
    s = {k: {part: summarize(v, 1e-6) for part, v in parts.items()}
         for k, parts in lat.items()}
    p50_ratio = s["deep"]["round_trip"]["p50"] / s["shallow"]["round_trip"]["p50"]
    p99_ratio = s["deep"]["round_trip"]["p99"] / s["shallow"]["round_trip"]["p99"]
    res = {
        "samples": a.samples, "shallow_depth": a.shallow, "deep_depth": a.deep,
        "depth_after": depths, "deep_fill_s": fill_s,
        "deep_fill_msgs_per_s": filled / fill_s, "settle_wait_s": waited,
        "aof_rewrites_during": rewrites, "cpu": usage,
        "latency_ms": s, "p50_ratio": p50_ratio, "p99_ratio": p99_ratio,
        "target_p50_ratio": TARGET_DEPTH_P50_RATIO, "pass": p50_ratio <= TARGET_DEPTH_P50_RATIO,
    }
    say(f"  deep fill: {filled:,} messages in {fill_s:.1f} s "
        f"({res['deep_fill_msgs_per_s']:,.0f} msgs/s, {a.fill_concurrency} coroutines)")
    for label in ("shallow", "deep"):
        say(f"  depth {res[label + '_depth']:>9,}  receive+delete "
            f"{fmt_latency(s[label]['round_trip'])}")
        say(f"  {'':>15}  receive        {fmt_latency(s[label]['receive'])}")
        say(f"  {'':>15}  delete_batch   {fmt_latency(s[label]['delete'])}")
    say(f"  ratio deep/shallow: p50 {p50_ratio:.2f}x  p99 {p99_ratio:.2f}x "
        f"(target p50 <= {TARGET_DEPTH_P50_RATIO}x) -> {_verdict(res['pass'])}")
    _warn_other_load(usage)
    await ctx.drop_queue(shallow)
    await ctx.drop_queue(deep)
    await ctx.server.settle(say=progress)
    return res


async def scenario_memory(ctx: Ctx) -> dict[str, Any]:
    """4. used_memory before/after storing ``mem_count`` messages in one queue."""
    a = ctx.args
    q = await ctx.new_queue("memory")
    await ctx.server.settle(say=progress)
    # The AOF buffer holds up to a second of writes under everysec; let it drain.
    await asyncio.sleep(1.5)
    mem0 = await ctx.server.info("memory")
    stored = await _fill(ctx, q, a.mem_count, a.concurrency, "memory fill")
    await ctx.server.settle(say=progress)
    await asyncio.sleep(1.5)
    mem1 = await ctx.server.info("memory")
    delta = int(mem1["used_memory"]) - int(mem0["used_memory"])
    per_msg = delta / stored
    keys: dict[str, Any] = {}
    r = ctx.server.inspect
    qk = QueueKeys(q.ref.account, q.ref.name)
    for label, key in (("msgs_hash", qk.msgs), ("avail_zset", qk.avail),
                       ("meta_hash", qk.meta)):
        keys[label] = int(await r.memory_usage(key, samples=0) or 0)
        keys[label + "_encoding"] = (await r.object("encoding", key) or b"").decode()
    one_seq = cast(bytes, (await r.zrange(qk.avail, 0, 0))[0])
    record_bytes = int(await r.hstrlen(qk.msgs, one_seq))
    res = {
        "messages": stored, "body_bytes": a.body_size,
        "used_memory_before": int(mem0["used_memory"]),
        "used_memory_after": int(mem1["used_memory"]),
        "delta_bytes": delta, "bytes_per_msg": per_msg, "kib_per_msg": per_msg / 1024,
        "overhead_bytes_per_msg": per_msg - a.body_size,
        "record_bytes": record_bytes,
        "memory_usage_per_key": keys,
        "msgs_hash_bytes_per_msg": keys["msgs_hash"] / stored,
        "avail_zset_bytes_per_msg": keys["avail_zset"] / stored,
        "mem_aof_buffer_after": int(mem1.get("mem_aof_buffer", 0)),
        "target_bytes_per_msg": TARGET_MEMORY_BYTES, "pass": per_msg <= TARGET_MEMORY_BYTES,
    }
    say(f"  {stored:,} messages of {a.body_size} B: used_memory "
        f"{res['used_memory_before'] / 2**20:,.1f} -> {res['used_memory_after'] / 2**20:,.1f} "
        f"MiB, delta {delta / 2**20:,.1f} MiB")
    say(f"  per message: {per_msg:,.0f} B = {per_msg / 1024:.3f} KiB "
        f"(overhead beyond the {a.body_size} B body: {per_msg - a.body_size:,.0f} B) "
        f"target <= {TARGET_MEMORY_BYTES} B -> {_verdict(res['pass'])}")
    say(f"  breakdown (MEMORY USAGE): msgs hash {res['msgs_hash_bytes_per_msg']:,.0f} B/msg "
        f"({keys['msgs_hash_encoding']}), avail zset {res['avail_zset_bytes_per_msg']:,.0f} "
        f"B/msg ({keys['avail_zset_encoding']}); one stored record is {record_bytes} B")
    await ctx.drop_queue(q)
    await ctx.server.settle(say=progress)
    return res


async def scenario_wakeup(ctx: Ctx) -> dict[str, Any]:
    """5. Long-poll wake-up latency across processes; LPUSH -> BLPOP as the floor."""
    a = ctx.args
    q = await ctx.new_queue("wakeup")
    await ctx.server.settle(say=progress)
    sdk = await _wake_sdk(ctx, q, a.wake_samples)
    floor = await _wake_blpop(ctx, a.wake_samples)
    await ctx.drop_queue(q)
    p99 = sdk["latency_ms"]["p99"]
    res = {
        "samples": a.wake_samples, "sdk": sdk, "blpop_floor": floor,
        "target_p99_ms": TARGET_WAKE_P99_MS, "pass": p99 < TARGET_WAKE_P99_MS,
    }
    say("  wake latency = time.time_ns() when receive returned - when send() returned:")
    say(f"  SDK long-poll (send in another process): {fmt_latency(sdk['latency_ms'])}")
    say(f"  floor, redis-py LPUSH -> BLPOP:          {fmt_latency(floor['latency_ms'])}")
    say("  the same, counted from just before send() was called (includes the send):")
    say(f"  SDK long-poll:                           "
        f"{fmt_latency(sdk['from_send_start_ms'])}")
    say(f"  floor, LPUSH -> BLPOP:                   "
        f"{fmt_latency(floor['from_send_start_ms'])}")
    say(f"  p99 {p99:.3f} ms, target < {TARGET_WAKE_P99_MS} ms -> {_verdict(res['pass'])}; "
        f"SDK minus floor at p50: "
        f"{sdk['latency_ms']['p50'] - floor['latency_ms']['p50']:.3f} ms")
    _warn_other_load(sdk["cpu"])
    if sdk["unparked"]:
        say(f"  note: {sdk['unparked']} samples were not verified as parked")
    return res


#: the directory that holds the loadtest package (the child imports it from there)
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)


class _Sender:
    """The wake_sender child process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, *argv: str) -> _Sender:
        root = _REPO_ROOT
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadtest.wake_sender", *argv,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=root, env=env)
        self = cls(proc)
        line = await self._line(30)
        if line != "ready":
            raise RuntimeError(f"wake_sender did not start: {line!r}")
        return self

    async def _line(self, limit_s: float) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), limit_s)
        if not raw:
            raise RuntimeError("wake_sender exited")
        return raw.decode().strip()

    async def go(self) -> tuple[int, int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        t0, t1 = self._line_parts(await self._line(30))
        return t0, t1

    @staticmethod
    def _line_parts(line: str) -> tuple[int, int]:
        a, b = line.split()
        return int(a), int(b)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                assert self.proc.stdin is not None
                self.proc.stdin.write(b"quit\n")
                await self.proc.stdin.drain()
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll ``check`` (every ~0.2 ms) until it is true."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.0002)


#: how long the receiver is left parked before the sender is told to send
PARK_S = 0.002


async def _parked(server: Server, calls0: int) -> None:
    """Return once the FCALL count is above ``calls0`` and has not moved for PARK_S."""
    deadline = time.monotonic() + 10
    last, since = calls0, time.monotonic()
    while True:
        await asyncio.sleep(0.0002)
        calls = await server.fcall_calls()
        now = time.monotonic()
        if calls != last:
            last, since = calls, now
        elif last > calls0 and now - since >= PARK_S:
            return
        if now > deadline:
            raise RuntimeError("the long-poll receive did not reach Redis")


async def _wake_sdk(ctx: Ctx, q: Queue, samples: int) -> dict[str, Any]:
    """Per sample: start a 20 s long-poll; wait until the server has run its receive
    script(s) (INFO commandstats: the FCALL count went up and then stayed put for PARK_S,
    so the receiver found the queue empty, registered as a waiter and is parked); then
    the other process sends."""
    server = ctx.server
    sender = await _Sender.start("--url", server.url, "--mode", "sdk", "--queue", q.name,
                                 "--body-size", str(ctx.args.body_size))
    lat: list[int] = []
    lat_start: list[int] = []
    unparked = 0
    cpu = harness.CpuMeter(server)
    child0 = harness.proc_cpu(sender.proc.pid)
    await cpu.start()

    async def receive() -> tuple[int, int]:
        msgs = await q.receive(1, wait_time_s=20)
        t = time.time_ns()
        if msgs:
            await q.delete_batch([m.receipt_handle for m in msgs])
        return t, len(msgs)

    try:
        for i in range(samples + 20):
            calls0 = await server.fcall_calls()
            task = asyncio.create_task(receive())
            await _parked(server, calls0)
            if task.done():
                unparked += 1
            t_start, t_sent = await sender.go()
            t_recv, got = await task
            if got != 1:
                raise RuntimeError(f"long-poll receive returned {got} messages")
            if i >= 20:  # the first 20 warm up both processes
                lat.append(t_recv - t_sent)
                lat_start.append(t_recv - t_start)
        usage = await cpu.stop(harness.proc_cpu(sender.proc.pid) - child0)
    finally:
        await sender.stop()
    return {"latency_ms": summarize(lat, 1e-6),
            "from_send_start_ms": summarize(lat_start, 1e-6), "cpu": usage,
            "unparked": unparked, "park_s": PARK_S,
            "method": "receive(wait_time_s=20) parked; other process Queue.send(); "
                      "time.time_ns() at receive return minus at send return"}


async def _wake_blpop(ctx: Ctx, samples: int) -> dict[str, Any]:
    """The floor: BLPOP here, LPUSH from another process (redis-py asyncio both)."""
    import redis.asyncio as aioredis

    server = ctx.server
    key = f"lt-{ctx.run_id}-blpop"
    r = aioredis.Redis.from_url(server.url)
    sender = await _Sender.start("--url", server.url, "--mode", "lpush", "--key", key,
                                 "--body-size", str(ctx.args.body_size))
    lat: list[int] = []
    lat_start: list[int] = []

    async def pop() -> int:
        got = await r.blpop([key], timeout=20)
        t = time.time_ns()
        if got is None:
            raise RuntimeError("BLPOP timed out")
        return t

    async def blocked() -> bool:
        return await server.blocked_clients() >= 1

    try:
        await r.ping()
        cpu = harness.CpuMeter(server)
        child0 = harness.proc_cpu(sender.proc.pid)
        await cpu.start()
        for i in range(samples + 20):
            task = asyncio.create_task(pop())
            await _until(blocked, 10, "BLPOP to block")
            await asyncio.sleep(PARK_S)
            t_start, t_sent = await sender.go()
            t_recv = await task
            if i >= 20:
                lat.append(t_recv - t_sent)
                lat_start.append(t_recv - t_start)
        usage = await cpu.stop(harness.proc_cpu(sender.proc.pid) - child0)
    finally:
        await sender.stop()
        await r.delete(key)
        await r.aclose()
    return {"latency_ms": summarize(lat, 1e-6),
            "from_send_start_ms": summarize(lat_start, 1e-6), "cpu": usage,
            "method": "BLPOP parked; other process LPUSH; same clocking"}


RUNNERS: dict[str, Callable[[Ctx], Awaitable[dict[str, Any]]]] = {
    "send": scenario_send, "receive": scenario_receive, "depth": scenario_depth,
    "memory": scenario_memory, "wakeup": scenario_wakeup,
}


# ------------------------------------------------------------------------------ output


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _print_rate(res: dict[str, Any], call: str,
                extra: tuple[str, dict[str, Any]] | None = None) -> None:
    cpu = res["cpu"]
    say(f"  {res['messages']:,} messages in {res['elapsed_s']:.2f} s = "
        f"{res['msgs_per_s']:,.0f} msgs/s with {res['concurrency']} coroutines "
        f"(target >= {res['target_msgs_per_s']:,}) -> {_verdict(res['pass'])}")
    key = "call_latency_ms" if "call_latency_ms" in res else "receive_latency_ms"
    say(f"  {call}: {fmt_latency(res[key])}")
    if extra is not None:
        say(f"  {extra[0]}: {fmt_latency(extra[1])}")
    say(f"  CPU: this process {cpu['client_cores']:.2f} cores "
        f"({cpu['client_cpu_s'] * 1e6 / res['messages']:.1f} us/msg), redis-server "
        f"{cpu['redis_cores']:.2f} cores ({cpu['redis_cpu_s'] * 1e6 / res['messages']:.1f} "
        f"us/msg); AOF rewrites during the run: {res['aof_rewrites_during']} "
        f"(rewrite children {cpu['redis_children_cores']:.2f} cores)")
    if cpu["fcall_calls"]:
        say(f"  inside the Lua functions: {cpu['fcall_s'] * 1e6 / res['messages']:.1f} us/msg "
            f"({cpu['fcall_calls']:,} FCALLs, "
            f"{cpu['fcall_s'] * 1e6 / cpu['fcall_calls']:.0f} us each)")
    _warn_other_load(cpu)


def _warn_other_load(cpu: dict[str, float]) -> None:
    if cpu["other_cores"] > 0.15:
        say(f"  WARNING: other processes used {cpu['other_cores']:.2f} cores meanwhile "
            f"(CPU pressure {cpu['cpu_pressure_some']:.0%}): this figure is depressed")


def _summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    if r := results.get("send"):
        rows.append(("1 send_batch(10) throughput", f"{r['msgs_per_s']:,.0f} msgs/s",
                     f">= {TARGET_SEND_MSGS_S:,} msgs/s", _verdict(r["pass"])))
    if r := results.get("receive"):
        rows.append(("2 receive(10)+delete_batch throughput", f"{r['msgs_per_s']:,.0f} msgs/s",
                     f">= {TARGET_RECEIVE_MSGS_S:,} msgs/s", _verdict(r["pass"])))
    if r := results.get("depth"):
        sh, dp = r["latency_ms"]["shallow"]["round_trip"], r["latency_ms"]["deep"]["round_trip"]
        rows.append((f"3 receive+delete p50 @{r['shallow_depth']:,} / @{r['deep_depth']:,}",
                     f"{sh['p50']:.3f} / {dp['p50']:.3f} ms = {r['p50_ratio']:.2f}x",
                     f"<= {TARGET_DEPTH_P50_RATIO}x", _verdict(r["pass"])))
        rows.append(("  (p99, for information)",
                     f"{sh['p99']:.3f} / {dp['p99']:.3f} ms = {r['p99_ratio']:.2f}x", "", ""))
    if r := results.get("memory"):
        rows.append(("4 memory per stored 1 KiB message",
                     f"{r['bytes_per_msg']:,.0f} B ({r['kib_per_msg']:.2f} KiB; "
                     f"+{r['overhead_bytes_per_msg']:,.0f} B)",
                     f"<= {TARGET_MEMORY_BYTES} B", _verdict(r["pass"])))
    if r := results.get("wakeup"):
        s, f = r["sdk"]["latency_ms"], r["blpop_floor"]["latency_ms"]
        rows.append(("5 long-poll wake-up p50/p99/max",
                     f"{s['p50']:.3f} / {s['p99']:.3f} / {s['max']:.3f} ms",
                     f"p99 < {TARGET_WAKE_P99_MS} ms", _verdict(r["pass"])))
        rows.append(("  floor LPUSH->BLPOP p50/p99/max",
                     f"{f['p50']:.3f} / {f['p99']:.3f} / {f['max']:.3f} ms", "", ""))
    return rows


def _print_summary(results: dict[str, Any]) -> None:
    rows = _summary_rows(results)
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    say("summary")
    for row in rows:
        say("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# ------------------------------------------------------------------------------ main


async def _main(args: argparse.Namespace) -> int:
    started = time.time()
    machine = harness.machine_facts()
    machine["calibration_ms_start"] = harness.calibrate()
    results: dict[str, Any] = {}
    async with harness.redis_server(args) as server:
        client = Client(server.url)
        async with client:
            ctx = Ctx(args, server, client, harness.make_body(args.body_size), uuid.uuid4().hex[:8])
            machine["event_loop"] = harness.loop_name()
            say(f"loadtest queues: {machine['cpus']} CPUs ({machine['cpu_model']}), "
                f"Python {machine['python']}, {machine['event_loop']}, "
                f"redis-py {machine['redis_py']} (hiredis {machine['hiredis']})")
            say(f"redis-server {server.facts['redis_version']} "
                f"{'started by the benchmark' if server.embedded else 'at ' + server.url}, "
                f"appendonly yes, appendfsync {server.fsync}")
            say(f"calibration: {machine['calibration_ms_start']:.1f} ms of CPU for a fixed "
                f"Python workload (lower = faster machine; compare runs with it)")
            say(f"parameters: count {args.count:,}, concurrency {args.concurrency}, body "
                f"{args.body_size} B, depth {args.shallow:,} vs {args.deep:,} "
                f"({args.samples:,} samples), memory {args.mem_count:,} messages, "
                f"wake-ups {args.wake_samples:,}{' (quick)' if args.quick else ''}")
            try:
                await _warm_up(ctx)
                for key in RUN_ORDER:
                    if key not in args.only:
                        continue
                    number, title = SCENARIOS[key]
                    say(f"\n[{number}] {title}")
                    if args.wait_idle > 0:
                        other = await harness.wait_idle(args.wait_idle, server.pids)
                        if other >= 0.2:
                            say(f"  (the machine did not go idle within {args.wait_idle:g} s: "
                                f"other processes use {other:.2f} cores)")
                    t0 = time.perf_counter()
                    results[key] = await RUNNERS[key](ctx)
                    results[key]["scenario_s"] = time.perf_counter() - t0
            finally:
                for q in list(ctx.queues):
                    await ctx.drop_queue(q)
    machine["calibration_ms_end"] = harness.calibrate()
    say(f"\ncalibration at the end: {machine['calibration_ms_end']:.1f} ms "
        f"(start {machine['calibration_ms_start']:.1f} ms)")
    say("")
    ordered = {k: results[k] for k in SCENARIOS if k in results}
    _print_summary(ordered)
    repro = harness.reproduce_line(NAME, args.argv)
    explicit = harness.explicit_line(NAME, args.parser, args)
    say(f"\nreproduce (from the repository root, {round(time.time() - started)} s):")
    say(f"  {repro}")
    say(f"  {explicit}")
    if args.json:
        harness.write_json(args.json, {
            "benchmark": NAME, "started": time.strftime(
                "%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": time.time() - started, "command": repro,
            "explicit_command": explicit, "machine": machine, "server": server.facts,
            "parameters": {k: getattr(args, k) for k in (
                "quick", "only", "concurrency", "fill_concurrency", "body_size", *DEFAULTS)},
            "results": ordered,
        })
        say(f"  results written to {args.json}")
    missed = [k for k, r in ordered.items() if not r.get("pass", True)]
    return 1 if missed and args.strict else 0

