"""arq: ``python -m loadtest.peer_apps.arq_app fill URL COUNT SIZE``; the worker is
``python -m loadtest.peer_apps.arq_app work`` (PEER_REDIS_URL, PEER_CONCURRENCY)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import run_worker


async def noop(ctx: dict[str, Any], payload: str) -> None:
    return None


class WorkerSettings:
    functions = [noop]
    redis_settings = RedisSettings.from_dsn(os.environ.get("PEER_REDIS_URL",
                                                           "redis://localhost:6379"))
    max_jobs = int(os.environ.get("PEER_CONCURRENCY", "64"))
    keep_result = 0
    poll_delay = 0.05


async def fill(url: str, count: int, size: int) -> None:
    pool = await create_pool(RedisSettings.from_dsn(url))
    body = "x" * size
    for i in range(0, count, 500):
        await asyncio.gather(*(pool.enqueue_job("noop", body)
                               for _ in range(min(500, count - i))))
    await pool.aclose()


def work() -> None:
    """arq's worker without its per-job INFO log lines (the others log no line per job
    either)."""
    logging.basicConfig(level=logging.WARNING)
    run_worker(WorkerSettings)


if __name__ == "__main__":
    if sys.argv[1] == "fill":
        asyncio.run(fill(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        work()
