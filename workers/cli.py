"""``workers run module:app`` and ``workers check module:app``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from broker import errors
from broker.sdk import Client
from workers.app import App, QueueHandler, StreamHandler, check_handler
from workers.worker import GRACE_S, Worker


def load_app(target: str) -> App:
    """``package.module:attribute`` -> the App it names."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"workers: expected module:app, got {target!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"workers: cannot import {module_name!r}: {exc}") from None
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise SystemExit(f"workers: {target!r} is not a workers.App")
    return app


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="workers", description="Run Redcurrent worker apps.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an app's handlers until SIGTERM/SIGINT")
    run.add_argument("app", help="module:app")
    run.add_argument("--url", help="Redis URL (default: App(url) or BROKER_REDIS_URL)")
    run.add_argument("--concurrency", type=_positive, help="per queue handler (overrides)")
    run.add_argument("--metrics-port", type=int, help="serve /metrics on this port")
    run.add_argument("--grace", type=float, default=GRACE_S, metavar="SECONDS",
                     help=f"how long running handlers may finish after SIGTERM "
                          f"(default {GRACE_S:.0f})")
    run.add_argument("--log-level", default="info",
                     choices=("debug", "info", "warning", "error"))
    run.add_argument("--no-uvloop", action="store_true", help="asyncio's default loop")
    check = sub.add_parser("check", help="validate an app and its connection")
    check.add_argument("app", help="module:app")
    check.add_argument("--url", help="Redis URL (default: App(url) or BROKER_REDIS_URL)")
    return p


async def check(app: App, url: str | None) -> list[str]:
    """Problems with the app: its handlers, its connection, the queues and streams."""
    problems = [f"{h.name}: {p}" for h in app.handlers for p in check_handler(h)]
    if not app.handlers:
        problems.append("the app has no handlers")
    url = url or app.url or os.environ.get("BROKER_REDIS_URL")
    if not url:
        return [*problems, "no Redis URL: give App(url), --url or BROKER_REDIS_URL"]
    try:
        async with Client(url) as client:
            for h in app.handlers:
                if isinstance(h, QueueHandler) and h.topic is None and not h.create:
                    try:
                        await client.get_queue(h.queue)
                    except errors.QueueDoesNotExist:
                        problems.append(f"{h.name}: queue {h.queue!r} does not exist")
                elif isinstance(h, StreamHandler):
                    try:
                        await client.stream(h.stream).describe()
                    except errors.ResourceNotFoundException:
                        problems.append(f"{h.name}: stream {h.stream!r} does not exist")
    except (OSError, errors.BrokerError, ValueError) as exc:
        problems.append(f"cannot use {url}: {exc}")
    except Exception as exc:  # redis-py's connection errors
        problems.append(f"cannot connect to {url}: {exc}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    app = load_app(args.app)
    if args.command == "check":
        problems = asyncio.run(check(app, args.url))
        for p in problems:
            print(f"workers check: {p}", file=sys.stderr)
        if not problems:
            print(f"workers check: {args.app}: {len(app.handlers)} handlers, connection ok")
        return 1 if problems else 0
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        worker = Worker(app, url=args.url, concurrency=args.concurrency,
                        metrics_port=args.metrics_port, grace_s=args.grace)
    except ValueError as exc:
        print(f"workers: {exc}", file=sys.stderr)
        return 2
    try:
        if args.no_uvloop:
            asyncio.run(worker.run())
        else:
            try:
                import uvloop
            except ImportError:
                asyncio.run(worker.run())
            else:
                uvloop.run(worker.run())
    except errors.BrokerError as exc:
        print(f"workers: {exc}", file=sys.stderr)
        return 1
    return 1 if worker.failed else 0
