"""The stream consumer's pure decisions: lease targets, takes, steals and handoffs
(``workers.kcl.balancing``), and which shards get leases (``workers.kcl.shard_sync``)."""

from __future__ import annotations

import random

from broker.engine.leases import LATEST, SHARD_END, TRIM_HORIZON, Lease, LeaseTableState
from broker.engine.stream_types import Shard
from workers.kcl import ConsumerConfig
from workers.kcl.balancing import plan, target_for
from workers.kcl.shard_sync import forgettable, new_leases

NOW = 1_000_000
CFG = ConsumerConfig(failover_s=10)


def leases(**owners: str) -> dict[str, Lease]:
    return {sid: Lease(sid, owner=o, counter=5, renewed_ms=NOW - 1000)
            for sid, o in owners.items()}


def state(table: dict[str, Lease], workers: list[str] | None = None) -> LeaseTableState:
    return LeaseTableState(NOW, table, workers or [])


def test_target_counts_live_workers_and_owners() -> None:
    table = leases(a="w1", b="w1", c="w1", d="w1", e="", f="")
    assert target_for(state(table), "me", CFG) == 3  # me + w1
    assert target_for(state(table, ["w1", "w2", "me"]), "me", CFG) == 2
    table["g"] = Lease("g", checkpoint=SHARD_END)  # finished leases are not counted
    assert target_for(state(table, ["w1", "w2", "me"]), "me", CFG) == 2
    capped = ConsumerConfig(max_leases_per_worker=1)
    assert target_for(state(table), "me", capped) == 1


def test_takes_unowned_then_expired_up_to_the_target() -> None:
    table = leases(a="w1", b="", c="dead", d="w1")
    table["c"] = Lease("c", owner="dead", counter=9, renewed_ms=NOW - 20_000)
    p = plan(state(table, ["w1"]), "me", set(), CFG, random.Random(1))
    assert p.target == 2 and p.take == [("b", 5), ("c", 9)] and not p.handoff


def test_steals_from_the_busiest_through_handoffs() -> None:
    table = leases(a="w1", b="w1", c="w1", d="w1", e="w1", f="w2")
    p = plan(state(table, ["w1", "w2", "me"]), "me", set(), CFG, random.Random(1))
    assert p.target == 2 and not p.take
    assert len(p.handoff) == 2 and {o for _, o in p.handoff} == {"w1"}
    one = plan(state(table, ["w1", "w2", "me"]), "me", set(),
               ConsumerConfig(max_leases_to_steal=1), random.Random(1))
    assert len(one.handoff) == 1
    forced = plan(state(table, ["w1", "w2", "me"]), "me", set(),
                  ConsumerConfig(graceful_handoff=False), random.Random(1))
    assert len(forced.steal) == 2 and not forced.handoff


def test_pending_handoffs_count_and_time_out_into_steals() -> None:
    table = leases(a="w1", b="w1", c="w1", d="w1")
    table["a"] = Lease("a", owner="w1", counter=7, renewed_ms=NOW, handoff_to="me",
                       handoff_ms=NOW - 1000)
    p = plan(state(table, ["w1", "me"]), "me", set(), CFG, random.Random(1))
    assert len(p.handoff) == 1 and p.steal == []  # one asked already, one more to go
    table["a"] = Lease("a", owner="w1", counter=7, renewed_ms=NOW, handoff_to="me",
                       handoff_ms=NOW - 31_000)
    p = plan(state(table, ["w1", "me"]), "me", set(), CFG, random.Random(1))
    assert ("a", 7) in p.steal


def test_balanced_workers_do_nothing() -> None:
    table = leases(a="w1", b="w1", c="me", d="me", e="w2")
    p = plan(state(table, ["w1", "w2", "me"]), "me", {"c", "d"}, CFG)
    assert (p.take, p.handoff, p.steal) == ([], [], [])
    # at the target, with one to spare elsewhere: nobody moves a single lease back and forth
    p = plan(state(table, ["w1", "w2", "me"]), "w2", {"e"}, CFG)
    assert (p.take, p.handoff, p.steal) == ([], [], [])


def shard(sid: str, *parents: str, closed: bool = False) -> Shard:
    return Shard(sid, 0, 1, "0", "9" if closed else None, *(list(parents) + [None, None])[:2])


def test_shard_sync_first_and_later() -> None:
    shards = [shard("s0", closed=True), shard("s1", "s0"), shard("s2", "s0"), shard("s3")]
    first = new_leases(shards, {}, TRIM_HORIZON)
    assert [(x.shard_id, x.checkpoint, x.parents) for x in first] == [
        ("s0", TRIM_HORIZON, ()), ("s1", TRIM_HORIZON, ("s0",)),
        ("s2", TRIM_HORIZON, ("s0",)), ("s3", TRIM_HORIZON, ())]
    latest = new_leases(shards, {}, LATEST)
    assert [(x.shard_id, x.checkpoint) for x in latest] == [
        ("s1", LATEST), ("s2", LATEST), ("s3", LATEST)]
    # later: a child of a leased shard starts at TRIM_HORIZON; a closed orphan is skipped
    existing = {x.shard_id: x for x in latest}
    later = [*shards, shard("s4", "s1", "s2"), shard("x", closed=True)]
    assert [(x.shard_id, x.checkpoint, x.parents) for x in new_leases(later, existing, LATEST)
            ] == [("s4", TRIM_HORIZON, ("s1", "s2"))]
    done = {"s0": Lease("s0", checkpoint=SHARD_END), "s1": Lease("s1", checkpoint=SHARD_END)}
    assert forgettable([shard("s1", closed=True)], done) == ["s0"]


def test_a_batch_handler_may_return_one_failed_id() -> None:
    from workers.queue_runner import _failed_ids

    assert _failed_ids("m-1") == {"m-1"}
    assert _failed_ids(["m-1", "m-2"]) == {"m-1", "m-2"}
    assert _failed_ids(None) == set()
