"""``python -m loadtest run WORKLOAD.yaml [--target URL] [--report DIR]``: one workload
against one target, a live progress line, then the summary, a JSON report and an HTML
page with the plots. Without ``--target`` the run starts its own ``redis-server`` and
drives it through the in-process SDK."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from loadtest import harness, report, report_html
from loadtest.recorder import Recorder
from loadtest.runner import Run
from loadtest.server import REPO_ROOT, code_version
from loadtest.targets import error_code, open_target, redact
from loadtest.workload import Workload, WorkloadError, load

DEFAULT_REPORT_DIR = REPO_ROOT / "loadtest" / "results"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "run", help="run a workload file (loadtest/workloads/) against a target",
        description=__doc__)
    p.add_argument("workload", help="a workload YAML file (see loadtest/workloads/)")
    p.add_argument("--target", default=None, metavar="URL",
                   help="redis://, redis+cluster:// (SDK in-process), http(s):// (SDK over "
                        "HTTP to a broker server), aws+http(s)://HOST:PORT or aws:// "
                        "(boto3); default: a redis-server started for the run")
    p.add_argument("--report", default=str(DEFAULT_REPORT_DIR), metavar="DIR",
                   help="where the JSON and HTML reports go (default loadtest/results/)")
    p.add_argument("--label", default=None, help="the run's name in reports and compare")
    for key, kind in (("producers", int), ("consumers", int), ("rate", float),
                      ("duration", str), ("warmup", str)):
        p.add_argument(f"--{key}", type=kind, default=None,
                       help=f"override the workload's {key}")
    p.add_argument("--fsync", choices=("everysec", "always", "no"), default="everysec",
                   help="appendfsync of the redis-server started without --target")
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    p.set_defaults(func=main, parser=p)
    return p


def main(args: argparse.Namespace) -> int:
    try:
        wl = load(args.workload, overrides(args))
    except WorkloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return harness.run(_guarded(args, wl))


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The workload keys given on the command line (checked like the file's)."""
    return {key: getattr(args, key) for key in ("producers", "consumers", "rate",
                                                "duration", "warmup")
            if getattr(args, key, None) is not None}


def failure(exc: BaseException) -> str:
    """One line for a run that could not go on (the first of a group of errors)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{error_code(exc)}: {exc}"


async def _guarded(args: argparse.Namespace, wl: Workload) -> int:
    try:
        return await _main(args, wl)
    except Exception as exc:  # noqa: BLE001 (an unreachable or refusing target)
        print(f"\nerror: the run stopped: {failure(exc)}", file=sys.stderr)
        return 2


@contextlib.asynccontextmanager
async def _target_url(args: argparse.Namespace) -> AsyncIterator[str]:
    if args.target:
        yield args.target
        return
    ns = argparse.Namespace(redis_url=None, fsync=args.fsync)
    async with harness.redis_server(ns) as server:
        yield server.url


class Progress:
    """The live line: on a terminal it rewrites itself every second; otherwise a line
    every 5 s."""

    def __init__(self, total_s: float, quiet: bool) -> None:
        self._total = total_s
        self._quiet = quiet
        self._tty = sys.stderr.isatty()
        self._last = (0, 0)
        self._printed = 0.0

    def __call__(self, rec: Recorder, elapsed: float) -> None:
        produced, consumed = rec.produced, rec.deliveries
        rate_p, rate_c = produced - self._last[0], consumed - self._last[1]
        self._last = (produced, consumed)
        if self._quiet or (not self._tty and self._printed and elapsed - self._printed < 5):
            return
        self._printed = elapsed
        phase = "warm-up" if elapsed < (rec.window_start_ns - rec.start_ns) / 1e9 else \
            "drain" if elapsed > self._total else "measure"
        p99 = rec.e2e.percentile(99) / 1000
        line = (f"[{elapsed:5.0f}s/{self._total:.0f}s {phase:7}] sent {produced:,} "
                f"({rate_p:,}/s)  recv {consumed:,} ({rate_c:,}/s)  backlog "
                f"{rec.outstanding:,}  p99 {p99:.1f} ms  errors {sum(rec.errors.values()):,}")
        if self._tty:
            print("\r" + line.ljust(110), end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self._tty and not self._quiet:
            print(file=sys.stderr)


async def execute(wl: Workload, url: str, *, label: str | None = None,
                  quiet: bool = False, command: str = "") -> dict[str, Any]:
    """Run ``wl`` against ``url`` and return the report (not written anywhere)."""
    run_id = secrets.token_hex(4)
    target = open_target(url, wl.producers + wl.consumers + 2)
    started = dt.datetime.now(dt.UTC)
    progress = Progress(wl.total_s, quiet)
    try:
        await target.start()
        outcome = await Run(wl, target, run_id, progress).execute()
    finally:
        progress.done()
        await target.close()
    meta = {"run_id": run_id, "label": label or f"{wl.name} on {target.kind}",
            "started": started.isoformat(timespec="seconds"), "command": command,
            "machine": harness.machine_facts(), "code": await code_version(REPO_ROOT),
            "loop": harness.loop_name()}
    return report.build(wl, outcome, {"url": redact(url), "kind": target.kind,
                                      "label": target.label}, meta)


def write(rep: dict[str, Any], directory: str | Path) -> tuple[Path, Path]:
    """``<workload>-<target kind>-<time>.json`` and ``.html`` in ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    stamp = rep["started"].replace(":", "").replace("-", "").replace("+0000", "")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(rep["workload"]["name"]))[:80]
    base = f"{name}-{rep['target']['kind']}-{stamp}-{rep['run_id']}"
    json_path, html_path = d / f"{base}.json", d / f"{base}.html"
    harness.write_json(str(json_path), rep)
    html_path.write_text(report_html.render([rep], f"loadtest: {rep['label']}"))
    return json_path, html_path


async def _main(args: argparse.Namespace, wl: Workload) -> int:
    began = time.time()
    command = harness.reproduce_line("run", args.argv)
    async with _target_url(args) as url:
        harness.progress(f"running {wl.name} ({wl.kind}) against {redact(url)} for "
                         f"{wl.total_s:g} s + drain")
        rep = await execute(wl, url, label=args.label, quiet=args.quiet, command=command)
    json_path, html_path = write(rep, args.report)
    harness.say(report.text(rep))
    if rep["teardown_errors"]:
        harness.say("  teardown: " + "; ".join(rep["teardown_errors"]))
    harness.say(f"\nreport: {json_path}\n        {html_path}")
    harness.say(f"reproduce ({round(time.time() - began)} s): {command}")
    return 0 if rep["summary"]["ok"] else 1
