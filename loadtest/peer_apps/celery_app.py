"""Celery: ``python -m loadtest.peer_apps.celery_app fill URL COUNT SIZE``; the worker is
``celery -A loadtest.peer_apps.celery_app worker -P threads -c N`` (one process;
PEER_REDIS_URL)."""

from __future__ import annotations

import os
import sys

from celery import Celery

app = Celery("loadtest", broker=os.environ.get("PEER_REDIS_URL", "redis://localhost:6379"))
app.conf.task_ignore_result = True
app.conf.worker_hijack_root_logger = False


@app.task(name="noop", ignore_result=True)  # type: ignore[untyped-decorator]
def noop(payload: str) -> None:
    return None


def fill(count: int, size: int) -> None:
    body = "x" * size
    with app.producer_pool.acquire(block=True) as producer:
        for _ in range(count):
            noop.apply_async((body,), producer=producer)


if __name__ == "__main__" and sys.argv[1] == "fill":
    fill(int(sys.argv[3]), int(sys.argv[4]))
