"""The sending side of the long-poll wake-up benchmark, run as a separate process so a
wake-up crosses processes (and connections) as it does in production.

    python -m loadtest.wake_sender --url redis://127.0.0.1:6379 --mode sdk --queue NAME
    python -m loadtest.wake_sender --url redis://127.0.0.1:6379 --mode lpush --key KEY

Protocol on stdin/stdout, one line each: it prints ``ready`` once connected; for every
``go`` it reads, it sends one message (SDK ``Queue.send`` or redis-py ``LPUSH``) and prints
``<t_start_ns> <t_return_ns>`` (``time.time_ns()`` just before the call and just after it
returned); ``quit`` or end of input stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.wake_sender")
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=("sdk", "lpush"), required=True)
    parser.add_argument("--queue", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--body-size", type=int, default=1024)
    args = parser.parse_args(argv)
    body = "w" * args.body_size
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    closers: list[Callable[[], Awaitable[Any]]] = []
    send: Callable[[], Awaitable[Any]]
    if args.mode == "sdk":
        from broker import Client

        client = Client(args.url)
        loop.run_until_complete(client.__aenter__())
        closers.append(client.close)
        queue = loop.run_until_complete(client.get_queue(args.queue))

        def send() -> Awaitable[Any]:
            return queue.send(body)
    else:
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(args.url)
        loop.run_until_complete(r.ping())
        closers.append(r.aclose)

        def send() -> Awaitable[Any]:
            return cast("Awaitable[Any]", r.lpush(args.key, body))

    async def one() -> tuple[int, int]:
        t0 = time.time_ns()
        await send()
        t1 = time.time_ns()
        return t0, t1

    out = sys.stdout
    out.write("ready\n")
    out.flush()
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "quit":
                break
            if cmd != "go":
                continue
            t0, t1 = loop.run_until_complete(one())
            out.write(f"{t0} {t1}\n")
            out.flush()
    finally:
        for close in closers:
            loop.run_until_complete(close())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
