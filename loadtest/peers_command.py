"""``python -m loadtest peers``: Redcurrent next to what people run today, in one run.

1. The worker-framework workload (``python -m loadtest workers``): one worker process
   with a no-op handler against arq, Dramatiq, BullMQ (Python), Celery and RQ on the
   same Redis.
2. The AWS workloads (``loadtest/workloads/``) through boto3 against this broker's
   server and against moto's server, both started here, with the same producers,
   consumers and duration; a ratio table per workload.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loadtest import compare, harness, peers, report
from loadtest.run_command import DEFAULT_REPORT_DIR, execute, failure, write
from loadtest.server import (
    REPO_ROOT,
    _running,
    _spawn,
    broker_argv,
    moto_argv,
    moto_missing,
)
from loadtest.workload import WorkloadError, load

WORKLOADS = REPO_ROOT / "loadtest" / "workloads"
AWS_WORKLOADS = ("standard", "fifo-groups", "topic-fanout", "stream-kcl")
MOTO = "moto[server]==5.2.5"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "peers", help="the worker workload against arq/Dramatiq/BullMQ/Celery/RQ, and "
                      "the AWS workloads against moto's server", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(AWS_WORKLOADS), metavar="LIST",
                   help="workloads (names in loadtest/workloads/ or paths) run against "
                        "the broker and moto; 'none' to skip (default: %(default)s)")
    p.add_argument("--duration", default="15s", help="each AWS workload's duration "
                                                     "(default 15s)")
    p.add_argument("--warmup", default="3s", help="each AWS workload's warm-up (default 3s)")
    p.add_argument("--worker-peers", default="all", metavar="LIST",
                   help="peers of the workers benchmark: all, none, or some of "
                        f"{','.join(peers.PEERS)}")
    p.add_argument("--skip-workers", action="store_true",
                   help="leave out the worker-framework part")
    p.add_argument("--worker-count", type=harness.positive_int, default=100_000,
                   metavar="N", help="messages of the workers benchmark (default 100000)")
    p.add_argument("--report", default=str(DEFAULT_REPORT_DIR), metavar="DIR")
    p.set_defaults(func=main, parser=p)
    return p


def main(args: argparse.Namespace) -> int:
    names = [] if args.workloads == "none" else \
        [n.strip() for n in args.workloads.split(",") if n.strip()]
    try:
        workloads = [load(_path(n), {"duration": args.duration, "warmup": args.warmup})
                     for n in names]
    except WorkloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.time()
    summary: dict[str, Any] = {}
    if not args.skip_workers:
        summary["workers"] = _workers(args)
    if workloads:
        try:
            summary["aws"] = harness.run_value(_aws(args, workloads))
        except Exception as exc:  # noqa: BLE001 (the broker or moto did not start)
            summary["aws"] = {"error": failure(exc)}
            harness.say(f"the AWS workloads did not run: {failure(exc)}")
    harness.say("\n== summary")
    for line in _summary_lines(summary):
        harness.say("  " + line)
    out = Path(args.report) / f"peers-{time.strftime('%Y%m%dT%H%M%S')}.json"
    harness.write_json(str(out), summary)
    harness.say(f"\nsummary: {out}\nreproduce ({round(time.time() - started)} s): "
                f"{harness.reproduce_line('peers', args.argv)}")
    failed = "error" in summary.get("workers", {}) or "error" in summary.get("aws", {}) or \
        any("error" in by or not by.get("redcurrent", {}).get("ok", False)
            for by in summary.get("aws", {}).values() if isinstance(by, dict))
    return 1 if failed else 0


def _path(name: str) -> Path:
    p = Path(name)
    return p if p.suffix in (".yaml", ".yml") else WORKLOADS / f"{name}.yaml"


def _workers(args: argparse.Namespace) -> dict[str, Any]:
    """The workers benchmark in a child process (its own Redis, its output as it goes)."""
    harness.say(f"== the worker framework against {args.worker_peers} peers")
    with tempfile.TemporaryDirectory(prefix="loadtest-peers-") as tmp:
        out = Path(tmp) / "workers.json"
        cmd = [sys.executable, "-m", "loadtest", "workers", "--count",
               str(args.worker_count), "--peers", args.worker_peers, "--json", str(out)]
        code = subprocess.run(cmd, cwd=REPO_ROOT, check=False).returncode
        if code != 0 or not out.exists():
            return {"error": f"`{' '.join(cmd[1:])}` exited with {code}"}
        results: dict[str, Any] = json.loads(out.read_text())["results"]
    return {k: {"messages_per_s": v.get("messages_per_s"), "error": v.get("error")}
            for k, v in results.items() if k != "summary"} | {
        "summary": results.get("summary", {})}


async def _moto_argv(say: Any) -> list[str]:
    if moto_missing() is None:
        return moto_argv()
    python = await asyncio.to_thread(peers.ensure_venv, REPO_ROOT, "moto", say, MOTO)
    return [python, *moto_argv()[1:]]


async def _aws(args: argparse.Namespace, workloads: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ns = argparse.Namespace(redis_url=None, fsync="everysec")
    with tempfile.TemporaryDirectory(prefix="loadtest-peers-") as tmp:
        work = Path(tmp)
        moto_cmd = await _moto_argv(harness.say)
        async with harness.redis_server(ns) as redis:
            broker = await _spawn("broker", broker_argv(redis.url, "warning"), work)
            moto = await _spawn("moto", moto_cmd, work)
            async with _running(broker, "/readyz"), _running(moto, "/", any_status=True):
                for wl in workloads:
                    harness.say(f"\n== {wl.name} ({wl.kind}) through boto3: the broker, "
                                f"then moto")
                    reps = []
                    out[wl.name] = {}
                    for name, ep in (("redcurrent", broker), ("moto", moto)):
                        try:
                            rep = await execute(wl, f"aws+http://127.0.0.1:{ep.port}",
                                                label=name, quiet=False,
                                                command=harness.reproduce_line(
                                                    "peers", args.argv))
                        except Exception as exc:  # noqa: BLE001 (reported; the rest run)
                            out[wl.name][name] = {"error": failure(exc)}
                            harness.say(f"  {name}: the run stopped: {failure(exc)}")
                            continue
                        write(rep, args.report)
                        harness.say(report.text(rep))
                        reps.append(rep)
                        out[wl.name][name] = rep["summary"]
                    if len(reps) == 2:
                        harness.say(compare.table(reps))
    return out


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    w = summary.get("workers", {})
    ours = (w.get("redcurrent") or {}).get("messages_per_s")
    for name, r in w.items():
        if name in ("redcurrent", "summary") or not r.get("messages_per_s") or not ours:
            continue
        lines.append(f"workers: redcurrent {ours:,.0f}/s vs {name} "
                     f"{r['messages_per_s']:,.0f}/s = {ours / r['messages_per_s']:.1f}x")
    for wl, by in summary.get("aws", {}).items():
        if not isinstance(by, dict):
            lines.append(f"AWS workloads: {by}")
            continue
        a, b = by.get("redcurrent", {}), by.get("moto", {})
        if not a or not b or "error" in a or "error" in b:
            lines.append(f"{wl}: not compared (redcurrent: {a.get('error', 'ran')}; "
                         f"moto: {b.get('error', 'ran')})")
            continue
        lines.append(
            f"{wl}: deliveries {a['consume_rate']:,.0f}/s vs moto {b['consume_rate']:,.0f}/s "
            f"= {compare.ratio(a['consume_rate'], b['consume_rate'])}; latency p99 "
            f"{a['latency_ms']['p99']:.1f} ms vs {b['latency_ms']['p99']:.1f} ms; lost "
            f"{a['lost']:,} vs {b['lost']:,}")
    return lines
