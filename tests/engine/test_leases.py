"""Lease tables in the engine: every transition is conditional (takes on the counter,
renewals on owner, token and counter, checkpoints and releases on the acquisition
token), expiry is judged on Redis time, handoffs and SHARD_END create what they must."""

from __future__ import annotations

import pytest

from broker.engine import Engine, ManualClock
from broker.engine.leases import SHARD_END, Lease, LeaseTableRef

ACCOUNT = "000000000000"
REF = LeaseTableRef(ACCOUNT, "clicks", "billing")
FAILOVER_MS = 10_000


async def test_create_take_renew_and_expiry(clocked_engine: Engine, clock: ManualClock
                                            ) -> None:
    t = clocked_engine.leases
    assert await t.create(REF, [Lease("shardId-000000000000"), Lease("shardId-000000000001")]) == 2
    assert await t.create(REF, [Lease("shardId-000000000000", checkpoint="LATEST")]) == 0
    state = await t.read(REF, FAILOVER_MS)
    assert state.now_ms == clock.now_ms() and state.workers == []
    a = state.leases["shardId-000000000000"]
    assert a.owner == "" and a.checkpoint == "TRIM_HORIZON" and a.expired(state.now_ms, 1)

    # two workers race for one lease seen at the same counter: one wins
    won = await t.take(REF, "w1", [(a.shard_id, a.counter)])
    lost = await t.take(REF, "w2", [(a.shard_id, a.counter)])
    assert [x.owner for x in won] == ["w1"] and lost == []
    held = won[0]
    assert held.counter == 1 and held.token == 1 and held.switches == 1

    [r] = await t.renew(REF, "w1", [(held.shard_id, held.token, held.counter)], 60_000)
    assert r.counter == 2 and not r.lost
    # a renewal whose reply was lost does not make the next one fail (owner + token)
    [again] = await t.renew(REF, "w1", [(held.shard_id, held.token, held.counter)], 60_000)
    assert again.counter == 3
    # a renewal by another worker, or of an older acquisition, is refused
    [other] = await t.renew(REF, "w2", [(held.shard_id, held.token, 3)], 60_000)
    assert other.lost
    [old] = await t.renew(REF, "w1", [(held.shard_id, held.token - 1, 3)], 60_000)
    assert old.lost
    state = await t.read(REF, FAILOVER_MS)
    assert sorted(state.workers) == ["w1", "w2"]
    assert not state.leases[held.shard_id].expired(state.now_ms, FAILOVER_MS)
    clock.advance(11)
    state = await t.read(REF, FAILOVER_MS)
    assert state.leases[held.shard_id].expired(state.now_ms, FAILOVER_MS)
    assert state.workers == []  # neither renewed within the failover time


async def test_checkpoint_is_fenced_by_the_acquisition(engine: Engine) -> None:
    t = engine.leases
    await t.create(REF, [Lease("s0")])
    [first] = await t.take(REF, "w1", [("s0", 0)])
    assert await t.checkpoint(REF, "w1", "s0", first.token, "100")
    # w2 steals it (a take conditional on the counter it saw)
    [second] = await t.take(REF, "w2", [("s0", first.counter)])
    assert second.token > first.token and second.switches == 1
    assert await t.checkpoint(REF, "w2", "s0", second.token, "200")
    # the old owner's checkpoint is refused and does not overwrite the new one
    assert not await t.checkpoint(REF, "w1", "s0", first.token, "150")
    # the same worker id with an older acquisition is refused too
    [third] = await t.take(REF, "w1", [("s0", second.counter)])
    assert not await t.checkpoint(REF, "w1", "s0", first.token, "300")
    assert await t.checkpoint(REF, "w1", "s0", third.token, "300", prepare=True)
    lease = (await t.read(REF, FAILOVER_MS)).leases["s0"]
    assert (lease.checkpoint, lease.pending, lease.switches) == ("200", "300", 1)
    assert await t.checkpoint(REF, "w1", "s0", third.token, "300")
    lease = (await t.read(REF, FAILOVER_MS)).leases["s0"]
    assert (lease.checkpoint, lease.pending, lease.switches) == ("300", "", 0)
    assert await t.release(REF, "w2", "s0", second.token, FAILOVER_MS) is None


async def test_shard_end_creates_children_and_finished_leases_are_not_taken(
        engine: Engine) -> None:
    t = engine.leases
    await t.create(REF, [Lease("p")])
    [p] = await t.take(REF, "w1", [("p", 0)])
    children = [Lease("c1", parents=("p",)), Lease("c2", parents=("p",))]
    assert await t.checkpoint(REF, "w1", "p", p.token, SHARD_END, children=children)
    state = await t.read(REF, FAILOVER_MS)
    assert state.leases["p"].children == ("c1", "c2") and state.leases["p"].finished
    assert state.leases["c1"].parents == ("p",) and state.leases["c2"].owner == ""
    assert await t.checkpoint(REF, "w1", "p", p.token, "5") == -1  # SHARD_END is final
    assert await t.release(REF, "w1", "p", p.token, FAILOVER_MS) == ""
    assert await t.take(REF, "w2", [("p", state.leases["p"].counter + 1)]) == []
    assert await t.forget(REF, ["p", "c1"]) == 1  # c1 is unfinished: kept
    assert sorted((await t.read(REF, FAILOVER_MS)).leases) == ["c1", "c2"]


async def test_graceful_handoff(engine: Engine) -> None:
    t = engine.leases
    await t.create(REF, [Lease("s0")])
    [held] = await t.take(REF, "old", [("s0", 0)])
    assert not await t.request_handoff(REF, "s0", "someone-else", "new")
    assert await t.request_handoff(REF, "s0", "old", "new")
    assert not await t.request_handoff(REF, "s0", "old", "third")  # one handoff at a time
    [r] = await t.renew(REF, "old", [("s0", held.token, held.counter)], 60_000)
    assert r.handoff_to == "new" and not r.lost
    assert await t.checkpoint(REF, "old", "s0", held.token, "42")
    await t.renew(REF, "new", [], 60_000)  # the asking worker is live
    assert await t.release(REF, "old", "s0", held.token, FAILOVER_MS) == "new"
    lease = (await t.read(REF, FAILOVER_MS)).leases["s0"]
    assert (lease.owner, lease.checkpoint, lease.handoff_to) == ("new", "42", "")
    assert lease.token > held.token
    # the old owner can neither renew nor checkpoint any more
    [gone] = await t.renew(REF, "old", [("s0", held.token, r.counter)], 60_000)
    assert gone.lost
    assert not await t.checkpoint(REF, "old", "s0", held.token, "43")


async def test_a_handoff_to_a_worker_gone_releases_to_nobody(clocked_engine: Engine,
                                                            clock: ManualClock) -> None:
    t = clocked_engine.leases
    await t.create(REF, [Lease("s0")])
    [held] = await t.take(REF, "old", [("s0", 0)])
    await t.renew(REF, "asker", [], 60_000)
    assert await t.request_handoff(REF, "s0", "old", "asker")
    clock.advance(11)  # the asker stopped renewing: it died
    await t.renew(REF, "old", [("s0", held.token, 0)], 60_000)
    assert await t.release(REF, "old", "s0", held.token, FAILOVER_MS) == ""
    lease = (await t.read(REF, FAILOVER_MS)).leases["s0"]
    assert lease.owner == "" and lease.expired(clock.now_ms() or 0, FAILOVER_MS)
    assert await t.get(REF, ["s0", "nope"]) == {"s0": lease}


async def test_tables_are_per_application(engine: Engine) -> None:
    other = LeaseTableRef(ACCOUNT, "clicks", "analytics")
    await engine.leases.create(REF, [Lease("s0", checkpoint="100")])
    assert (await engine.leases.read(other, FAILOVER_MS)).leases == {}
    await engine.leases.delete_table(REF)
    assert (await engine.leases.read(REF, FAILOVER_MS)).leases == {}


def test_names_are_checked() -> None:
    with pytest.raises(ValueError, match="application"):
        LeaseTableRef(ACCOUNT, "clicks", "bad name")
