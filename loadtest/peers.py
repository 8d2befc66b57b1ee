"""The peers of ``python -m loadtest workers``: how to install each (in a venv of its own
under ``.venv-peers/``), fill its queue, start its worker (one process, the benchmark's
concurrency) and read how many of its jobs are left (from Redis, by its key layout)."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest import harness

PEERS = ("arq", "dramatiq", "bullmq", "celery", "rq")


@dataclass(frozen=True, slots=True)
class Peer:
    requirement: str
    worker: Callable[[Path, str, int], list[str]]
    """(venv bin dir, Redis URL, concurrency) -> the worker's command"""
    depth_keys: tuple[tuple[str, str], ...]
    """(Redis type, key) whose sizes add up to the jobs not yet finished"""


SPECS: dict[str, Peer] = {
    "arq": Peer("arq==0.28.0",
                lambda b, url, c: [str(b / "python"), "-m", "loadtest.peer_apps.arq_app",
                                   "work"],
                (("zset", "arq:queue"),)),
    "dramatiq": Peer("dramatiq[redis]==2.2.1",
                     lambda b, url, c: [str(b / "dramatiq"), "loadtest.peer_apps.dramatiq_app",
                                        "--processes", "1", "--threads", str(c)],
                     (("hash", "dramatiq:default.msgs"),)),
    "bullmq": Peer("bullmq==3.4.4",
                   lambda b, url, c: [str(b / "python"), "-m", "loadtest.peer_apps.bullmq_app",
                                      "work", url, str(c)],
                   (("list", "bull:lt:wait"), ("list", "bull:lt:active"))),
    "celery": Peer("celery[redis]==5.7.0",
                   lambda b, url, c: [str(b / "celery"), "-A", "loadtest.peer_apps.celery_app",
                                      "worker", "-P", "threads", "-c", str(c), "--loglevel",
                                      "WARNING", "--without-gossip", "--without-mingle",
                                      "--without-heartbeat"],
                   (("list", "celery"), ("hash", "unacked"))),
    # one job at a time per RQ worker process (no fork per job with SimpleWorker)
    "rq": Peer("rq==3.0.0",
               lambda b, url, c: [str(b / "rq"), "worker", "--burst", "-w",
                                  "rq.worker.SimpleWorker", "--url", url, "-q"],
               (("list", "rq:queue:default"), ("zset", "rq:wip:default"))),
}


def choose(text: str) -> list[str]:
    if text == "all":
        return list(PEERS)
    if text == "none":
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise SystemExit(f"unknown peers {unknown}: choose from {', '.join(PEERS)}")
    return names


def ensure_venv(root: Path, name: str, say: Callable[[str], None],
                requirement: str | None = None) -> str:
    """The python of the peer's venv (``.venv-peers/<name>``), made and ``requirement``
    (default: the peer's) installed on first use."""
    venv = root / ".venv-peers" / name
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    spec = requirement or SPECS[name].requirement
    if marker.exists() and marker.read_text() == spec:
        return str(python)
    say(f"  installing {spec} into {venv.relative_to(root)} (first use)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", spec], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker.write_text(spec)
    return str(python)


async def run(name: str, python: str, root: Path, server: harness.Server,
              args: argparse.Namespace, drain: Callable[..., Awaitable[dict[str, Any]]],
              stop: Callable[[subprocess.Popen[bytes]], None]) -> dict[str, Any]:
    peer = SPECS[name]
    await server.inspect.flushall()
    env = {**os.environ, "PYTHONPATH": str(root), "PEER_REDIS_URL": server.url,
           "PEER_CONCURRENCY": str(args.concurrency)}
    started = asyncio.get_running_loop().time()
    fill = await asyncio.create_subprocess_exec(
        python, "-m", f"loadtest.peer_apps.{name}_app", "fill", server.url, str(args.count),
        str(args.body_size), cwd=root, env=env)
    if await fill.wait() != 0:
        raise RuntimeError(f"filling {name}'s queue failed")
    filled_s = asyncio.get_running_loop().time() - started

    async def depth() -> int:
        total = 0
        for kind, key in peer.depth_keys:
            r = server.inspect
            total += int(await (r.zcard(key) if kind == "zset" else
                                r.hlen(key) if kind == "hash" else r.llen(key)))
        return total

    if await depth() < args.count:
        raise RuntimeError(f"{name}: its queue holds {await depth()} jobs after the fill, "
                           f"not {args.count} (its key layout changed?)")
    if args.wait_idle > 0:
        await server.settle()
        await harness.wait_idle(args.wait_idle, server.pids)
    bindir = Path(python).parent
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once, not awaited)
        peer.worker(bindir, server.url, args.concurrency), cwd=root,
        env=env, stdout=subprocess.DEVNULL)
    try:
        res = await drain(server, depth, args.count, proc, name, args.limit)
    finally:
        stop(proc)
    await server.inspect.flushall()
    res["fill_s"] = filled_s
    return res
