"""The in-process engine's connection pool: more concurrent commands than connections
wait for one instead of failing (found by the load-test harness: 8 publishers and 10
long-polling consumers on one client got redis-py's MaxConnectionsError)."""

from __future__ import annotations

import asyncio

from broker.engine.engine import connect


async def test_more_callers_than_connections_wait(plain_url: str) -> None:
    redis, pubsub = connect(plain_url, max_connections=2)
    try:
        # 20 commands that each hold a connection for 50 ms, on 2 connections
        results = await asyncio.gather(*(redis.blpop(["rc-test:nothing"], timeout=0.05)
                                         for _ in range(20)))
        assert results == [None] * 20
    finally:
        await redis.aclose()
        await pubsub.aclose()
