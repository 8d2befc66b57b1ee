"""Background upkeep the engine needs when no request touches a queue: retention sweeps,
and message move tasks whose runner died.

Sends and receives sweep expired messages as they go; a queue that sees neither would
keep them (and their memory) forever. The server runs one :class:`Housekeeper` task that
walks every queue of its accounts every ``interval_s`` seconds. Several servers on one
Redis may all run it: a sweep is idempotent, and a move task is adopted by one engine
only (its lease decides).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from broker import errors
from broker.engine import Engine
from broker.types import QueueRef

#: seconds between two passes over all queues
DEFAULT_INTERVAL_S = 60.0
#: messages examined per script call (bounds the time one call holds Redis)
SWEEP_BATCH = 500
#: queues listed per page
PAGE = 1000

log = logging.getLogger(__name__)


class Housekeeper:
    """Owns the upkeep task: ``start()`` it, ``await close()`` it."""

    def __init__(self, engine: Engine, accounts: Sequence[str],
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._engine = engine
        self._accounts = tuple(accounts)
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.passes = 0
        """Completed passes (for tests and metrics)."""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="redcurrent-housekeeping")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # The stop event, not only the cancel: redis-py can swallow a cancellation
            # that lands inside a command, and the task would sleep on.
            self._stop.set()
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
                log.warning("housekeeping pass failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_s)

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
