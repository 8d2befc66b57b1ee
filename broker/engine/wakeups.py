"""Long-poll wake-ups: one pub/sub connection per engine, shared by all its waiters.

A receive that finds nothing registers this engine in the queue's ``waiters`` zset (in
the same script call), and the send/visibility scripts publish on the queue's channel
only while some engine is registered. Every local waiter of that queue is woken and
retries its receive; a waiter also wakes on its own when the next delayed or in-flight
message is due, so no receive ever busy-polls. ``SAFETY_POLL_S`` bounds a wait in case a
notification was lost (e.g. the pub/sub connection was re-established).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: longest a long-poller sleeps without re-checking the queue (lost-notification net)
SAFETY_POLL_S = 2.0
#: pause before re-connecting a broken pub/sub connection
RECONNECT_DELAY_S = 0.5


class Wakeups:
    """Owns the pub/sub connection and the reader task; async context manager."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._subscribed: dict[str, asyncio.Event] = {}
        self._pubsub = redis.pubsub()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Wakeups:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._pubsub.aclose()
        await self._redis.aclose()

    @contextlib.asynccontextmanager
    async def waiting(self, channel: str) -> AsyncIterator[asyncio.Event]:
        """Register a waiter on ``channel``; the event is set on every wake-up.

        Returns only once the subscription is live, so a publish that follows any later
        script call is never missed.
        """
        event = asyncio.Event()
        self._waiters[channel].add(event)
        try:
            await self._subscribe(channel)
            yield event
        finally:
            self._waiters[channel].discard(event)

    async def _subscribe(self, channel: str) -> None:
        async with self._lock:
            ready = self._subscribed.get(channel)
            if ready is None:
                ready = self._subscribed[channel] = asyncio.Event()
                await self._pubsub.subscribe(channel)
                if self._task is None:
                    self._task = asyncio.create_task(self._read(), name="rc-wakeups")
        await asyncio.wait_for(ready.wait(), timeout=SAFETY_POLL_S)

    async def _read(self) -> None:
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                log.warning("wake-up connection lost (%s); re-subscribing", exc)
                self._wake_all()
                await asyncio.sleep(RECONNECT_DELAY_S)
                await self._resubscribe()
                continue
            if msg is None:
                continue
            channel = msg["channel"].decode() if isinstance(msg["channel"], bytes) \
                else msg["channel"]
            if msg["type"] == "subscribe":
                ready = self._subscribed.get(channel)
                if ready is not None:
                    ready.set()
            elif msg["type"] == "message":
                for event in self._waiters.get(channel, ()):
                    event.set()

    async def _resubscribe(self) -> None:
        channels = list(self._subscribed)
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
            self._pubsub = self._redis.pubsub()
            if channels:
                await self._pubsub.subscribe(*channels)

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()
