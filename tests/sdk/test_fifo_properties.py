"""A randomized run of a FIFO queue against a model, on virtual time: many groups, several
concurrent consumers, random visibility timeouts, failures (messages left to expire),
early releases, stale handles and duplicate sends. After every step:

- a group gives messages to at most one receive at a time, and only its oldest
  undeleted messages, in send order, stopping before any message still in flight;
- a duplicate inside the 5-minute window returns the original message id and stores
  nothing; after the window it stores a new message;
- a delete with a current handle succeeds, with an expired one fails and deletes nothing;
- at the end every stored message was deleted exactly once: nothing lost or duplicated.

Runs through the SDK on each transport and topology (the ``clocked_client`` fixture).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from broker import Client, ManualClock, errors
from broker.sdk.client import Message, Queue, message

DEDUP_MS = 300_000


@dataclass
class Model:
    groups: dict[str, list[str]] = field(default_factory=dict)
    """group -> ids of its undeleted messages, in send order"""
    deadline: dict[str, int] = field(default_factory=dict)
    """id -> visibility deadline (ms) of its latest receive"""
    handle: dict[str, str] = field(default_factory=dict)
    """id -> its latest receipt handle"""
    dedup: dict[str, tuple[str, int]] = field(default_factory=dict)
    """deduplication id -> (message id, ms it was stored)"""
    stored: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)

    def in_flight(self, mid: str, now: int) -> bool:
        return self.deadline.get(mid, 0) > now


async def _send_some(q: Queue, model: Model, rng: random.Random, now: int,
                     counter: list[int]) -> None:
    entries, expect = [], []
    for i in range(rng.randint(1, 10)):
        group = f"g{rng.randrange(12)}"
        if model.dedup and rng.random() < 0.25:
            dedup_id = rng.choice(sorted(model.dedup))
        else:
            counter[0] += 1
            dedup_id = f"d{counter[0]}"
        entries.append(message(f"{group}:{dedup_id}", id=str(i), group_id=group,
                               deduplication_id=dedup_id))
        expect.append((group, dedup_id))
    res = await q.send_batch(entries)
    assert not res.failed
    for i, (group, dedup_id) in enumerate(expect):
        sent = res.successful[str(i)]
        known = model.dedup.get(dedup_id)
        if known is not None and now < known[1] + DEDUP_MS:
            assert sent.message_id == known[0], "a duplicate inside the window was stored"
            continue
        assert known is None or sent.message_id != known[0]
        model.dedup[dedup_id] = (sent.message_id, now)
        model.groups.setdefault(group, []).append(sent.message_id)
        model.stored.add(sent.message_id)


def _check_receives(model: Model, results: list[list[Message]], now: int) -> None:
    takers: dict[str, int] = {}
    for consumer, got in enumerate(results):
        per_group: dict[str, list[str]] = {}
        for m in got:
            assert m.group_id is not None
            per_group.setdefault(m.group_id, []).append(m.id)
        for group, ids in per_group.items():
            assert takers.setdefault(group, consumer) == consumer, \
                f"group {group} went to two receives at once"
            pending = model.groups[group]
            blocked = next((i for i, mid in enumerate(pending) if model.in_flight(mid, now)),
                           len(pending))
            assert ids == pending[:len(ids)], f"group {group} out of order: {ids} {pending}"
            assert len(ids) <= blocked, f"group {group} passed a message in flight"


@pytest.mark.parametrize("seed", [7, 1234])
async def test_fifo_against_model(clocked_client: Client, clock: ManualClock,
                                  seed: int) -> None:
    rng = random.Random(seed)
    q = await clocked_client.create_queue("model.fifo", visibility_timeout_s=30)
    model = Model()
    counter = [0]
    stale: list[tuple[str, str]] = []
    for _step in range(30):
        now = clock.now_ms()
        assert now is not None
        await _send_some(q, model, rng, now, counter)
        visibility = [rng.choice([5, 20, 60]) for _ in range(4)]
        results = await asyncio.gather(*(
            q.receive(rng.randint(1, 10), visibility_timeout_s=vt) for vt in visibility))
        _check_receives(model, list(results), now)
        deletes: list[Message] = []
        for got, vt in zip(results, visibility, strict=True):
            for m in got:
                old = model.handle.get(m.id)
                if old is not None:
                    stale.append((m.id, old))
                model.deadline[m.id] = now + vt * 1000
                model.handle[m.id] = m.receipt_handle
                roll = rng.random()
                if roll < 0.55:
                    deletes.append(m)
                elif roll < 0.7:
                    await m.change_visibility(0)
                    model.deadline[m.id] = now
                # else: the consumer "fails"; the message comes back after vt
        await asyncio.gather(*(m.delete() for m in deletes))
        for m in deletes:
            model.groups[m.group_id or ""].remove(m.id)
            model.deleted.append(m.id)
        if stale and rng.random() < 0.5:
            mid, handle = stale.pop(rng.randrange(len(stale)))
            if mid in model.stored and mid not in model.deleted:
                with pytest.raises(errors.InvalidParameterValue, match="expired"):
                    await q.delete(handle)
        clock.advance(rng.choice([0, 3, 10, 25, 70, 200]))

    # Drain: everything stored comes out, in order per group, and is deleted once.
    clock.advance(120)
    for _ in range(200):
        now = clock.now_ms()
        assert now is not None
        got = await q.receive(10)
        if not got:
            break
        _check_receives(model, [got], now)
        await q.delete_batch([m.receipt_handle for m in got])
        for m in got:
            model.groups[m.group_id or ""].remove(m.id)
            model.deleted.append(m.id)
    assert len(model.deleted) == len(set(model.deleted)), "a message was deleted twice"
    assert set(model.deleted) == model.stored, "a message was lost"
    attrs = await q.attributes()
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
