"""What every benchmark shares: the Redis server it runs against, the event loop, server
introspection (INFO), machine facts, the reproduce line and the JSON output."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis.asyncio as aioredis

from broker.embedded import EmbeddedRedis

T = TypeVar("T")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """--redis-url, --fsync, --json, --wait-idle, --body-size and --strict: common to
    every benchmark."""
    parser.add_argument(
        "--redis-url", default=None, metavar="URL",
        help="use this Redis instead of starting one (queues get unique names and are "
             "deleted afterwards; --fsync is then ignored)")
    parser.add_argument(
        "--fsync", choices=("everysec", "always", "no"), default="everysec",
        help="appendfsync of the redis-server the benchmark starts (AOF is always on; "
             "default everysec, the production default)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the results as JSON to PATH")
    parser.add_argument(
        "--wait-idle", type=float, default=0.0, metavar="SECONDS",
        help="before each scenario, wait up to SECONDS for the rest of the machine to be "
             "idle (other processes < 0.2 cores over 2 s); for shared machines (default 0)")
    parser.add_argument("--body-size", type=positive_int, default=1024, metavar="BYTES",
                        help="message body size (default 1024)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a target is missed")


def positive_int(text: str) -> int:
    """argparse type: an integer > 0 (``1_000`` allowed)."""
    value = int(text.replace("_", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def scenario_list(scenarios: Mapping[str, tuple[int, str]]) -> Callable[[str], list[str]]:
    """argparse type for ``--only``: comma-separated scenario names or numbers."""
    by_number = {str(n): k for k, (n, _) in scenarios.items()}

    def parse(text: str) -> list[str]:
        out = []
        for n in (s.strip() for s in text.split(",") if s.strip()):
            key = by_number.get(n, n)
            if key not in scenarios:
                raise argparse.ArgumentTypeError(
                    f"unknown scenario {n!r}: use {', '.join(scenarios)} or "
                    f"1-{len(scenarios)}")
            out.append(key)
        return out

    return parse


def apply_defaults(args: argparse.Namespace, defaults: Mapping[str, tuple[Any, Any]],
                   everything: Iterable[str]) -> None:
    """Fill the options left unset: (full, quick) pairs by ``--quick``; ``--only``: all."""
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.only is None:
        args.only = list(everything)


def run(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed, else on asyncio's default loop."""
    return run_value(coro)


def run_value(coro: Coroutine[Any, Any, T]) -> T:
    """``run`` for any result."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: T = uvloop.run(coro)
    return result


def loop_name() -> str:
    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__}.{type(loop).__name__}"


@dataclass
class Server:
    """The Redis a benchmark talks to, plus a plain client to inspect it."""

    url: str
    embedded: bool
    fsync: str
    inspect: aioredis.Redis
    facts: dict[str, Any] = field(default_factory=dict)
    #: processes that belong to the benchmark (the redis-server it started)
    pids: list[int] = field(default_factory=list)

    async def info(self, section: str) -> dict[str, Any]:
        info: dict[str, Any] = await self.inspect.info(section)
        return info

    async def used_memory(self) -> int:
        return int((await self.info("memory"))["used_memory"])

    async def fcall_calls(self) -> int:
        """How many FCALLs the server has run (INFO commandstats)."""
        return (await self.fcall_stats())[0]

    async def fcall_stats(self) -> tuple[int, int]:
        """(calls, microseconds spent inside them) of FCALL (INFO commandstats)."""
        entry = (await self.info("commandstats")).get("cmdstat_fcall")
        return (int(entry["calls"]), int(entry["usec"])) if entry else (0, 0)

    async def blocked_clients(self) -> int:
        return int((await self.info("clients"))["blocked_clients"])

    async def aof_rewrites(self) -> int:
        return int((await self.info("persistence")).get("aof_rewrites", 0))

    async def settle(self, timeout_s: float = 120.0, say: Any = None) -> float:
        """Wait until no AOF rewrite runs or is scheduled and lazy-free has caught up, so
        a measurement does not share the CPUs with background work. Returns seconds
        waited (gives up after ``timeout_s``)."""
        start = time.monotonic()
        told = False
        while True:
            p = await self.info("persistence")
            m = await self.info("memory")
            busy = (int(p.get("aof_rewrite_in_progress", 0))
                    or int(p.get("aof_rewrite_scheduled", 0))
                    or int(m.get("lazyfree_pending_objects", 0)))
            waited = time.monotonic() - start
            if not busy or waited > timeout_s:
                return waited
            if say is not None and not told and waited > 1:
                say("  (waiting for a background AOF rewrite / lazy free to finish)")
                told = True
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def redis_server(args: argparse.Namespace) -> AsyncIterator[Server]:
    """The server of ``--redis-url``, or a fresh ``redis-server`` with AOF on and
    ``appendfsync`` from ``--fsync``, in a temporary directory deleted afterwards."""
    if args.redis_url:
        inspect = aioredis.Redis.from_url(args.redis_url)
        try:
            try:
                conf = await inspect.config_get("append*")
                fsync = f"{conf.get('appendfsync', '?')} (appendonly "\
                        f"{conf.get('appendonly', '?')})"
            except Exception:
                fsync = "unknown (CONFIG GET refused)"
            server = Server(args.redis_url, False, fsync, inspect)
            server.facts = await _server_facts(server)
            yield server
        finally:
            await inspect.aclose()
        return
    with tempfile.TemporaryDirectory(prefix="loadtest-redis-") as tmp:
        async with EmbeddedRedis(data_dir=Path(tmp), appendonly=True,
                                 appendfsync=args.fsync) as redis_proc:
            inspect = aioredis.Redis.from_url(redis_proc.url)
            try:
                server = Server(redis_proc.url, True, args.fsync, inspect)
                if redis_proc.pid is not None:
                    server.pids.append(redis_proc.pid)
                server.facts = await _server_facts(server)
                server.facts["data_dir"] = tmp
                yield server
            finally:
                await inspect.aclose()


async def _server_facts(server: Server) -> dict[str, Any]:
    info = await server.info("server")
    mem = await server.info("memory")
    return {
        "redis_version": info.get("redis_version"),
        "allocator": mem.get("mem_allocator"),
        "appendonly": "yes" if server.embedded else "see appendfsync",
        "appendfsync": server.fsync,
        "embedded": server.embedded,
    }


def host_cpu() -> dict[str, float]:
    """Busy CPU seconds of the whole machine (/proc/stat) and seconds some task waited
    for a CPU (/proc/pressure/cpu), both cumulative; zeros where unavailable."""
    out = {"busy_s": 0.0, "pressure_some_s": 0.0}
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(f) for f in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        out["busy_s"] = (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError, ValueError, IndexError):
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        out["pressure_some_s"] = int(some.rsplit("total=", 1)[1]) / 1e6
    return out


async def wait_idle(limit_s: float, exclude_pids: Sequence[int] = (),
                    threshold_cores: float = 0.2, window_s: float = 2.0) -> float:
    """Wait until processes other than this one and ``exclude_pids`` used less than
    ``threshold_cores`` over ``window_s``, or ``limit_s`` passed. Returns the other load
    of the last window (cores)."""
    deadline = time.monotonic() + limit_s
    pids = [os.getpid(), *exclude_pids]
    while True:
        h0, own0, t0 = host_cpu()["busy_s"], sum(proc_cpu(p) for p in pids), time.monotonic()
        await asyncio.sleep(window_s)
        h1, own1, t1 = host_cpu()["busy_s"], sum(proc_cpu(p) for p in pids), time.monotonic()
        other = max(0.0, (h1 - h0) - (own1 - own0)) / (t1 - t0)
        if other < threshold_cores or time.monotonic() >= deadline:
            return other


def calibrate() -> float:
    """Milliseconds of CPU a fixed pure-Python workload takes (best of 5; lower = faster
    machine right now). Shared VMs change speed over time; this lets runs be compared."""
    import hashlib

    body = b"x" * 1024
    best = math.inf
    for _ in range(5):
        t0 = time.process_time()
        acc = 0
        for i in range(20_000):
            text = str(i)
            digest = hashlib.md5(body, usedforsecurity=False).digest()
            fields = {"i": i, "s": text}
            acc += len(text) + digest[0] + len(fields)
        best = min(best, time.process_time() - t0)
    return best * 1000


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used; 0.0 if unknown."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def machine_facts() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    try:
        import uvloop
        uv = getattr(uvloop, "__version__", "?")
    except ImportError:
        uv = None
    import redis
    try:
        import hiredis
        hv = getattr(hiredis, "__version__", "yes")
    except ImportError:
        hv = None
    return {
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_py": redis.__version__,
        "hiredis": hv,
        "uvloop": uv,
    }


def reproduce_line(benchmark: str, argv: Sequence[str]) -> str:
    """The command that re-runs this benchmark, from the repository root."""
    return f"python -m loadtest {benchmark} {shlex.join(argv)}".rstrip()


def explicit_line(benchmark: str, parser: argparse.ArgumentParser,
                  args: argparse.Namespace) -> str:
    """The same command with every option spelled out (immune to default changes)."""
    out = ["python", "-m", "loadtest", benchmark]
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "quick", "json"):
            continue
        if action.dest == "fsync" and getattr(args, "redis_url", None):
            continue  # ignored with --redis-url
        value = getattr(args, action.dest, None)
        opt = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            if value:
                out.append(opt)
        elif value is not None:
            out += [opt, ",".join(value) if isinstance(value, list) else str(value)]
    return shlex.join(out)


def finish(benchmark: str, args: argparse.Namespace, started: float,
           machine: dict[str, Any], results: dict[str, Any],
           passed: bool | None = None) -> int:
    """The end of a run: the commands that reproduce it, the JSON (``--json``), and the
    exit status (1 under ``--strict`` when a target was missed; ``passed`` overrides the
    per-scenario ``pass`` flags)."""
    repro = reproduce_line(benchmark, args.argv)
    say(f"\nreproduce (from the repository root, {round(time.time() - started)} s):")
    say(f"  {repro}")
    say(f"  {explicit_line(benchmark, args.parser, args)}")
    if args.json:
        write_json(args.json, {"benchmark": benchmark, "command": repro,
                               "machine": machine, "results": results})
    if passed is None:
        passed = all(r.get("pass", True) for r in results.values() if isinstance(r, dict))
    return 1 if args.strict and not passed else 0


def write_json(path: str, data: dict[str, Any]) -> None:
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def say(text: str = "") -> None:
    print(text, flush=True)


def progress(text: str) -> None:
    """Progress lines go to stderr, so stdout holds only figures."""
    print(text, file=sys.stderr, flush=True)


class CpuMeter:
    """CPU seconds used by this process and by redis-server over a phase."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._t0 = self._p0 = 0.0
        self._r0 = (0.0, 0.0)
        self._h0: dict[str, float] = {}
        self._f0 = (0, 0)

    async def _redis_cpu(self) -> tuple[float, float]:
        """(main process, forked children such as AOF rewrites) CPU seconds."""
        cpu = await self._server.info("cpu")
        return (float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
                float(cpu.get("used_cpu_user_children", 0))
                + float(cpu.get("used_cpu_sys_children", 0)))

    async def start(self) -> None:
        self._f0 = await self._server.fcall_stats()
        self._r0 = await self._redis_cpu()
        self._h0 = host_cpu()
        self._p0 = time.process_time()
        self._t0 = time.perf_counter()

    async def stop(self, extra_cpu_s: float = 0.0) -> dict[str, float]:
        """``extra_cpu_s``: CPU our own helper processes used meanwhile (not "other")."""
        wall = time.perf_counter() - self._t0
        proc = time.process_time() - self._p0
        host = host_cpu()
        r1 = await self._redis_cpu()
        redis_cpu, children = r1[0] - self._r0[0], r1[1] - self._r0[1]
        f1 = await self._server.fcall_stats()
        busy = host["busy_s"] - self._h0["busy_s"]
        stall = host["pressure_some_s"] - self._h0["pressure_some_s"]
        return {"wall_s": wall, "client_cpu_s": proc, "redis_cpu_s": redis_cpu,
                "client_cores": proc / wall if wall else math.nan,
                "redis_cores": redis_cpu / wall if wall else math.nan,
                "redis_children_cpu_s": children,
                "redis_children_cores": children / wall if wall else math.nan,
                "host_busy_cores": busy / wall if wall else math.nan,
                # CPU the rest of the machine used meanwhile (other benchmarks, tests):
                # the figures are only meaningful when this is near zero
                "other_cores": max(0.0, busy - proc - redis_cpu - children - extra_cpu_s) / wall
                if wall else math.nan,
                "cpu_pressure_some": stall / wall if wall else math.nan,
                # FCALLs the server ran meanwhile and the time spent inside them
                "fcall_calls": f1[0] - self._f0[0], "fcall_s": (f1[1] - self._f0[1]) / 1e6}


def make_body(size: int) -> str:
    """``size`` random alphanumerics (the same on every run): a message body."""
    rng = random.Random(20240601)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(rng.choices(alphabet, k=size))
