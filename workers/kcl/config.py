"""Settings of a stream consumer application (KCL's LeaseManagementConfig and friends)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from broker.engine.leases import AT_TIMESTAMP, LATEST, TRIM_HORIZON

POLLING = "polling"
PUSH = "push"


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """How a worker takes, keeps and processes leases. Defaults follow KCL's."""

    failover_s: float = 10.0
    """A lease not renewed for this long (Redis time) may be taken by another worker."""
    renew_interval_s: float | None = None
    """How often a worker renews its leases and looks for work: failover / 3 if None."""
    initial_position: str = TRIM_HORIZON
    """Where new leases of the application start: TRIM_HORIZON, LATEST or AT_TIMESTAMP
    (with ``initial_timestamp``). Children of a resharded shard always start at
    TRIM_HORIZON, after their parents."""
    initial_timestamp: dt.datetime | None = None
    max_leases_to_steal: int = 2
    """Leases taken from a busier worker per cycle (KCL: 1; 2 balances faster)."""
    max_leases_per_worker: int | None = None
    graceful_handoff: bool = True
    """A steal asks the owner to checkpoint and hand the lease over (KCL 3)."""
    handoff_timeout_s: float = 30.0
    """A handoff the owner has not completed in this time becomes a plain steal (KCL 3's
    default); it must exceed ``renew_s + shutdown_timeout_s``, the longest an owner may
    rightly take."""
    retrieval: str = POLLING
    """``polling`` (GetRecords) or ``push`` (SubscribeToShard through an enhanced
    fan-out consumer named after the application)."""
    max_records: int = 10_000
    """Records per GetRecords call (and at most per ``process_records`` call)."""
    idle_poll_s: float = 0.25
    """Pause of a caught-up GetRecords loop."""
    min_get_interval_s: float = 0.2
    """Least time between two GetRecords calls on one shard: Kinesis allows 5 a second
    per shard (and answers ProvisionedThroughputExceededException above that)."""
    parent_poll_s: float = 1.0
    """How often a child shard waiting for its parents looks at them."""
    shard_sync_interval_s: float = 60.0
    """How often a worker compares the stream's shards with the lease table."""
    retry_backoff_max_s: float = 10.0
    """Longest pause before retrying a failed batch or a failed read."""
    shutdown_timeout_s: float = 10.0
    """How long ``shutdown_requested`` and ``shard_ended`` may run."""

    def __post_init__(self) -> None:
        if self.failover_s <= 0:
            raise ValueError("failover_s must be > 0")
        if self.initial_position not in (TRIM_HORIZON, LATEST, AT_TIMESTAMP):
            raise ValueError(f"initial_position must be {TRIM_HORIZON}, {LATEST} or "
                             f"{AT_TIMESTAMP}, not {self.initial_position!r}")
        if (self.initial_position == AT_TIMESTAMP) != (self.initial_timestamp is not None):
            raise ValueError("initial_timestamp goes with initial_position=AT_TIMESTAMP")
        if self.retrieval not in (POLLING, PUSH):
            raise ValueError(f"retrieval must be {POLLING!r} or {PUSH!r}")
        if self.max_leases_to_steal < 1:
            raise ValueError("max_leases_to_steal must be >= 1")
        if not 1 <= self.max_records <= 10_000:
            raise ValueError("max_records must be 1-10,000")
        if self.handoff_timeout_s <= self.renew_s + self.shutdown_timeout_s:
            raise ValueError("handoff_timeout_s must exceed renew_s + shutdown_timeout_s: "
                             "an owner may take that long to checkpoint and hand over")

    @property
    def renew_s(self) -> float:
        return self.renew_interval_s if self.renew_interval_s is not None \
            else self.failover_s / 3

    @property
    def failover_ms(self) -> int:
        return int(self.failover_s * 1000)
