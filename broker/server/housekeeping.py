"""Background upkeep the engine needs when no request touches a queue: retention sweeps,
and message move tasks whose runner died.

Sends and receives sweep expired messages as they go; a queue that sees neither would
keep them (and their memory) forever. The server runs one :class:`Housekeeper` task that
walks every queue of its accounts every ``interval_s`` seconds. Several servers on one
Redis may all run it: a sweep is idempotent, and a move task is adopted by one engine
only (its lease decides).
"""

from __future__ import annotations

from collections.abc import Sequence

from broker import errors
from broker.engine import Engine
from broker.server.periodic import PeriodicTask
from broker.types import QueueRef

#: seconds between two passes over all queues
DEFAULT_INTERVAL_S = 60.0
#: messages examined per script call (bounds the time one call holds Redis)
SWEEP_BATCH = 500
#: queues listed per page
PAGE = 1000


class Housekeeper(PeriodicTask):
    """Owns the upkeep task: ``start()`` it, ``await close()`` it."""

    name = "redcurrent-housekeeping"

    def __init__(self, engine: Engine, accounts: Sequence[str],
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        super().__init__(interval_s)
        self._engine = engine
        self._accounts = tuple(accounts)
        self.passes = 0
        """Completed passes (for tests and metrics)."""

    async def run_once(self) -> int:
        """One pass over every queue; returns the message numbers swept past."""
        swept = 0
        for account in self._accounts:
            await self._engine.moves.resume_abandoned(account)
            token: str | None = None
            while True:
                names, token = await self._engine.admin.list_queues(
                    account, max_results=PAGE, next_token=token)
                for name in names:
                    swept += await self._sweep(QueueRef(account, name))
                if not token:
                    break
        self.passes += 1
        return swept

    async def _sweep(self, queue: QueueRef) -> int:
        total = 0
        while True:
            try:
                n = await self._engine.admin.sweep(queue, SWEEP_BATCH)
            except errors.QueueDoesNotExist:  # deleted since it was listed
                return total
            total += n
            if n < SWEEP_BATCH:
                return total
