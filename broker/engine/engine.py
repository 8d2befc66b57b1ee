"""The engine façade: owns the Redis client, the function library, the clock and the
wake-up listener; exposes ``queues`` (messages), ``admin`` (queue management),
``moves`` (message move tasks), ``topic_admin`` and ``topics`` (SNS), the stream
components and ``leases`` (stream consumer lease tables)."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

from broker.engine.clock import Clock, SystemClock
from broker.engine.context import Context
from broker.engine.idempotency import Idempotency
from broker.engine.leases import LeaseTables
from broker.engine.move_tasks import MoveTasks
from broker.engine.queue_admin import QueueAdmin
from broker.engine.queues import Queues
from broker.engine.resharding import Resharding
from broker.engine.scripts import AnyRedis, Scripts
from broker.engine.settings import Identity, Limits
from broker.engine.stream_admin import StreamAdmin
from broker.engine.stream_consumers import StreamConsumers
from broker.engine.streams import Streams
from broker.engine.topic_admin import TopicAdmin
from broker.engine.topics import Topics
from broker.engine.wakeups import Wakeups

#: URL schemes that run the engine in-process
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster", "unix")
#: connections the engine's pool may hold
DEFAULT_MAX_CONNECTIONS = 64
#: how long a command waits for a free connection of a full pool (standalone Redis)
POOL_WAIT_S = 20.0


def connect(url: str, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> tuple[AnyRedis, Redis]:
    """Return (client for commands, plain client for pub/sub) for a Redis URL.

    ``redis+cluster://host:port`` (or ``rediss+cluster://``) connects to a Redis Cluster
    through that seed node; its pub/sub client talks to the seed node (classic pub/sub
    messages reach every node of a cluster).
    """
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(f"not a Redis URL: {url!r} (expected one of {REDIS_SCHEMES})")
    if parts.scheme.endswith("+cluster"):
        plain = urlunsplit(parts._replace(scheme=parts.scheme.split("+")[0]))
        cluster = RedisCluster.from_url(plain, max_connections=max_connections)
        return _raw_streams(cluster), Redis.from_url(plain)
    # more callers than connections wait for one (up to POOL_WAIT_S) instead of failing
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections,
                                           timeout=POOL_WAIT_S)
    return _raw_streams(Redis.from_pool(pool)), Redis.from_url(url)


def _raw_streams(client: AnyRedis) -> AnyRedis:
    """Stream replies as Redis sends them (``[id, [field, value, ...]]``): redis-py's
    parsing into dicts costs more than the read itself (``streams.record_of`` takes
    both shapes)."""
    for command in ("XRANGE", "XREVRANGE", "XREAD"):
        client.set_response_callback(command, _as_sent)
    return client


def _as_sent(response: Any, **_: Any) -> Any:
    return response


class Engine:
    """SQS semantics on Redis. Use as ``async with Engine.from_url(url) as engine``."""

    def __init__(
        self, redis: AnyRedis, pubsub_redis: Redis, *, clock: Clock | None = None,
        identity: Identity | None = None, limits: Limits | None = None,
    ) -> None:
        self.identity = identity or Identity()
        self.limits = limits or Limits()
        self.redis = redis
        self.scripts = Scripts(redis)
        self._wakeups = Wakeups(pubsub_redis)
        self.ctx = Context(
            redis=redis, scripts=self.scripts, clock=clock or SystemClock(),
            identity=self.identity, limits=self.limits, wakeups=self._wakeups,
            engine_id=uuid.uuid4().hex,
        )
        self.queues = Queues(self.ctx)
        self.admin = QueueAdmin(self.ctx)
        self.moves = MoveTasks(self.ctx)
        """Message move tasks (DLQ redrive); their runners are owned here."""
        self.topic_admin = TopicAdmin(self.ctx)
        """SNS topics and subscriptions."""
        self.topics = Topics(self.ctx, self.topic_admin)
        """SNS publishing and fan-out."""
        self.stream_admin = StreamAdmin(self.ctx)
        """Kinesis streams and their shards."""
        self.resharding = Resharding(self.ctx, self.stream_admin)
        """SplitShard, MergeShards, UpdateShardCount."""
        self.stream_admin.resharding = self.resharding
        self.streams = Streams(self.ctx, self.stream_admin)
        """Kinesis records: put, iterators, get."""
        self.stream_consumers = StreamConsumers(self.ctx, self.stream_admin, self.streams)
        """Enhanced fan-out consumers and SubscribeToShard."""
        self.leases = LeaseTables(self.ctx)
        """Lease tables of stream consumer applications (the KCL-style consumer)."""
        self.idempotency = Idempotency(self.ctx)
        """Idempotency markers of worker handlers."""

    @classmethod
    def from_url(
        cls, url: str, *, clock: Clock | None = None, identity: Identity | None = None,
        limits: Limits | None = None,
    ) -> Engine:
        redis, pubsub = connect(url)
        return cls(redis, pubsub, clock=clock, identity=identity, limits=limits)

    async def start(self) -> None:
        """Load the function library (idempotent)."""
        await self.scripts.load()

    async def close(self) -> None:
        await self.topics.close()
        await self.moves.close()
        await self._wakeups.close()
        await self.redis.aclose()

    async def ping(self) -> bool:
        """True when Redis answers and the function library is loaded."""
        try:
            return bool(await self.redis.fcall("rc_version", 0))
        except Exception:
            return False

    async def __aenter__(self) -> Engine:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
