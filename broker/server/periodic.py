"""One owned background loop: ``run_once()`` every ``interval_s`` seconds until closed.

The server's housekeeping, topic dispatcher and HTTP deliverer are such loops. A pass
that fails (Redis away for a moment) is logged and retried on the next one. Closing
sets a stop event as well as cancelling: redis-py can swallow a cancellation that lands
inside a command, and the loop would otherwise sleep on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class PeriodicTask:
    """Subclasses implement ``run_once``; ``start()`` it, ``await close()`` it."""

    #: the task's name (asyncio, logs)
    name = "redcurrent-periodic"

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def run_once(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
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
                log.warning("%s pass failed", self.name, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_s)
