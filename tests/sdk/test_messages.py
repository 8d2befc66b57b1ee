"""SendMessage(Batch), ReceiveMessage, DeleteMessage(Batch), ChangeMessageVisibility(Batch)."""

from __future__ import annotations

import hashlib
import time
import uuid

import msgpack
import pytest

from broker import Client, ManualClock, errors, message
from broker.engine import Engine
from broker.engine.md5 import md5_of_message_attributes
from broker.types import QueueRef


async def test_send_receive_delete(client: Client) -> None:
    q = await client.create_queue("basic")
    sent = await q.send("hello")
    assert sent.md5_of_body == hashlib.md5(b"hello").hexdigest()
    [m] = await q.receive()
    assert (m.id, m.body, m.receive_count) == (sent.message_id, "hello", 1)
    assert m.md5_of_body == sent.md5_of_body
    assert m.attributes["SenderId"] == "000000000000"
    assert int(m.attributes["SentTimestamp"]) <= int(
        m.attributes["ApproximateFirstReceiveTimestamp"])
    assert await q.receive() == []
    await m.delete()
    await m.delete()  # deleting again succeeds, as SQS does
    attrs = await q.attributes()
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


async def test_bytes_and_json_bodies(client: Client) -> None:
    q = await client.create_queue("bodies")
    await q.send("π≈3.14".encode())
    await q.send_json({"order": 7})
    got = await q.receive(10)
    assert sorted(m.body for m in got) == ['{"order":7}', "π≈3.14"]
    assert [m.json() for m in got if m.body.startswith("{")] == [{"order": 7}]
    with pytest.raises(errors.InvalidMessageContents):
        await q.send(b"\xff\xfe")


async def test_message_attributes_and_md5(client: Client) -> None:
    q = await client.create_queue("attrs")
    attrs = {"s": "text", "n": 42, "b": b"\x00\x01", "custom": {
        "DataType": "Number.int", "StringValue": "7"}}
    sent = await q.send("x", attributes=attrs)
    [m] = await q.receive()
    assert m.message_attributes["s"] == {"DataType": "String", "StringValue": "text"}
    assert m.message_attributes["n"] == {"DataType": "Number", "StringValue": "42"}
    assert m.message_attributes["b"] == {"DataType": "Binary", "BinaryValue": b"\x00\x01"}
    assert m.raw.md5_of_message_attributes == sent.md5_of_message_attributes
    assert sent.md5_of_message_attributes == md5_of_message_attributes(m.message_attributes)


async def test_attribute_selection(client: Client) -> None:
    q = await client.create_queue("select")
    await q.send("x", attributes={"app.a": "1", "app.b": "2", "other": "3"},
                 trace_header="Root=1-5759e988-bd862e3fe1be46a994272793")
    [m] = await q.receive(visibility_timeout_s=0, attribute_names=["SentTimestamp"],
                          message_attribute_names=["app.*"])
    assert set(m.attributes) == {"SentTimestamp"}
    assert set(m.message_attributes) == {"app.a", "app.b"}
    [m] = await q.receive(visibility_timeout_s=0, attribute_names=[],
                          message_attribute_names=["other"])
    assert m.attributes == {} and set(m.message_attributes) == {"other"}
    [m] = await q.receive(message_attribute_names=[])
    assert m.message_attributes == {} and m.raw.md5_of_message_attributes is None
    assert m.attributes["AWSTraceHeader"].startswith("Root=1-")


async def test_send_validation_leaves_queue_untouched(client: Client) -> None:
    q = await client.create_queue("strict", max_message_size=1024)
    with pytest.raises(errors.InvalidParameterValue, match="shorter than 1024"):
        await q.send("x" * 1025)
    with pytest.raises(errors.InvalidParameterValue):
        await q.send("x" * 1000, attributes={"big": "y" * 100})
    with pytest.raises(errors.InvalidMessageContents):
        await q.send("bad \x00 char")
    with pytest.raises(errors.InvalidParameterValue):
        await q.send("x", delay_s=901)
    with pytest.raises(errors.InvalidParameterValue):
        await q.send("x", attributes={f"a{i}": "v" for i in range(11)})
    with pytest.raises(errors.InvalidParameterValue):
        await q.send("x", attributes={"AWS.reserved": "v"})
    assert (await q.attributes())["ApproximateNumberOfMessages"] == "0"


async def test_send_batch_partial_failure(client: Client) -> None:
    q = await client.create_queue("batch", max_message_size=1024)
    res = await q.send_batch([message("ok", id="a"), message("x" * 2000, id="big"),
                              message("bad \x01", id="bad"), message("ok2", id="b")])
    assert set(res.successful) == {"a", "b"}
    failed = {f.id: f.code for f in res.failed}
    assert failed == {"big": "InvalidParameterValue", "bad": "InvalidMessageContents"}
    assert len(await q.receive(10)) == 2


async def test_batch_request_errors(client: Client) -> None:
    q = await client.create_queue("batcherr")
    with pytest.raises(errors.EmptyBatchRequest):
        await q.send_batch([])
    with pytest.raises(errors.TooManyEntriesInBatchRequest):
        await q.send_batch([str(i) for i in range(11)])
    with pytest.raises(errors.BatchEntryIdsNotDistinct):
        await q.send_batch([message("a", id="x"), message("b", id="x")])
    with pytest.raises(errors.InvalidBatchEntryId):
        await q.send_batch([message("a", id="bad id!")])
    with pytest.raises(errors.BatchRequestTooLong):
        await q.send_batch(["x" * 300_000] * 4)
    assert (await q.attributes())["ApproximateNumberOfMessages"] == "0"


async def test_receive_parameter_errors(client: Client) -> None:
    q = await client.create_queue("recverr")
    for kwargs in [{"max_messages": 0}, {"max_messages": 11}, {"wait_time_s": 21},
                   {"wait_time_s": -1}, {"visibility_timeout_s": 43201}]:
        with pytest.raises(errors.InvalidParameterValue):
            await q.receive(**kwargs)  # type: ignore[arg-type]


async def test_receive_up_to_ten(client: Client) -> None:
    q = await client.create_queue("ten")
    for start in range(0, 25, 10):
        await q.send_batch([f"m{i}" for i in range(start, min(start + 10, 25))])
    seen: list[str] = []
    while batch := await q.receive(10):
        assert len(batch) <= 10
        seen += [m.body for m in batch]
        await q.delete_batch([m.receipt_handle for m in batch])
    assert sorted(seen) == sorted(f"m{i}" for i in range(25))


async def test_visibility_timeout_redelivers(clocked_client: Client, clock: ManualClock
                                             ) -> None:
    q = await clocked_client.create_queue("vt", visibility_timeout_s=30)
    await q.send("job")
    [first] = await q.receive()
    clock.advance(29)
    assert await q.receive() == []
    clock.advance(2)
    [second] = await q.receive(visibility_timeout_s=5)
    assert second.receive_count == 2 and second.receipt_handle != first.receipt_handle
    assert second.attributes["ApproximateFirstReceiveTimestamp"] == \
        first.attributes["ApproximateFirstReceiveTimestamp"]
    await first.delete()  # stale handle: succeeds, deletes nothing
    clock.advance(6)
    [third] = await q.receive()
    assert third.receive_count == 3
    await third.delete()
    assert await q.receive() == []


async def test_change_visibility(clocked_client: Client, clock: ManualClock) -> None:
    q = await clocked_client.create_queue("cv", visibility_timeout_s=10)
    await q.send("job")
    [m] = await q.receive()
    await m.change_visibility(100)
    clock.advance(50)
    assert await q.receive() == []
    await m.change_visibility(0)  # visible at once
    [again] = await q.receive(visibility_timeout_s=7200)
    with pytest.raises(errors.InvalidParameterValue, match="does not exist or is not"):
        await m.change_visibility(10)  # stale: the message was received again
    with pytest.raises(errors.InvalidParameterValue, match="43200"):
        await again.change_visibility(43201)
    clock.advance(3600)
    await again.change_visibility(43200 - 3600)  # exactly 12 h since the receive
    with pytest.raises(errors.InvalidParameterValue, match="beyond the limit"):
        await again.change_visibility(43200 - 3600 + 1)
    await again.delete()
    with pytest.raises(errors.InvalidParameterValue):
        await again.change_visibility(5)  # deleted


async def test_change_visibility_after_expiry_is_a_no_op(clocked_client: Client,
                                                         clock: ManualClock) -> None:
    q = await clocked_client.create_queue("cvexp", visibility_timeout_s=10)
    await q.send("job")
    [m] = await q.receive()
    clock.advance(11)
    await m.change_visibility(100)  # expired, not received since: 200, no effect
    [again] = await q.receive()
    assert again.receive_count == 2


async def test_handles_from_elsewhere_are_invalid(client: Client) -> None:
    a = await client.create_queue("qa")
    b = await client.create_queue("qb")
    await a.send("x")
    [m] = await a.receive()
    with pytest.raises(errors.ReceiptHandleIsInvalid, match="not a valid receipt handle"):
        await b.delete(m.receipt_handle)
    for garbage in ["", "garbage", "!!!", "MQ=="]:
        with pytest.raises(errors.ReceiptHandleIsInvalid):
            await a.delete(garbage)
    res = await a.delete_batch([m.receipt_handle, "garbage"])
    assert res.successful == ["0"]
    assert [f.code for f in res.failed] == ["ReceiptHandleIsInvalid"]


async def test_change_visibility_batch(client: Client) -> None:
    q = await client.create_queue("cvb")
    await q.send_batch(["a", "b"])
    msgs = await q.receive(10)
    res = await q.change_visibility_batch(
        [(msgs[0].receipt_handle, 0), (msgs[1].receipt_handle, 50000), ("junk", 1)])
    assert res.successful == ["0"]
    assert sorted(f.code for f in res.failed) == ["InvalidParameterValue",
                                                  "ReceiptHandleIsInvalid"]
    [again] = await q.receive()
    assert again.body == msgs[0].body


async def test_delay(clocked_client: Client, clock: ManualClock) -> None:
    q = await clocked_client.create_queue("delayed", delay_s=5)
    await q.send("queue delay")
    await q.send("own delay", delay_s=0)
    await q.send("longer", delay_s=20)
    assert [m.body for m in await q.receive(10)] == ["own delay"]
    assert (await q.attributes())["ApproximateNumberOfMessagesDelayed"] == "2"
    clock.advance(5)
    assert [m.body for m in await q.receive(10)] == ["queue delay"]
    clock.advance(15)
    assert [m.body for m in await q.receive(10)] == ["longer"]


async def test_retention_drops_and_reclaims(clocked_client: Client, clock: ManualClock,
                                            redis_url: str) -> None:
    q = await clocked_client.create_queue("retained", retention_s=60)
    await q.send_batch([f"m{i}" for i in range(10)])
    clock.advance(30)
    await q.send("young")
    clock.advance(31)
    got = await q.receive(10)
    assert [m.body for m in got] == ["young"]
    attrs = await q.attributes()
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"
    # lowering retention expires what is already stored
    await q.send("older")
    await q.set_attributes(retention_s=60)
    clock.advance(61)
    await q.send("new")
    assert [m.body for m in await q.receive(10)] == ["new"]


async def test_in_flight_limit(redis_url: str) -> None:
    from broker import Limits

    async with Client(redis_url, limits=Limits(max_inflight_messages=3)) as c:
        q = await c.create_queue("limited")
        await q.send_batch([str(i) for i in range(5)])
        assert len(await q.receive(3)) == 3
        with pytest.raises(errors.OverLimit):
            await q.receive()


async def test_single_consumer_sees_send_order(client: Client) -> None:
    """Standard queues promise no order, but like SQS they come close: messages sent in
    the same millisecond still come back in send order (fixed-width message numbers)."""
    q = await client.create_queue("ordered")
    for start in range(0, 30, 10):
        await q.send_batch([f"m{i:02d}" for i in range(start, start + 10)])
    seen = []
    while batch := await q.receive(10):
        seen += [m.body for m in batch]
    assert seen == [f"m{i:02d}" for i in range(30)]


async def test_records_written_by_an_older_version(engine: Engine) -> None:
    """Records from before the raw id and stored body MD5 (36-character id, 8 fields) are
    received and deleted as before, also when a field is packed in a layout delete.lua
    does not read directly (sent_ms as a float: it falls back to unpacking)."""
    from broker.engine.keys import QueueKeys
    from broker.engine.records import pack_extra

    queue = QueueRef("000000000000", "old-records")
    await engine.admin.create_queue(queue, {}, {})
    keys = QueueKeys(queue.account, queue.name)
    ids = [str(uuid.uuid4()) for _ in range(2)]
    now_ms = int(time.time() * 1000)
    for seq, (mid, sent) in enumerate(zip(ids, (now_ms, now_ms + 0.5), strict=True), 1):
        record = msgpack.packb([mid, f"old {seq}", sent, 0, 0, pack_extra({}, "1", None),
                                0, ""], use_bin_type=False)
        await engine.redis.hset(keys.msgs, f"{seq:012d}", record)
        await engine.redis.zadd(keys.avail, {f"{seq:012d}": 0})
    await engine.redis.hset(keys.meta, "seq", 2)
    got = await engine.queues.receive(queue, max_messages=10)
    assert sorted((m.message_id, m.body) for m in got) == sorted(
        zip(ids, ["old 1", "old 2"], strict=True))
    for m in got:
        assert m.md5_of_body == hashlib.md5(m.body.encode()).hexdigest()
    res = await engine.queues.delete_batch(
        queue, [(str(i), m.receipt_handle) for i, m in enumerate(got)])
    assert len(res.successful) == 2
    assert await engine.redis.hlen(keys.msgs) == 0
    assert await engine.redis.zcard(keys.inflight) == 0
