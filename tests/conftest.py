"""Shared fixtures: a real redis-server (and a local 3-master Redis Cluster) per session.

No Redis mocks. Locally, a missing ``redis-server`` skips the Redis-backed tests; on CI
(``CI`` set) it fails them, so a green CI always means the suite really ran.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from broker.engine import Engine, Limits, ManualClock
from broker.sdk import Client
from tests.broker_servers import serving
from tests.redis_servers import LocalCluster, redis_server_available, start_standalone

#: limits small enough to test without waiting for AWS's real cool-downs
TEST_LIMITS = Limits(purge_interval_ms=60_000, deleted_queue_cooldown_ms=500,
                     stream_throughput_limits=False)


def _require_redis() -> None:
    if redis_server_available():
        return
    if os.environ.get("CI"):
        pytest.fail("redis-server is not installed; CI must run the Redis-backed suites")
    pytest.skip("redis-server not installed (apt-get install redis-server)")


@pytest.fixture(scope="session")
async def standalone_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    _require_redis()
    server = await start_standalone(Path(tmp_path_factory.mktemp("redis")))
    try:
        yield server.url
    finally:
        await server.stop()


@pytest.fixture(scope="session")
async def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    _require_redis()
    async with LocalCluster(Path(tmp_path_factory.mktemp("cluster"))) as cluster:
        yield cluster.url


async def flush(url: str) -> None:
    if "+cluster" in url:
        rc = RedisCluster.from_url(url.replace("redis+cluster", "redis"))
        try:
            await rc.flushall(target_nodes=RedisCluster.PRIMARIES)
        finally:
            await rc.aclose()
    else:
        r = Redis.from_url(url)
        try:
            await r.flushall()
        finally:
            await r.aclose()


@pytest.fixture(params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)])
def topology_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def redis_url(topology_url: str) -> str:
    """A flushed Redis: each engine/SDK test runs once on each topology."""
    await flush(topology_url)
    return topology_url


@pytest.fixture
async def plain_url(standalone_url: str) -> str:
    """A flushed standalone Redis, for tests that need only one topology."""
    await flush(standalone_url)
    return standalone_url


@pytest.fixture
async def engine(redis_url: str) -> AsyncIterator[Engine]:
    async with Engine.from_url(redis_url, limits=TEST_LIMITS) as eng:
        yield eng


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def clocked_engine(redis_url: str, clock: ManualClock) -> AsyncIterator[Engine]:
    """An engine on virtual time: ``clock.advance(s)`` moves every timeout."""
    async with Engine.from_url(redis_url, clock=clock, limits=TEST_LIMITS) as eng:
        yield eng


@pytest.fixture(params=["engine", pytest.param("http", marks=pytest.mark.http)])
def transport(request: pytest.FixtureRequest) -> str:
    """How the SDK reaches the queues: in-process engine, or HTTP to a broker server."""
    return str(request.param)


@contextlib.asynccontextmanager
async def sdk_client(redis_url: str, transport: str, clock: ManualClock | None
                     ) -> AsyncIterator[Client]:
    if transport == "engine":
        async with Client(redis_url, clock=clock, limits=TEST_LIMITS) as c:
            yield c
        return
    async with (
        serving(redis_url, clock=clock, limits=TEST_LIMITS) as server,
        Client(server.url) as c,
    ):
        yield c


@pytest.fixture
async def client(redis_url: str, transport: str) -> AsyncIterator[Client]:
    """The SDK, once per topology and per transport (engine, http)."""
    async with sdk_client(redis_url, transport, None) as c:
        yield c


@pytest.fixture
async def clocked_client(redis_url: str, transport: str, clock: ManualClock
                         ) -> AsyncIterator[Client]:
    """The SDK on virtual time (over HTTP the server's engine shares the clock)."""
    async with sdk_client(redis_url, transport, clock) as c:
        yield c
