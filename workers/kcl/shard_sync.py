"""Shard sync: leases for shards the table lacks (KCL's HierarchicalShardSyncer, simply).

* On the first sync (an empty table), every shard gets a lease at the initial position,
  except closed shards under LATEST (nothing new will come from them).
* Later, a shard without a lease gets one when a parent has a lease (or is getting one):
  it starts at TRIM_HORIZON, after its parents, so no record is skipped; an open shard
  with no parent in the table gets the initial position.
* Finished leases of shards the stream no longer lists (trimmed) may be forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from broker.engine.leases import AT_TIMESTAMP, LATEST, TRIM_HORIZON, Lease
from broker.engine.stream_types import Shard


def parents_of(shard: Shard) -> tuple[str, ...]:
    return tuple(p for p in (shard.parent, shard.adjacent_parent) if p)


def new_leases(shards: Sequence[Shard], existing: Mapping[str, Lease],
               initial_position: str) -> list[Lease]:
    """The leases to create, parents before children (``shards`` in creation order)."""
    first = not existing
    known = set(existing)
    out: list[Lease] = []
    for shard in sorted(shards, key=lambda s: s.shard_id):
        if shard.shard_id in known:
            continue
        parents = parents_of(shard)
        is_open = shard.ending_sequence is None
        if any(p in known for p in parents):
            # a descendant of a shard the application reads: all of it, after its
            # parents (on a first sync at a timestamp: from that timestamp)
            start = AT_TIMESTAMP if first and initial_position == AT_TIMESTAMP \
                else TRIM_HORIZON
            lease = Lease(shard.shard_id, checkpoint=start, parents=parents)
        elif is_open or (first and initial_position != LATEST):
            lease = Lease(shard.shard_id, checkpoint=initial_position, parents=parents)
        else:
            continue
        out.append(lease)
        known.add(shard.shard_id)
    return out


def forgettable(shards: Sequence[Shard], existing: Mapping[str, Lease]) -> list[str]:
    """Finished leases whose shard is gone from the stream."""
    listed = {s.shard_id for s in shards}
    return [sid for sid, lease in existing.items() if lease.finished and sid not in listed]


def child_leases(children: Sequence[Shard]) -> list[Lease]:
    """The leases a parent creates when it checkpoints SHARD_END."""
    return [Lease(c.shard_id, checkpoint=TRIM_HORIZON, parents=parents_of(c))
            for c in children]
