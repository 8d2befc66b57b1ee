"""``python -m loadtest workers``: the worker framework against the Redis job libraries.

One worker process with a no-op handler drains a queue of ``--count`` 1 KiB messages
(each processed and deleted); records/s = count / (time from the first message taken to
the queue being empty), measured from outside by polling the queue's depth every 20 ms.
The same workload then runs, on the same Redis, with each peer (arq, Dramatiq, BullMQ's
Python port, Celery, RQ) installed in a venv of its own (``.venv-peers``, made on first
use: the peers' dependencies would clash with ours): its own enqueue API fills its own
queue, its own worker command (one process, the same concurrency) drains it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from broker import Client
from loadtest import harness, peers
from loadtest.harness import progress, say

NAME = "workers"
SCENARIOS: dict[str, tuple[int, str]] = {"drain": (1, "one worker process, no-op handler")}
TARGET_S = 10_000
TARGET_RATIO = 2.0
QUEUE = "lt-workers"
DEFAULTS: dict[str, tuple[int, int]] = {"count": (100_000, 20_000)}
ROOT = Path(__file__).resolve().parents[1]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help="the worker framework: messages/s of one worker process, against arq, "
                   "Dramatiq, BullMQ, Celery and RQ", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_server_arguments(p)
    p.add_argument("--quick", action="store_true", help="scale the counts down")
    p.add_argument("--count", type=harness.positive_int, default=None, metavar="N",
                   help="messages (default 100000; quick 20000)")
    p.add_argument("--concurrency", type=harness.positive_int, default=64, metavar="N",
                   help="handlers at once in the worker (and the peers'; default 64)")
    p.add_argument("--limit", type=float, default=60.0, metavar="SECONDS",
                   help="a worker still busy after this long is measured on what it did "
                        "(default 60: RQ needs about 15 minutes for 100,000)")
    p.add_argument("--peers", default="all", metavar="LIST",
                   help=f"peers to compare: all, none, or some of {','.join(peers.PEERS)}")
    p.set_defaults(func=main, parser=p, only=None)
    return p


def main(args: argparse.Namespace) -> int:
    harness.apply_defaults(args, DEFAULTS, SCENARIOS)
    return harness.run(_main(args))


async def drain(server: harness.Server, depth: Any, total: int, proc: subprocess.Popen[bytes],
                label: str, limit_s: float) -> dict[str, Any]:
    """Poll ``depth()`` until 0; the rate counts from the first message taken. A worker
    that needs more than ``limit_s`` is measured on what it did by then."""
    t_first: float | None = None
    start = time.monotonic()
    cpu0 = cpu_first = tree_cpu(proc.pid)
    d = total
    while True:
        d = await depth()
        now = time.monotonic()
        if t_first is None and d < total:
            t_first, cpu_first = now, tree_cpu(proc.pid)
        if d == 0:
            break
        if proc.poll() is not None:
            raise RuntimeError(f"{label}: the worker exited ({proc.returncode})")
        if t_first is not None and now - t_first > limit_s:
            break
        if now - start > limit_s + 60:
            raise RuntimeError(f"{label}: no message taken in {limit_s + 60:.0f} s")
        progress(f"  {label}: {total - d:,}/{total:,}")
        await asyncio.sleep(0.02)
    assert t_first is not None
    elapsed = time.monotonic() - t_first
    done = total - d
    cpu = tree_cpu(proc.pid) - cpu_first
    return {"messages": done, "elapsed_s": elapsed, "messages_per_s": done / elapsed,
            "worker_cpu_s": cpu, "completed": d == 0, "startup_cpu_s": cpu_first - cpu0}


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (Dramatiq works in a child)."""
    total = harness.proc_cpu(pid)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # the parent pid
                total += harness.proc_cpu(int(entry))
    return total


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def ours(args: argparse.Namespace, server: harness.Server) -> dict[str, Any]:
    body = harness.make_body(args.body_size)
    async with Client(server.url) as client:
        q = await client.create_queue(QUEUE)
        await q.purge()
        todo = iter(range(0, args.count, 10))

        async def fill() -> None:
            for _ in todo:
                await q.send_batch([body] * 10)

        await asyncio.gather(*(fill() for _ in range(4)))
        if args.wait_idle > 0:
            await server.settle()
            await harness.wait_idle(args.wait_idle, server.pids)

        async def depth() -> int:
            a = await q.attributes(["ApproximateNumberOfMessages",
                                    "ApproximateNumberOfMessagesNotVisible"])
            return int(a["ApproximateNumberOfMessages"]) + \
                int(a["ApproximateNumberOfMessagesNotVisible"])

        proc = subprocess.Popen(  # noqa: ASYNC220 (started once, not awaited)
            [sys.executable, "-m", "workers", "run", "loadtest.worker_app:app", "--url",
             server.url, "--concurrency", str(args.concurrency), "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            res = await drain(server, depth, args.count, proc, "redcurrent", args.limit)
        finally:
            stop(proc)
        await q.delete_queue()
    return res


async def _main(args: argparse.Namespace) -> int:
    started = time.time()
    machine = harness.machine_facts()
    machine["calibration_ms_start"] = harness.calibrate()
    chosen = peers.choose(args.peers)
    results: dict[str, Any] = {}
    async with harness.redis_server(args) as server:
        say(f"loadtest workers: {machine['cpus']} CPUs ({machine['cpu_model']}), Python "
            f"{machine['python']}; redis-server {server.facts['redis_version']}, "
            f"appendfsync {server.fsync}; calibration {machine['calibration_ms_start']:.1f} ms")
        say(f"\n[1] one worker process, no-op handler, {args.count:,} messages of "
            f"{args.body_size} B, concurrency {args.concurrency}")
        results["redcurrent"] = await ours(args, server)
        _line("redcurrent", results["redcurrent"])
        for name in chosen:
            try:
                python = peers.ensure_venv(ROOT, name, say)
                results[name] = await peers.run(name, python, ROOT, server, args, drain, stop)
            except Exception as exc:  # a peer that cannot be installed or run here
                results[name] = {"error": str(exc)}
                say(f"  {name}: not measured ({exc})")
                continue
            _line(name, results[name])
    ours_rate = results["redcurrent"]["messages_per_s"]
    rates = {k: r["messages_per_s"] for k, r in results.items()
             if k != "redcurrent" and "messages_per_s" in r}
    summary: dict[str, Any] = {"redcurrent": ours_rate, "target": TARGET_S}
    say("")
    say(f"  redcurrent: {ours_rate:,.0f} messages/s (target >= {TARGET_S:,}) -> "
        f"{'PASS' if ours_rate >= TARGET_S else 'MISS'}")
    if rates:
        best = max(rates, key=lambda k: rates[k])
        ratio = ours_rate / rates[best] if rates[best] else float("inf")
        summary |= {"fastest_peer": best, "fastest_peer_rate": rates[best], "ratio": ratio}
        for k in sorted(rates, key=lambda k: -rates[k]):
            say(f"  {k}: {rates[k]:,.0f} messages/s -> redcurrent is "
                f"{ours_rate / rates[k]:.1f}x")
        say(f"  fastest peer: {best}; ratio {ratio:.2f}x (goal >= {TARGET_RATIO:.0f}x) -> "
            f"{'PASS' if ratio >= TARGET_RATIO else 'MISS'}")
    results["summary"] = summary
    passed = ours_rate >= TARGET_S and (not rates or summary["ratio"] >= TARGET_RATIO)
    return harness.finish(NAME, args, started, machine, results, passed)


def _line(name: str, r: dict[str, Any]) -> None:
    if "messages_per_s" in r:
        say(f"  {name}: {r['messages']:,} in {r['elapsed_s']:.2f} s = "
            f"{r['messages_per_s']:,.0f} messages/s"
            f"{'' if r['completed'] else ' (stopped at the time limit)'}; worker process "
            f"CPU {r['worker_cpu_s'] * 1e6 / max(r['messages'], 1):.0f} us/message")

