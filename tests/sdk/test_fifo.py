"""FIFO queues through the SDK (in-process and over HTTP, standalone and cluster):
deduplication, group order and blocking, sequence numbers, receive attempts, expired
handles, dead-letter moves, and the validation errors SQS answers."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from broker import Client, ManualClock, errors
from broker.sdk.client import message


async def test_fifo_queue_attributes(client: Client) -> None:
    q = await client.create_queue("orders.fifo")
    attrs = await q.attributes()
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    assert attrs["DeduplicationScope"] == "queue"
    assert attrs["FifoThroughputLimit"] == "perQueue"
    hi = await client.create_queue("ht.fifo", deduplication_scope="messageGroup",
                                   fifo_throughput_limit="perMessageGroupId")
    assert (await hi.attributes())["FifoThroughputLimit"] == "perMessageGroupId"


async def test_fifo_attribute_rules(client: Client) -> None:
    with pytest.raises(errors.InvalidAttributeValue, match="DeduplicationScope"):
        await client.create_queue("bad.fifo", fifo_throughput_limit="perMessageGroupId")
    q = await client.create_queue("set.fifo")
    with pytest.raises(errors.InvalidAttributeValue):
        await q.set_attributes(fifo_throughput_limit="perMessageGroupId")
    await q.set_attributes(deduplication_scope="messageGroup",
                           fifo_throughput_limit="perMessageGroupId")
    with pytest.raises(errors.InvalidAttributeName):
        await client.create_queue("std", content_based_deduplication=True)
    with pytest.raises(errors.InvalidParameterValue, match=".fifo suffix"):
        await client.create_queue("nosuffix", attributes={"FifoQueue": "true"})


async def test_send_needs_group_and_dedup(client: Client) -> None:
    q = await client.create_queue("needs.fifo")
    with pytest.raises(errors.MissingParameter, match="MessageGroupId"):
        await q.send("x", deduplication_id="d")
    with pytest.raises(errors.InvalidParameterValue, match="ContentBasedDeduplication"):
        await q.send("x", group_id="g")
    with pytest.raises(errors.InvalidParameterValue, match="DelaySeconds"):
        await q.send("x", group_id="g", deduplication_id="d", delay_s=5)
    with pytest.raises(errors.InvalidParameterValue, match="MessageGroupId"):
        await q.send("x", group_id="has space", deduplication_id="d")
    with pytest.raises(errors.InvalidParameterValue, match="MessageDeduplicationId"):
        await q.send("x", group_id="g", deduplication_id="d" * 129)
    res = await q.send_batch([message("ok", group_id="g", deduplication_id="1"),
                              message("no dedup", group_id="g"),
                              message("no group", deduplication_id="3")])
    assert list(res.successful) == ["0"]
    assert {f.id: f.code for f in res.failed} == {
        "1": "InvalidParameterValue", "2": "MissingParameter"}
    sent = await q.send("zero delay is fine", group_id="g", deduplication_id="4", delay_s=0)
    assert sent.sequence_number


async def test_standard_queue_takes_group_but_not_dedup(client: Client) -> None:
    q = await client.create_queue("fair")
    await q.send("tenant a", group_id="tenant-a")
    [m] = await q.receive()
    assert m.group_id == "tenant-a" and m.sequence_number is None
    with pytest.raises(errors.InvalidParameterValue, match="MessageDeduplicationId"):
        await q.send("x", deduplication_id="d")


async def test_deduplication_window(clocked_client: Client, clock: ManualClock) -> None:
    q = await clocked_client.create_queue("dedup.fifo")
    first = await q.send("one", group_id="g", deduplication_id="d1")
    again = await q.send("other body", group_id="g", deduplication_id="d1")
    assert (again.message_id, again.sequence_number) == (first.message_id,
                                                         first.sequence_number)
    [m] = await q.receive(10)
    await m.delete()
    clock.advance(299)
    dup = await q.send("one", group_id="g", deduplication_id="d1")  # still remembered
    assert dup.message_id == first.message_id
    assert await q.receive(10) == []
    clock.advance(2)
    fresh = await q.send("one", group_id="g", deduplication_id="d1")
    assert fresh.message_id != first.message_id
    assert int(fresh.sequence_number or 0) > int(first.sequence_number or 0)
    assert [m.body for m in await q.receive(10)] == ["one"]


async def test_content_based_deduplication(client: Client) -> None:
    q = await client.create_queue("cbd.fifo", content_based_deduplication=True)
    a = await q.send("same", group_id="g1")
    b = await q.send("same", group_id="g2")  # scope queue: the body alone decides
    c = await q.send("same", group_id="g1", deduplication_id="explicit")
    assert a.message_id == b.message_id != c.message_id
    got = await q.receive(10, attribute_names=["All"])
    assert [m.body for m in got] == ["same", "same"]
    assert got[0].attributes["MessageDeduplicationId"] == hashlib.sha256(b"same").hexdigest()
    assert got[1].attributes["MessageDeduplicationId"] == "explicit"


async def test_deduplication_scope_message_group(client: Client) -> None:
    q = await client.create_queue("scoped.fifo", deduplication_scope="messageGroup")
    a = await q.send("x", group_id="g1", deduplication_id="d")
    b = await q.send("x", group_id="g2", deduplication_id="d")
    c = await q.send("x", group_id="g1", deduplication_id="d")
    assert a.message_id != b.message_id and c.message_id == a.message_id


async def test_group_order_blocking_and_redelivery(clocked_client: Client,
                                                   clock: ManualClock) -> None:
    q = await clocked_client.create_queue("order.fifo", visibility_timeout_s=30)
    for i in range(5):
        await q.send(f"a{i}", group_id="A", deduplication_id=f"a{i}")
    for i in range(2):
        await q.send(f"b{i}", group_id="B", deduplication_id=f"b{i}")
    first = await q.receive(3, attribute_names=["All"])
    assert [m.body for m in first] == ["a0", "a1", "a2"]  # one group, in order
    seqs = [int(m.sequence_number or 0) for m in first]
    assert seqs == sorted(seqs) and all(m.group_id == "A" for m in first)
    assert [m.body for m in await q.receive(10)] == ["b0", "b1"]  # A is blocked
    await q.send("a5", group_id="A", deduplication_id="a5")  # sending does not unblock
    assert await q.receive(10) == []
    await first[0].delete()
    assert await q.receive(10) == []  # a1, a2 still in flight
    clock.advance(31)
    again = await q.receive(10)
    # b0, b1 and a1, a2 came back; each group starts again at its oldest message
    by_group: dict[str, list[str]] = {}
    for m in again:
        by_group.setdefault(m.group_id or "", []).append(m.body)
    assert by_group == {"A": ["a1", "a2", "a3", "a4", "a5"], "B": ["b0", "b1"]}
    assert {m.body: m.receive_count for m in again}["a1"] == 2


async def test_messages_before_the_first_in_flight_one_are_returned(
        client: Client) -> None:
    q = await client.create_queue("prefix.fifo")
    for i in range(3):
        await q.send(f"m{i}", group_id="g", deduplication_id=str(i))
    got = await q.receive(3)
    await got[0].change_visibility(0)  # m0 visible again, m1 and m2 still in flight
    again = await q.receive(10)
    assert [m.body for m in again] == ["m0"]


async def test_queue_delay_holds_messages(clocked_client: Client, clock: ManualClock) -> None:
    q = await clocked_client.create_queue("delayed.fifo", delay_s=10)
    await q.send("later", group_id="g", deduplication_id="1")
    assert await q.receive() == []
    assert (await q.attributes())["ApproximateNumberOfMessagesDelayed"] == "1"
    clock.advance(10)
    assert [m.body for m in await q.receive()] == ["later"]


async def test_receive_request_attempt_id(clocked_client: Client, clock: ManualClock) -> None:
    q = await clocked_client.create_queue("attempt.fifo", visibility_timeout_s=30)
    for i in range(4):
        await q.send(f"m{i}", group_id=f"g{i % 2}", deduplication_id=str(i))
    first = await q.receive(10, attempt_id="try-1")
    assert len(first) == 4
    clock.advance(20)
    retry = await q.receive(10, attempt_id="try-1")
    assert [m.receipt_handle for m in retry] == [m.receipt_handle for m in first]
    clock.advance(20)  # 40 s after the first receive: the retry reset the visibility
    assert await q.receive(10) == []
    await retry[0].delete()
    changed = await q.receive(10, attempt_id="try-1")  # a message changed: a new receive
    assert changed == []
    with pytest.raises(errors.InvalidParameterValue, match="ReceiveRequestAttemptId"):
        await q.receive(attempt_id="bad id")


async def test_delete_with_expired_handle_fails(clocked_client: Client,
                                                clock: ManualClock) -> None:
    q = await clocked_client.create_queue("expire.fifo", visibility_timeout_s=5)
    await q.send("x", group_id="g", deduplication_id="1")
    [m] = await q.receive()
    clock.advance(6)
    with pytest.raises(errors.InvalidParameterValue, match="receipt handle has expired"):
        await m.delete()
    res = await q.delete_batch([m.receipt_handle])
    assert [f.code for f in res.failed] == ["InvalidParameterValue"]
    [again] = await q.receive()
    await again.delete()
    await again.delete()  # deleting twice with the current handle is fine
    assert await q.receive() == []


async def test_fifo_dead_letter_queue(clocked_client: Client, clock: ManualClock) -> None:
    std = await clocked_client.create_queue("std-dlq")
    with pytest.raises(errors.InvalidParameterValue, match="same type"):
        await clocked_client.create_queue("src.fifo", dead_letter_queue=(std, 1))
    dlq = await clocked_client.create_queue("dead.fifo")
    src = await clocked_client.create_queue("src.fifo", visibility_timeout_s=5,
                                            dead_letter_queue=(dlq, 1))
    sent = await src.send("poison", group_id="g", deduplication_id="p")
    await src.send("next", group_id="g", deduplication_id="n")
    [m] = await src.receive(1, attribute_names=["All"])
    assert m.body == "poison"
    clock.advance(6)
    got = await src.receive(10)
    # poison moved; its group gives nothing more in that call
    assert got == []
    [nxt] = await src.receive(10)
    assert nxt.body == "next"
    [dead] = await dlq.receive(attribute_names=["All"])
    assert dead.id == sent.message_id and dead.group_id == "g"
    assert dead.attributes["DeadLetterQueueSourceArn"] == src.arn
    # the enqueue timestamp restarts with the move
    assert int(dead.attributes["SentTimestamp"]) >= int(m.attributes["SentTimestamp"]) + 6000


async def test_purge_and_retention_free_groups(clocked_client: Client,
                                               clock: ManualClock) -> None:
    q = await clocked_client.create_queue("purge.fifo", retention_s=60)
    await q.send("a", group_id="g", deduplication_id="1")
    await q.receive()
    await q.purge()
    await q.send("b", group_id="g", deduplication_id="2")
    assert [m.body for m in await q.receive()] == ["b"]  # the group is not blocked
    await q.send("c", group_id="h", deduplication_id="3")
    clock.advance(61)
    await q.send("d", group_id="h", deduplication_id="4")
    assert [m.body for m in await q.receive(10)] == ["d"]  # b and c expired


async def test_groups_are_served_round_robin(client: Client) -> None:
    q = await client.create_queue("fair.fifo", content_based_deduplication=True)
    await q.send_batch([message(f"hot {i}", group_id="hot") for i in range(10)])
    await q.send_batch([message(f"hot {i}", group_id="hot") for i in range(10, 20)])
    await q.send("quiet", group_id="quiet")
    seen: list[str] = []
    for _ in range(3):
        got = await q.receive(10)
        seen += [m.body for m in got]
        await q.delete_batch([m.receipt_handle for m in got])
    assert "quiet" in seen[:11]  # served before the hot group's second batch


async def test_long_poll_wakes_on_fifo_send(client: Client) -> None:
    q = await client.create_queue("poll.fifo", content_based_deduplication=True)

    async def send_later() -> None:
        await asyncio.sleep(0.2)
        await q.send("wake", group_id="g")

    task = asyncio.create_task(send_later())
    got = await q.receive(wait_time_s=10)
    await task
    assert [m.body for m in got] == ["wake"]
