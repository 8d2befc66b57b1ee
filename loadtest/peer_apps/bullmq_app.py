"""BullMQ (Python): ``python -m loadtest.peer_apps.bullmq_app fill URL COUNT SIZE`` and
``... work URL CONCURRENCY`` (a Worker until SIGTERM)."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from bullmq import Queue, Worker

QUEUE = "lt"


async def noop(job: Any, token: str) -> None:
    return None


async def fill(url: str, count: int, size: int) -> None:
    q = Queue(QUEUE, {"connection": url})
    body = "x" * size
    for i in range(0, count, 1000):
        await q.addBulk([{"name": "noop", "data": {"p": body},
                          "opts": {"removeOnComplete": True, "removeOnFail": True}}
                         for _ in range(min(1000, count - i))])
    await q.close()


async def work(url: str, concurrency: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    worker = Worker(QUEUE, noop, {"connection": url, "concurrency": concurrency})
    await stop.wait()
    await worker.close()


if __name__ == "__main__":
    if sys.argv[1] == "fill":
        asyncio.run(fill(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        asyncio.run(work(sys.argv[2], int(sys.argv[3])))
