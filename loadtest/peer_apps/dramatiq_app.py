"""Dramatiq: ``python -m loadtest.peer_apps.dramatiq_app fill URL COUNT SIZE``; the
worker is ``dramatiq loadtest.peer_apps.dramatiq_app --processes 1 --threads N``
(PEER_REDIS_URL)."""

from __future__ import annotations

import os
import sys

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ.get("PEER_REDIS_URL", "redis://localhost:6379"))
dramatiq.set_broker(broker)


@dramatiq.actor(max_retries=0)  # type: ignore[untyped-decorator]
def noop(payload: str) -> None:
    return None


def fill(count: int, size: int) -> None:
    body = "x" * size
    for _ in range(count):
        noop.send(body)


if __name__ == "__main__" and sys.argv[1] == "fill":
    fill(int(sys.argv[3]), int(sys.argv[4]))
