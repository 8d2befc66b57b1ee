"""Finishes topic fan-outs whose publisher died (see ``broker.engine.topics``).

A publish records the message in its topic's outbox before delivering it; a publisher
that is killed midway leaves the entry there. The server runs one
:class:`TopicDispatcher` task that, every ``interval_s`` seconds, walks the topics of
its accounts and redelivers outbox entries older than a few seconds. Deliveries are
idempotent per (message, subscription), so several servers may run it on one Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from broker.engine import Engine

#: seconds between two passes over all topics
DEFAULT_INTERVAL_S = 2.0

log = logging.getLogger(__name__)


class TopicDispatcher:
    """Owns the recovery task: ``start()`` it, ``await close()`` it."""

    def __init__(self, engine: Engine, accounts: Sequence[str],
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._engine = engine
        self._accounts = tuple(accounts)
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.recovered = 0
        """Outbox entries this dispatcher finished (for tests and metrics)."""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="redcurrent-topic-dispatcher")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stop.set()  # (redis-py can swallow a cancellation: see Housekeeper)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away for a moment: try again next pass
                log.warning("topic dispatcher pass failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_s)

    async def run_once(self) -> int:
        """One pass over every topic; returns the outbox entries finished."""
        done = 0
        for account in self._accounts:
            token: str | None = None
            while True:
                topics, token = await self._engine.topic_admin.list_topics(account, token)
                for topic in topics:
                    done += await self._engine.topics.redeliver(topic)
                if not token:
                    break
        self.recovered += done
        return done
