"""The engine's notion of "now".

Production time is Redis server time, read inside each script (``TIME``): SDK clients
run on many hosts whose clocks disagree. ``SystemClock`` therefore returns ``None``,
which tells every script to read ``TIME`` itself. Tests inject a ``ManualClock`` whose
``now_ms`` is passed to the scripts, so visibility timeouts, delays and retention are
tested without sleeping (prior art: trio's MockClock).
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int | None:
        """Milliseconds since the epoch to pass to scripts, or None to use Redis TIME."""


class SystemClock:
    """Redis server time (the only production clock)."""

    def now_ms(self) -> int | None:
        return None


class ManualClock:
    """A virtual clock for tests: time moves only when ``advance`` is called."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int | None:
        return self._now_ms

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self._now_ms += int(seconds * 1000)


def clock_arg(clock: Clock) -> str:
    """The ``now_ms`` script argument: empty means "use Redis TIME"."""
    now = clock.now_ms()
    return "" if now is None else str(now)
