"""Finishes topic fan-outs whose publisher died (see ``broker.engine.topics``).

A publish records the message in its topic's outbox before delivering it; a publisher
that is killed midway leaves the entry there. The server runs one
:class:`TopicDispatcher` task that, every ``interval_s`` seconds, walks the topics of
its accounts and redelivers outbox entries older than a few seconds. Deliveries are
idempotent per (message, subscription), so several servers may run it on one Redis.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.engine import Engine
from broker.server.periodic import PeriodicTask

#: seconds between two passes over all topics
DEFAULT_INTERVAL_S = 2.0


class TopicDispatcher(PeriodicTask):
    """Owns the recovery task: ``start()`` it, ``await close()`` it."""

    name = "redcurrent-topic-dispatcher"

    def __init__(self, engine: Engine, accounts: Sequence[str],
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        super().__init__(interval_s)
        self._engine = engine
        self._accounts = tuple(accounts)
        self.recovered = 0
        """Outbox entries this dispatcher finished (for tests and metrics)."""

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
