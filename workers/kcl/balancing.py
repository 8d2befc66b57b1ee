"""What a worker takes or steals in one cycle: a pure function of one read of the lease
table (KCL 2's lease taker, with a registry of live workers and KCL 3's graceful
handoff)."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field

from broker.engine.leases import Lease, LeaseTableState
from workers.kcl.config import ConsumerConfig


@dataclass(slots=True)
class Plan:
    take: list[tuple[str, int]] = field(default_factory=list)
    """Expired or unowned leases: (shard id, counter seen)."""
    handoff: list[tuple[str, str]] = field(default_factory=list)
    """Leases to ask their owner for: (shard id, owner)."""
    steal: list[tuple[str, int]] = field(default_factory=list)
    """Leases to take from a live owner at once: (shard id, counter seen)."""
    target: int = 0


def target_for(state: LeaseTableState, me: str, config: ConsumerConfig) -> int:
    """ceil(unfinished leases / live workers), capped by ``max_leases_per_worker``."""
    active = [lease for lease in state.leases.values() if not lease.finished]
    if not active:
        return 0
    owners = {lease.owner for lease in active
              if not lease.expired(state.now_ms, config.failover_ms)}
    workers = set(state.workers) | owners | {me}
    target = math.ceil(len(active) / len(workers))
    if config.max_leases_per_worker is not None:
        target = min(target, config.max_leases_per_worker)
    return target


def plan(state: LeaseTableState, me: str, held: set[str], config: ConsumerConfig,
         rng: random.Random | None = None) -> Plan:
    rng = rng or random.Random()
    now, failover = state.now_ms, config.failover_ms
    active = [lease for lease in state.leases.values() if not lease.finished]
    target = target_for(state, me, config)
    out = Plan(target=target)
    incoming = [lease for lease in active if lease.handoff_to == me and lease.owner != me]
    mine = len([lease for lease in active if lease.shard_id in held]) + len(incoming)
    # handoffs the owner did not complete in time become plain steals
    timeout_ms = int(config.handoff_timeout_s * 1000)
    out.steal += [(lease.shard_id, lease.counter) for lease in incoming
                  if now - lease.handoff_ms > timeout_ms]
    needed = target - mine
    if needed <= 0:
        return out
    available = [lease for lease in active
                 if lease.shard_id not in held and lease.expired(now, failover)]
    if available:
        rng.shuffle(available)
        # unowned first, then the ones expired the longest
        available.sort(key=lambda lease: (lease.owner != "", lease.renewed_ms))
        out.take += [(lease.shard_id, lease.counter) for lease in available[:needed]]
        return out
    loads = Counter(lease.owner for lease in active
                    if lease.owner and lease.owner != me and not lease.expired(now, failover))
    if not loads:
        return out
    most = max(loads.values())
    victim = rng.choice(sorted(w for w, n in loads.items() if n == most))
    if most > target:
        count = min(needed, most - target)
    elif most == target and needed > 1:
        count = 1
    else:
        return out
    count = min(count, config.max_leases_to_steal)
    candidates: list[Lease] = [lease for lease in active
                               if lease.owner == victim and not lease.handoff_to]
    for lease in rng.sample(candidates, min(count, len(candidates))):
        if config.graceful_handoff:
            out.handoff.append((lease.shard_id, victim))
        else:
            out.steal.append((lease.shard_id, lease.counter))
    return out
