"""RQ: ``python -m loadtest.peer_apps.rq_app fill URL COUNT SIZE``; the worker is
``rq worker --burst -w rq.worker.SimpleWorker --url URL`` (one process, no fork per job;
RQ runs one job at a time per worker)."""

from __future__ import annotations

import sys

from redis import Redis
from rq import Queue


def noop(payload: str) -> None:
    return None


def fill(url: str, count: int, size: int) -> None:
    q = Queue(connection=Redis.from_url(url))
    body = "x" * size
    for i in range(0, count, 1000):
        q.enqueue_many([Queue.prepare_data("loadtest.peer_apps.rq_app.noop", (body,),
                                           result_ttl=0)
                        for _ in range(min(1000, count - i))])


if __name__ == "__main__" and sys.argv[1] == "fill":
    fill(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
