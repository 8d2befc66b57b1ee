"""What every engine component shares: the Redis client, the functions, the clock."""

from __future__ import annotations

from dataclasses import dataclass

from broker.engine.clock import Clock
from broker.engine.scripts import AnyRedis, Scripts
from broker.engine.settings import Identity, Limits
from broker.engine.wakeups import Wakeups


@dataclass(frozen=True, slots=True)
class Context:
    redis: AnyRedis
    scripts: Scripts
    clock: Clock
    identity: Identity
    limits: Limits
    wakeups: Wakeups
    engine_id: str
    """Unique per engine instance: its name in the queues' ``waiters`` sets."""
