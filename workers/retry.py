"""Retry policies of queue handlers: exponential backoff with jitter, applied through
ChangeMessageVisibility, so a failed message comes back after the delay and the queue's
maxReceiveCount (and its dead-letter queue) still decides when to give up."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

#: SQS's longest visibility timeout
MAX_VISIBILITY_S = 43_200


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``delay(attempt)`` lies in [d/2, d] for d = min(max_delay_s, base_s * 2^(attempt-1))
    ("equal jitter"): spread out, and never shorter than the previous attempt's least."""

    base_s: float = 1.0
    max_delay_s: float = 300.0
    max_attempts: int | None = None
    """Give up after this many receives (to the dead-letter queue if the queue has one,
    else the message is dropped with an error log). None: the queue's maxReceiveCount
    decides, or retries go on until the retention period ends."""
    no_retry: tuple[type[BaseException], ...] = ()
    """Exceptions that skip the retries: the message goes to the dead-letter queue (or is
    dropped) at once."""

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_delay_s < self.base_s:
            raise ValueError("need 0 < base_s <= max_delay_s")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> int:
        """Seconds before the message is visible again after failed attempt ``attempt``
        (its ApproximateReceiveCount, from 1)."""
        d = min(self.max_delay_s, self.base_s * 2 ** max(attempt - 1, 0))
        jittered = d / 2 + (rng or random).uniform(0, d / 2)
        return int(min(MAX_VISIBILITY_S, max(1, math.ceil(jittered))))

    def gives_up(self, exc: BaseException, attempt: int) -> bool:
        return isinstance(exc, self.no_retry) or (
            self.max_attempts is not None and attempt >= self.max_attempts)
