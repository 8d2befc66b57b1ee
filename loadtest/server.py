"""``python -m loadtest server``: the broker server over HTTP against moto's server.

The workload is SQS SendMessage (1 KiB body) over the awsJson1_0 protocol from
concurrent keep-alive connections on loopback, with a well-formed but fake SigV4
``Authorization`` header (the broker runs with authentication off, moto never checks).
Every target runs as its own process, one at a time:

* ``ceiling``  two null HTTP servers (``python -m loadtest.null_server``): a bare asyncio
               protocol shows the load generator's ceiling, an aiohttp "return 200" the
               framework's
* ``broker``   ``python -m broker serve`` on a redis-server the benchmark starts (AOF on,
               appendfsync everysec) or on ``--redis-url``
* ``moto``     ``python -m moto.server`` (``pip install 'moto[server]'``)

Two phases per target:

1. throughput: N connections, closed loop, requests/s over ``--duration`` after a
   warm-up; generator ``wrk`` when installed, else Python processes
2. latency:    open loop at ``--rate`` requests/s for ``--duration``; latency from each
               request's scheduled send time (coordinated omission accounted for)

Targets (the issue): broker >= 8,000 requests/s, p99 < 5 ms at 2,000 requests/s,
broker/moto throughput >= 20x.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.util
import json
import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from broker.embedded import free_port
from loadtest import harness, httpgen, wrk
from loadtest.harness import Server, progress, say

NAME = "server"
TARGETS = ("ceiling", "broker", "moto")
#: the issue's targets
TARGET_RPS = 8_000
TARGET_P99_MS = 5.0
TARGET_RATIO = 20.0
#: (full, quick) defaults
DEFAULTS: dict[str, tuple[float, float]] = {"duration": (20.0, 5.0), "warmup": (5.0, 2.0)}
HOST = "127.0.0.1"
REGION = "us-east-1"
#: the access key of the fake signature (moto files the queues under its default account;
#: without an Authorization header moto would route the request to S3, not SQS)
ACCESS_KEY = "AKIDLOADTEST00000000"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0


# ------------------------------------------------------------------------------ CLI


def _targets(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    for n in names:
        if n not in TARGETS:
            raise argparse.ArgumentTypeError(f"unknown target {n!r}: use {', '.join(TARGETS)}")
    return [t for t in TARGETS if t in names]


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help="broker server vs moto_server: SendMessage requests/s and latency",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_server_arguments(p)
    p.add_argument("--quick", action="store_true",
                   help="short phases (5 s, 2 s warm-up) for a smoke run; explicit "
                        "options still win")
    p.add_argument("--only", type=_targets, default=None, metavar="LIST",
                   help="comma-separated targets: ceiling,broker,moto (default all)")
    p.add_argument("--duration", type=_positive_float, default=None, metavar="S",
                   help="seconds measured in each phase (default 20; quick 5)")
    p.add_argument("--warmup", type=_positive_float, default=None, metavar="S",
                   help="unmeasured seconds before the throughput phase (default 5; quick 2)")
    p.add_argument("--connections", type=harness.positive_int, default=64, metavar="N",
                   help="concurrent connections in the throughput phase, and the most "
                        "the open loop uses (default 64)")
    p.add_argument("--rate", type=_positive_float, default=2000.0, metavar="R",
                   help="requests/s of the open-loop latency phase (default 2000)")
    p.add_argument("--drain", type=_positive_float, default=5.0, metavar="S",
                   help="after the open loop, wait this long for outstanding responses "
                        "(default 5)")
    p.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                   help="throughput-phase load generator: wrk, or Python processes "
                        "(default auto: wrk when installed)")
    p.add_argument("--threads", type=harness.positive_int, default=1, metavar="N",
                   help="wrk threads (default 1: one wrk thread outruns this server and "
                        "leaves the other core to it)")
    p.add_argument("--processes", type=harness.positive_int, default=2, metavar="N",
                   help="processes of the Python generator (default 2)")
    p.add_argument("--broker-root", type=Path, default=REPO_ROOT, metavar="DIR",
                   help="run `python -m broker serve` from this checkout (cwd and "
                        "PYTHONPATH), e.g. an older commit unpacked with `git archive`, "
                        "to compare versions (default: this repository)")
    p.add_argument("--broker-log-level", choices=("debug", "info", "warning", "error"),
                   default="warning",
                   help="--log-level of broker serve (default warning: no access log; "
                        "info logs a JSON line per request, to a temporary file)")
    p.set_defaults(func=main, parser=p)
    return p


def _resolve(args: argparse.Namespace) -> None:
    harness.apply_defaults(args, DEFAULTS, TARGETS)
    if args.connections < args.threads:
        args.threads = args.connections


def main(args: argparse.Namespace) -> int:
    _resolve(args)
    return harness.run(_main(args))


# ------------------------------------------------------------------------------ processes


@dataclass
class Endpoint:
    """One server under test, running as a child process."""

    name: str
    proc: asyncio.subprocess.Process
    port: int
    log_path: Path
    #: speaks SQS (queues are created and their depth checked); False for null servers
    sqs: bool = False
    #: queues created on it, one per phase
    queue_urls: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def _child_env(root: Path = REPO_ROOT) -> dict[str, str]:
    """Our environment without BROKER_* (so credentials or settings from the shell cannot
    switch authentication on), with ``root`` first on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    return env


async def _spawn(name: str, argv: list[str], work_dir: Path, root: Path = REPO_ROOT
                 ) -> Endpoint:
    port = free_port(HOST)
    log_path = work_dir / f"{name}.log"
    argv = [a.replace("{port}", str(port)) for a in argv]
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            cwd=str(root), env=_child_env(root))
    return Endpoint(name, proc, port, log_path)


async def _wait_ready(ep: Endpoint, path: str, any_status: bool) -> None:
    """Poll GET ``path`` until it answers 200 (any HTTP answer with ``any_status``)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            if ep.proc.returncode is not None:
                raise RuntimeError(f"{ep.name} exited with {ep.proc.returncode}:\n"
                                   f"{ep.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(ep.url + path) as resp:
                    if resp.status == 200 or any_status:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ep.name} not ready after {READY_TIMEOUT_S:g} s:\n"
                                   f"{ep.log_tail()}")
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _running(ep: Endpoint, ready_path: str, any_status: bool = False
                   ) -> AsyncIterator[Endpoint]:
    try:
        await _wait_ready(ep, ready_path, any_status)
        yield ep
    finally:
        await ep.stop()


def null_argv(kind: str) -> list[str]:
    return [sys.executable, "-m", "loadtest.null_server", "--kind", kind,
            "--host", HOST, "--port", "{port}"]


def moto_argv() -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", "{port}"]


def broker_argv(redis_url: str, log_level: str) -> list[str]:
    return [sys.executable, "-m", "broker", "serve", "--host", HOST, "--port", "{port}",
            "--redis-url", redis_url, "--log-level", log_level]


def moto_missing() -> str | None:
    """Why moto's server cannot run here, or None."""
    for module in ("moto", "flask", "flask_cors"):
        if importlib.util.find_spec(module) is None:
            return (f"{module} is not installed: run `.venv/bin/pip install 'moto[server]'` "
                    f"(moto is deliberately not a project dependency)")
    return None


async def broker_missing(root: Path) -> str | None:
    """Why ``python -m broker serve`` cannot run from ``root``, or None."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker", "serve", "--help", cwd=str(root),
        env=_child_env(root), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode == 0:
        return None
    text = out.decode(errors="replace").strip().splitlines()
    return f"`python -m broker serve --help` failed ({text[-1] if text else proc.returncode})"


def boto3_missing() -> str | None:
    if importlib.util.find_spec("boto3") is None:
        return "boto3 is not installed (it creates the queues): pip install -e '.[dev]'"
    return None


# ------------------------------------------------------------------------------ SQS


def _sqs(endpoint_url: str) -> Any:
    import boto3

    return boto3.client("sqs", endpoint_url=endpoint_url, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key="loadtest")


async def create_queue(endpoint_url: str, name: str) -> str:
    def call() -> str:
        return str(_sqs(endpoint_url).create_queue(QueueName=name)["QueueUrl"])

    return await asyncio.to_thread(call)


async def queue_depth(endpoint_url: str, queue_url: str) -> int:
    def call() -> int:
        attrs = _sqs(endpoint_url).get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    return await asyncio.to_thread(call)


async def delete_queue(endpoint_url: str, queue_url: str) -> None:
    await asyncio.to_thread(lambda: _sqs(endpoint_url).delete_queue(QueueUrl=queue_url))


def make_body(size: int) -> str:
    rng = random.Random(20240601)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(rng.choices(alphabet, k=size))


def send_message_headers() -> dict[str, str]:
    """awsJson1_0 SendMessage headers with a well-formed, unverifiable SigV4 signature."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    scope = f"{ACCESS_KEY}/{stamp[:8]}/{REGION}/sqs/aws4_request"
    return {
        "X-Amz-Target": "AmazonSQS.SendMessage",
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Date": stamp,
        "Authorization": (f"AWS4-HMAC-SHA256 Credential={scope}, "
                          f"SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                          f"Signature={'0' * 64}"),
    }


def send_message_json(queue_url: str, body: str) -> str:
    return json.dumps({"QueueUrl": queue_url, "MessageBody": body}, separators=(",", ":"))


# ------------------------------------------------------------------------------ context


@dataclass
class Ctx:
    args: argparse.Namespace
    run_id: str
    work_dir: Path
    body: str
    #: path of wrk, or None for the Python generator
    wrk_path: str | None
    generator: str
    #: the Redis of the broker target (None when it is not run)
    redis: Server | None = None
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class Workload:
    """The request every phase sends to one endpoint."""

    request: httpgen.HttpRequest
    script: Path
    #: the queue it sends to; None for a null server
    queue_url: str | None


async def phase_workload(ctx: Ctx, ep: Endpoint, phase: str) -> Workload:
    """A fresh queue for the phase (moto's SendMessage slows down as its queue grows, so
    every phase starts empty), the request sending to it and its wrk script; one request
    is sent and must succeed."""
    queue_url = None
    if ep.sqs:
        queue_url = await create_queue(ep.url, f"lt-{ctx.run_id}-{phase}")
        ep.queue_urls.append(queue_url)
    headers = send_message_headers()
    json_body = send_message_json(queue_url or f"{ep.url}/000000000000/null", ctx.body)
    request = httpgen.HttpRequest.build(HOST, ep.port, "POST", "/", headers,
                                        json_body.encode())
    script = ctx.work_dir / f"{ep.name}-{phase}.lua"
    script.write_text(wrk.script("POST", headers, json_body))
    work = Workload(request, script, queue_url)
    await _preflight(ep, work)
    return work


class CpuMeter:
    """CPU used over a phase by the server process, its Redis (INFO cpu), this process
    and the whole machine (/proc/stat)."""

    def __init__(self, ep: Endpoint, redis: Server | None) -> None:
        self._pid = ep.proc.pid
        self._redis = redis
        self._start: dict[str, float] = {}
        self._end: dict[str, float] = {}

    async def _sample(self) -> dict[str, float]:
        redis = children = 0.0
        if self._redis is not None:
            cpu = await self._redis.info("cpu")
            redis = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
            # forked children: AOF rewrites
            children = (float(cpu.get("used_cpu_user_children", 0))
                        + float(cpu.get("used_cpu_sys_children", 0)))
        return {"t": time.monotonic(), "server": harness.proc_cpu(self._pid),
                "redis": redis, "redis_children": children, "own": time.process_time(),
                "host": harness.host_cpu()["busy_s"]}

    async def start(self) -> None:
        self._start = await self._sample()

    async def mark_end(self) -> None:
        self._end = await self._sample()

    async def stop(self, generator_cpu_s: float, in_process: bool) -> dict[str, float]:
        await self.mark_end()
        return self.result(generator_cpu_s, in_process)

    def result(self, generator_cpu_s: float, in_process: bool) -> dict[str, float]:
        """``in_process``: the generator ran in this process (its CPU is "own")."""
        d = {k: self._end[k] - self._start[k] for k in self._end}
        wall = d["t"] or math.nan
        own = 0.0 if in_process else d["own"]
        other = max(0.0, d["host"] - d["server"] - d["redis"] - d["redis_children"] - own
                    - generator_cpu_s)
        return {"wall_s": wall, "server_cores": d["server"] / wall,
                "redis_cores": d["redis"] / wall,
                "redis_children_cores": d["redis_children"] / wall,
                "generator_cores": generator_cpu_s / wall,
                "this_process_cores": d["own"] / wall, "host_busy_cores": d["host"] / wall,
                "other_cores": other / wall, "server_cpu_s": d["server"],
                "redis_cpu_s": d["redis"], "generator_cpu_s": generator_cpu_s}


# ------------------------------------------------------------------------------ phases


async def _server_quiet(ep: Endpoint, limit_s: float = 30.0) -> float:
    """Wait until the server process uses < 0.05 cores over 0.5 s (it may still be
    answering requests a generator gave up on), at most ``limit_s``; returns the wait."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        cpu0 = harness.proc_cpu(ep.proc.pid)
        await asyncio.sleep(0.5)
        if harness.proc_cpu(ep.proc.pid) - cpu0 < 0.025:
            break
    return time.monotonic() - start


async def _before_phase(ctx: Ctx, ep: Endpoint) -> None:
    if (waited := await _server_quiet(ep)) > 2:
        progress(f"  ({ep.name} was busy for {waited:.1f} s after the last load)")
    if ctx.redis is not None and ep.name == "broker":
        await ctx.redis.settle(say=progress)
    if ctx.args.wait_idle > 0:
        pids = [ep.proc.pid, *(ctx.redis.pids if ctx.redis else [])]
        other = await harness.wait_idle(ctx.args.wait_idle, pids)
        if other >= 0.2:
            say(f"  (the machine did not go idle within {ctx.args.wait_idle:g} s: other "
                f"processes use {other:.2f} cores)")


async def _preflight(ep: Endpoint, work: Workload) -> None:
    """One request must succeed before any load is applied."""
    response = await httpgen.send_one(work.request)
    if not 200 <= response.status < 300:
        raise RuntimeError(f"{ep.name}: SendMessage answered {response.status}: "
                           f"{response.body[:500]!r}")
    if work.queue_url and b"MessageId" not in response.body:
        raise RuntimeError(f"{ep.name}: SendMessage answer has no MessageId: "
                           f"{response.body[:500]!r}")


async def _run_wrk(ctx: Ctx, ep: Endpoint, work: Workload, duration_s: float,
                   cpu: CpuMeter | None) -> dict[str, Any]:
    """One closed-loop wrk run; CPU metered when ``cpu`` is given."""
    a = ctx.args
    assert ctx.wrk_path is not None
    if cpu is not None:
        await cpu.start()
    res = await wrk.run(ctx.wrk_path, ep.url + "/", work.script, connections=a.connections,
                        threads=a.threads, duration_s=duration_s)
    out = res.to_dict()
    if cpu is not None:
        out["cpu"] = await cpu.stop(res.cpu_s, in_process=False)
    out.update(generator="wrk", threads=a.threads, connections=a.connections,
               socket_errors_total=sum(res.socket_errors.values()), ok_total=res.ok(),
               # requests still unanswered when wrk stopped: answered (stored) uncounted
               in_flight_slack=a.connections)
    return out


async def _run_python(ctx: Ctx, ep: Endpoint, work: Workload, duration_s: float,
                      cpu: CpuMeter | None) -> dict[str, Any]:
    """One closed-loop run of the Python generator processes; CPU metered over the
    window they send in (not while they start)."""
    a = ctx.args
    start_at = time.monotonic() + httpgen.SPAWN_S
    run = asyncio.create_task(httpgen.closed_loop_processes(
        work.request, a.connections, a.processes, 0.0, duration_s, start_at))
    if cpu is not None:
        await httpgen.sleep_until(start_at)
        await cpu.start()
        await httpgen.sleep_until(start_at + duration_s)
        await cpu.mark_end()
    res = await run
    out = res.to_dict()
    if cpu is not None:
        out["cpu"] = cpu.result(res.generator_cpu_s, in_process=False)
    out.update(generator="python", socket_errors_total=sum(res.tally.failures.values()),
               ok_total=res.total_ok, in_flight_slack=0)
    return out


async def phase_throughput(ctx: Ctx, ep: Endpoint, work: Workload) -> dict[str, Any]:
    """Warm-up run, then the measured run, both closed loop into the phase's queue."""
    a = ctx.args
    run = _run_wrk if ctx.wrk_path else _run_python
    before = await _depth(ep, work)
    progress(f"  [{ep.name}] throughput: warm-up {a.warmup:g} s")
    warm = await run(ctx, ep, work, a.warmup, None)
    await _before_phase(ctx, ep)
    progress(f"  [{ep.name}] throughput: {a.duration:g} s, {a.connections} connections")
    res = await run(ctx, ep, work, a.duration, CpuMeter(ep, _redis_of(ctx, ep)))
    res["warmup"] = {k: warm[k] for k in (
        "requests", "duration_s", "requests_per_s", "non_2xx", "socket_errors_total")}
    res["stored"] = await _stored_check(ep, work, before, warm["ok_total"] + res["ok_total"],
                                        warm["in_flight_slack"] + res["in_flight_slack"])
    return res


def _redis_of(ctx: Ctx, ep: Endpoint) -> Server | None:
    return ctx.redis if ep.name == "broker" else None


async def phase_latency(ctx: Ctx, ep: Endpoint, work: Workload) -> dict[str, Any]:
    a = ctx.args
    await _before_phase(ctx, ep)
    cpu = CpuMeter(ep, _redis_of(ctx, ep))
    before = await _depth(ep, work)
    progress(f"  [{ep.name}] latency: open loop {a.rate:,.0f} requests/s for "
             f"{a.duration:g} s")
    await cpu.start()
    with httpgen.gc_paused():
        res = await httpgen.open_loop(work.request, a.rate, a.duration, a.connections,
                                      drain_s=a.drain, progress=progress)
    usage = await cpu.stop(res.generator_cpu_s, in_process=True)
    out = res.to_dict()
    out.update(generator="python open loop", cpu=usage)
    out["stored"] = await _stored_check(ep, work, before, res.tally.ok(), res.incomplete)
    return out


async def _depth(ep: Endpoint, work: Workload) -> int | None:
    if work.queue_url is None:
        return None
    return await queue_depth(ep.url, work.queue_url)


async def _stored_check(ep: Endpoint, work: Workload, before: int | None, ok: int,
                        in_flight: int) -> dict[str, Any] | None:
    """Messages the queue gained vs 2xx answers counted: equal, or at most
    ``in_flight`` more (requests answered after the generator stopped counting)."""
    if before is None:
        return None
    await asyncio.sleep(0.5)
    after = await _depth(ep, work) or 0
    gained = after - before
    return {"gained": gained, "ok_counted": ok,
            "consistent": ok <= gained <= ok + in_flight}


# ------------------------------------------------------------------------------ targets


async def bench_endpoint(ctx: Ctx, ep: Endpoint) -> dict[str, Any]:
    res: dict[str, Any] = {}
    work = await phase_workload(ctx, ep, "throughput")
    res["throughput"] = await phase_throughput(ctx, ep, work)
    print_throughput(res["throughput"])
    work = await phase_workload(ctx, ep, "latency")
    res["latency"] = await phase_latency(ctx, ep, work)
    print_latency(res["latency"])
    return res


async def bench_null(ctx: Ctx, kind: str) -> dict[str, Any]:
    ep = await _spawn(f"null-{kind}", null_argv(kind), ctx.work_dir)
    async with _running(ep, "/readyz"):
        return await bench_endpoint(ctx, ep)


async def bench_moto(ctx: Ctx) -> dict[str, Any]:
    ep = await _spawn("moto", moto_argv(), ctx.work_dir)
    ep.sqs = True
    async with _running(ep, "/", any_status=True):
        res = await bench_endpoint(ctx, ep)
        import moto

        res["moto_version"] = moto.__version__
        return res


async def bench_broker(ctx: Ctx) -> dict[str, Any]:
    async with harness.redis_server(ctx.args) as redis:
        ctx.redis = redis
        try:
            return await _bench_broker(ctx, redis)
        finally:
            ctx.redis = None


async def _bench_broker(ctx: Ctx, redis: Server) -> dict[str, Any]:
    argv = broker_argv(redis.url, ctx.args.broker_log_level)
    ep = await _spawn("broker", argv, ctx.work_dir, ctx.args.broker_root)
    ep.sqs = True
    async with _running(ep, "/readyz"):
        try:
            res = await bench_endpoint(ctx, ep)
        finally:
            if not redis.embedded:
                for queue_url in ep.queue_urls:
                    with contextlib.suppress(Exception):
                        await delete_queue(ep.url, queue_url)
        res["redis"] = redis.facts
        res["log_level"] = ctx.args.broker_log_level
        return res


async def _guarded(name: str, run: Callable[[], Awaitable[dict[str, Any]]]
                   ) -> dict[str, Any]:
    """Run one target; a failure is reported and recorded, the other targets still run."""
    try:
        return await run()
    except Exception as exc:  # noqa: BLE001 - reported, the run goes on
        say(f"  ERROR: {name}: {exc}")
        return {"error": str(exc)}


async def run_targets(ctx: Ctx, skipped: dict[str, str]) -> None:
    if "ceiling" in ctx.args.only:
        for kind in ("raw", "aiohttp"):
            say(f"\n[ceiling] null server, {kind}")
            ctx.results[f"null-{kind}"] = await _guarded(
                f"null-{kind}", functools.partial(bench_null, ctx, kind))
    for name, title, bench in (("broker", "python -m broker serve", bench_broker),
                               ("moto", "python -m moto.server", bench_moto)):
        if name not in ctx.args.only:
            continue
        say(f"\n[{name}] {title}")
        if name in skipped:
            say(f"  SKIPPED: {skipped[name]}")
            ctx.results[name] = {"skipped": skipped[name]}
        else:
            ctx.results[name] = await _guarded(name, functools.partial(bench, ctx))


async def find_skipped(only: list[str], broker_root: Path) -> dict[str, str]:
    skipped: dict[str, str] = {}
    boto = boto3_missing()
    if "broker" in only and (why := boto or await broker_missing(broker_root)):
        skipped["broker"] = why
    if "moto" in only and (why := boto or moto_missing()):
        skipped["moto"] = why
    return skipped


# ------------------------------------------------------------------------------ output


def _fmt_ms(s: dict[str, Any], key: str) -> str:
    return f"{s[key]:.2f}" if s.get("count", 1) and key in s else "-"


def print_throughput(r: dict[str, Any]) -> None:
    cpu = r["cpu"]
    lat = r["latency_ms"]
    say(f"  throughput ({r['generator']}, {r['connections']} connections): "
        f"{r['requests_per_s']:,.0f} requests/s "
        f"({r['requests']:,} in {r['duration_s']:.1f} s), non-2xx {r['non_2xx']:,}, "
        f"socket errors {r['socket_errors_total']:,}")
    say(f"    latency under full load: p50 {_fmt_ms(lat, 'p50')}  p99 {_fmt_ms(lat, 'p99')}  "
        f"max {_fmt_ms(lat, 'max')} ms")
    w = r["warmup"]
    say(f"    warm-up before it (same queue, from empty): {w['requests_per_s']:,.0f} "
        f"requests/s over {w['duration_s']:.1f} s, non-2xx {w['non_2xx']:,}, socket errors "
        f"{w['socket_errors_total']:,}")
    _print_cpu(cpu, r["requests"])
    _print_stored(r.get("stored"))


def print_latency(r: dict[str, Any]) -> None:
    lat = r["latency_ms"]
    say(f"  latency (open loop {r['rate']:,.0f}/s for {r['duration_s']:g} s): achieved "
        f"{r['achieved_per_s']:,.0f}/s, {r['ok']:,} ok of {r['scheduled']:,} scheduled, "
        f"non-2xx {r['non_2xx']:,}, failed {sum(r['failures'].values()):,}, "
        f"unanswered {r['incomplete']:,}")
    say("    from scheduled send: " + _pcts(lat))
    if r["incomplete"]:
        say("    counting unanswered as lower bounds: "
            + _pcts(r["latency_with_incomplete_ms"]))
    say("    service (from actual send): " + _pcts(r["service_ms"]))
    say("    generator send lag: " + _pcts(r["send_lag_ms"]))
    _print_cpu(r["cpu"], r["ok"])
    _print_stored(r.get("stored"))


def _pcts(s: dict[str, Any]) -> str:
    if not s.get("count"):
        return "no samples"
    return "  ".join(f"{k} {s[k]:.2f}" for k in ("p50", "p90", "p99", "p99.9", "max")) + " ms"


def _print_cpu(cpu: dict[str, float], requests: int) -> None:
    per = 1e6 / requests if requests else math.nan
    say(f"    CPU: server {cpu['server_cores']:.2f} cores "
        f"({cpu['server_cpu_s'] * per:.0f} us/request), redis {cpu['redis_cores']:.2f} "
        f"(+{cpu['redis_children_cores']:.2f} AOF rewrite), "
        f"generator {cpu['generator_cores']:.2f} ({cpu['generator_cpu_s'] * per:.1f} "
        f"us/request), other {cpu['other_cores']:.2f}")
    if cpu["other_cores"] > 0.15:
        say(f"    WARNING: other processes used {cpu['other_cores']:.2f} cores meanwhile: "
            f"figures are depressed")


def _print_stored(stored: dict[str, Any] | None) -> None:
    if stored is None:
        return
    verdict = "ok" if stored["consistent"] else "MISMATCH"
    say(f"    queue gained {stored['gained']:,} messages for {stored['ok_counted']:,} "
        f"2xx counted -> {verdict}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def evaluate(results: dict[str, Any]) -> dict[str, Any]:
    """The three targets of the issue, where measured."""
    out: dict[str, Any] = {}
    broker, moto = results.get("broker", {}), results.get("moto", {})
    if "throughput" in broker:
        rps = broker["throughput"]["requests_per_s"]
        out["throughput"] = {"value": rps, "target": TARGET_RPS, "pass": rps >= TARGET_RPS,
                             "other_cores": broker["throughput"]["cpu"]["other_cores"]}
    if "latency" in broker:
        lat = broker["latency"]
        p99 = lat["latency_with_incomplete_ms"].get("p99", math.inf)
        ok = p99 < TARGET_P99_MS and lat["achieved_per_s"] >= 0.99 * lat["rate"]
        out["p99"] = {"value": p99, "target": TARGET_P99_MS, "pass": ok,
                      "other_cores": lat["cpu"]["other_cores"]}
    if "throughput" in broker and "throughput" in moto:
        ratio = (broker["throughput"]["requests_per_s"]
                 / max(moto["throughput"]["requests_per_s"], 1e-9))
        out["ratio"] = {"value": ratio, "target": TARGET_RATIO, "pass": ratio >= TARGET_RATIO}
        # moto's SendMessage costs grow with its queue's depth: its warm-up (an empty
        # queue) is its best case, so this ratio is the conservative one
        best = moto["throughput"]["warmup"]["requests_per_s"]
        out["ratio_vs_moto_warmup"] = broker["throughput"]["requests_per_s"] / max(best, 1e-9)
    return out


def _pct(key: str) -> Callable[[dict[str, Any]], str]:
    def cell(r: dict[str, Any]) -> str:
        s = r["latency"]["latency_with_incomplete_ms"]
        return f"{s[key]:,.2f}" if s.get("count") else "-"

    return cell


def _per_request_us(r: dict[str, Any]) -> str:
    t = r["throughput"]
    return f"{t['cpu']['server_cpu_s'] * 1e6 / max(t['requests'], 1):,.0f}"


#: the summary's rows: label and cell of one target's results
ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("SendMessage requests/s (closed loop)",
     lambda r: f"{r['throughput']['requests_per_s']:,.0f}"),
    ("  non-2xx / socket errors",
     lambda r: f"{r['throughput']['non_2xx']:,} / {r['throughput']['socket_errors_total']:,}"),
    ("  server CPU us/request", _per_request_us),
    ("  warm-up requests/s (empty queue)",
     lambda r: f"{r['throughput']['warmup']['requests_per_s']:,.0f}"),
    ("open loop: achieved requests/s", lambda r: f"{r['latency']['achieved_per_s']:,.0f}"),
    ("  non-2xx / failed / unanswered",
     lambda r: f"{r['latency']['non_2xx']:,} / {sum(r['latency']['failures'].values()):,} / "
               f"{r['latency']['incomplete']:,}"),
    *((f"  latency {k} ms", _pct(k)) for k in ("p50", "p90", "p99", "p99.9", "max")),
]


def print_summary(ctx: Ctx, verdicts: dict[str, Any]) -> None:
    a, results = ctx.args, ctx.results
    ran = [n for n in ("broker", "moto", "null-raw", "null-aiohttp") if n in results]
    names = [n for n in ran if "throughput" in results[n] and "latency" in results[n]]
    noted = [n for n in ran if n not in names]
    say(f"\nsummary: SendMessage, {a.body_size} B bodies, {a.connections} connections, "
        f"open loop {a.rate:,.0f}/s, {a.duration:g} s per phase; generator {ctx.generator}")
    if names:
        rows = [["", *names]]
        rows += [[label, *(cell(results[n]) for n in names)] for label, cell in ROWS]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            say("  " + "  ".join(c.rjust(w) if i else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    for name in noted:
        say(f"  ({name}: {results[name].get('skipped') or results[name].get('error')})")
    _print_verdicts(verdicts)


def _disturbed(v: dict[str, Any]) -> str:
    other = v.get("other_cores", 0.0)
    return f" (other load {other:.2f} cores meanwhile: not conclusive)" if other > 0.15 else ""


def _print_verdicts(verdicts: dict[str, Any]) -> None:
    if v := verdicts.get("throughput"):
        say(f"  broker throughput {v['value']:,.0f} requests/s, target >= {TARGET_RPS:,} "
            f"-> {_verdict(v['pass'])}{_disturbed(v)}")
    if v := verdicts.get("p99"):
        say(f"  broker p99 at the fixed rate {v['value']:.2f} ms, target < {TARGET_P99_MS:g} "
            f"ms (and the rate held) -> {_verdict(v['pass'])}{_disturbed(v)}")
    if v := verdicts.get("ratio"):
        say(f"  broker/moto throughput {v['value']:.1f}x, target >= {TARGET_RATIO:g}x "
            f"-> {_verdict(v['pass'])} (against moto's warm-up on an empty queue, its best "
            f"case: {verdicts['ratio_vs_moto_warmup']:.1f}x)")


def print_ceiling(ctx: Ctx) -> None:
    raw, aio = ctx.results.get("null-raw", {}), ctx.results.get("null-aiohttp", {})
    if "throughput" not in raw:
        return
    t, lat = raw["throughput"], raw["latency"]
    say(f"\ngenerator ceiling ({ctx.generator}) against the raw null server: "
        f"{t['requests_per_s']:,.0f} requests/s with {t['cpu']['generator_cores']:.2f} "
        f"cores of generator ({t['cpu']['generator_cpu_s'] * 1e6 / t['requests']:.1f} us "
        f"of CPU per request)")
    say(f"open-loop floor at {lat['rate']:,.0f}/s against it: "
        + _pcts(lat["latency_with_incomplete_ms"]))
    if "throughput" in aio:
        say(f"aiohttp 'return 200' server: {aio['throughput']['requests_per_s']:,.0f} "
            f"requests/s (the HTTP framework's own ceiling on this machine)")


# ------------------------------------------------------------------------------ main


async def _generator(args: argparse.Namespace) -> tuple[str | None, str]:
    """(wrk path or None, description) per --generator."""
    path = wrk.find()
    if args.generator == "python" or (path is None and args.generator == "auto"):
        why = "" if args.generator == "python" else (
            " -- wrk not found (apt-get install wrk), falling back to Python")
        return None, f"python, {args.processes} processes{why}"
    if path is None:
        raise SystemExit("wrk not found: apt-get install wrk (or --generator python)")
    name = (await wrk.version(path)).split(" Copyright")[0]
    return path, f"{name}, {args.threads} thread(s)"


def _print_header(ctx: Ctx, machine: dict[str, Any]) -> None:
    a = ctx.args
    say(f"loadtest server: {machine['cpus']} CPUs ({machine['cpu_model']}), Python "
        f"{machine['python']}, {machine['event_loop']}")
    say(f"calibration: {machine['calibration_ms_start']:.1f} ms of CPU for a fixed Python "
        f"workload (lower = faster machine)")
    say(f"workload: SendMessage (awsJson1_0), {a.body_size} B bodies; throughput "
        f"{a.connections} connections, {a.warmup:g} s warm-up + {a.duration:g} s; latency "
        f"open loop {a.rate:,.0f}/s for {a.duration:g} s{' (quick)' if a.quick else ''}")
    say(f"throughput generator: {ctx.generator}; latency generator: Python open loop "
        f"(this process)")
    code = machine["code"]
    dirty = len(code["broker_changes"])
    say(f"broker code: {ctx.args.broker_root} "
        f"{'at ' + code['commit'] if code['commit'] else '(not a git checkout)'}"
        + (f" + {dirty} changed file(s) under broker/" if dirty else ""))


def _write_json(ctx: Ctx, started: float, machine: dict[str, Any],
                verdicts: dict[str, Any], repro: str, explicit: str) -> str:
    a = ctx.args
    path = a.json or str(RESULTS_DIR / time.strftime(
        "server-%Y%m%d-%H%M%S.json", time.localtime(started)))
    harness.write_json(path, {
        "benchmark": NAME,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": time.time() - started, "command": repro, "explicit_command": explicit,
        "machine": machine, "generator": ctx.generator,
        "parameters": {k: getattr(a, k) for k in (
            "quick", "only", "duration", "warmup", "connections", "rate", "drain",
            "body_size", "generator", "threads", "processes", "broker_log_level", "broker_root")},
        "targets": verdicts, "results": ctx.results,
    })
    return path


async def code_version(root: Path) -> dict[str, Any]:
    """The commit checked out at ``root`` and the files changed on top of it (the broker
    measured is the working tree); no commit when ``root`` is not a git checkout."""
    async def git(*argv: str) -> str:
        with contextlib.suppress(OSError):
            proc = await asyncio.create_subprocess_exec(
                "git", *argv, cwd=str(root), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL)
            out, _ = await proc.communicate()
            return out.decode(errors="replace").strip() if proc.returncode == 0 else ""
        return ""

    changed = await git("status", "--porcelain", "--", "broker")
    return {"commit": await git("rev-parse", "--short", "HEAD") or None,
            "broker_changes": [line[3:] for line in changed.splitlines()]}


async def _main(args: argparse.Namespace) -> int:
    started = time.time()
    machine = harness.machine_facts()
    machine["code"] = await code_version(args.broker_root)
    machine["calibration_ms_start"] = harness.calibrate()
    machine["event_loop"] = harness.loop_name()
    wrk_path, generator = await _generator(args)
    skipped = await find_skipped(args.only, args.broker_root)
    with tempfile.TemporaryDirectory(prefix="loadtest-server-") as tmp:
        ctx = Ctx(args, uuid.uuid4().hex[:8], Path(tmp), make_body(args.body_size),
                  wrk_path, generator)
        _print_header(ctx, machine)
        await run_targets(ctx, skipped)
    machine["calibration_ms_end"] = harness.calibrate()
    verdicts = evaluate(ctx.results)
    print_ceiling(ctx)
    print_summary(ctx, verdicts)
    say(f"calibration at the end: {machine['calibration_ms_end']:.1f} ms "
        f"(start {machine['calibration_ms_start']:.1f} ms)")
    repro = harness.reproduce_line(NAME, args.argv)
    explicit = harness.explicit_line(NAME, args.parser, args)
    say(f"\nreproduce (from the repository root, {round(time.time() - started)} s):")
    say(f"  {repro}")
    say(f"  {explicit}")
    say(f"  results written to {_write_json(ctx, started, machine, verdicts, repro, explicit)}")
    failed = any("error" in r for r in ctx.results.values())
    missed = any(not v["pass"] for v in verdicts.values() if isinstance(v, dict))
    return 1 if failed or (missed and args.strict) else 0
