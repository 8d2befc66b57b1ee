"""Fair queues: a standard queue whose messages carry a MessageGroupId (the tenant) serves
quiet tenants promptly while one tenant floods it, and deprioritizes a noisy tenant (at
least 30 messages in flight and more than a tenth of the queue's)."""

from __future__ import annotations

from broker import Client, ManualClock
from broker.sdk.client import message


async def test_flood_does_not_delay_a_quiet_tenant(client: Client) -> None:
    q = await client.create_queue("fair-flood")
    for start in range(0, 500, 10):
        await q.send_batch([message(f"flood {i}", group_id="flood")
                            for i in range(start, start + 10)])
    for i in range(5):
        await q.send(f"quiet {i}", group_id="quiet")
    seen: list[str] = []
    for _ in range(2):  # tenants take turns: the quiet one's 5 come within 20
        got = await q.receive(10)
        seen += [m.body for m in got]
        await q.delete_batch([m.receipt_handle for m in got])
    assert sorted(b for b in seen if b.startswith("quiet")) == [f"quiet {i}" for i in range(5)]
    # the flood is still delivered, and everything exactly once
    while got := await q.receive(10):
        seen += [m.body for m in got]
        await q.delete_batch([m.receipt_handle for m in got])
    assert len(seen) == len(set(seen)) == 505
    attrs = await q.attributes()
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


async def test_noisy_tenant_is_served_after_quiet_ones(clocked_client: Client,
                                                       clock: ManualClock) -> None:
    q = await clocked_client.create_queue("fair-noisy", visibility_timeout_s=600)
    for start in range(0, 60, 10):
        await q.send_batch([message(f"a{i}", group_id="a") for i in range(start, start + 10)])
    for _ in range(4):  # 40 of a's messages in flight: a is noisy
        assert len(await q.receive(10)) == 10
    clock.advance(10)
    for start in range(0, 20, 10):
        await q.send_batch([message(f"b{i}", group_id="b") for i in range(start, start + 10)])
    # a's remaining messages come first in virtual time, but a is noisy
    got = await q.receive(10)
    assert {m.group_id for m in got} == {"b"}
    got = await q.receive(10)
    assert {m.group_id for m in got} == {"b"}
    # only a left: it is served (noisy tenants are deprioritized, not blocked)
    got = await q.receive(10)
    assert {m.group_id for m in got} == {"a"}


async def test_redelivered_and_untenanted_messages(clocked_client: Client,
                                                   clock: ManualClock) -> None:
    q = await clocked_client.create_queue("fair-mixed", visibility_timeout_s=5)
    await q.send("before fairness")  # the queue is not fair yet
    await q.send_batch([message(f"t{i}", group_id="t") for i in range(10)])
    await q.send("plain")  # no group, on a fair queue: tenant ''
    got = await q.receive(3)
    assert got[0].body == "before fairness"  # older than everything filed fairly
    clock.advance(6)  # the three come back, ahead of the rest
    again = await q.receive(3)
    assert sorted(m.body for m in again) == sorted(m.body for m in got)
    assert all(m.receive_count == 2 for m in again)
    bodies = [m.body for m in again]
    await q.delete_batch([m.receipt_handle for m in again])
    while rest := await q.receive(10):
        bodies += [m.body for m in rest]
        await q.delete_batch([m.receipt_handle for m in rest])
    assert sorted(bodies) == sorted(["before fairness", "plain", *[f"t{i}" for i in range(10)]])
    attrs = await q.attributes()
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


async def test_fair_queue_purge_and_change_visibility(client: Client) -> None:
    q = await client.create_queue("fair-purge")
    await q.send_batch([message(f"m{i}", group_id=f"g{i % 3}") for i in range(9)])
    got = await q.receive(4)
    await got[0].change_visibility(0)
    again = await q.receive(10)
    assert got[0].body in [m.body for m in again]
    await q.purge()
    await q.send("after", group_id="g0")
    assert [m.body for m in await q.receive(10)] == ["after"]


async def test_purge_resets_the_tenants_virtual_times(client: Client) -> None:
    """A tenant that flooded the queue before a purge is not held back after it."""
    q = await client.create_queue("fair-purge-vt")
    await q.send_batch([message(f"a{i}", group_id="A") for i in range(10)])
    await q.send_batch([message(f"a{i}", group_id="A") for i in range(10, 20)])
    await q.purge()
    await q.send_batch([message(f"b{i}", group_id="B") for i in range(5)])
    await q.send("a-after", group_id="A")
    got = [m.body for m in await q.receive(10)]
    assert got == ["b0", "b1", "a-after", "b2", "b3", "b4"]  # not last: A starts afresh
