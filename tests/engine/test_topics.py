"""Topics in the engine (standalone and cluster, where a topic and its queues live in
different hash slots): management, fan-out to queues, filter policies, raw delivery,
FIFO topics, and recovery of a fan-out its publisher abandoned."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack
import pytest

from broker import ManualClock, errors, verify_sns_message
from broker.engine import Engine
from broker.engine.keys import AccountKeys, QueueKeys, TopicKeys
from broker.engine.queues import SendEntry
from broker.engine.topic_admin import TopicRef
from broker.engine.topics import PublishEntry
from broker.types import QueueRef

ACCOUNT = "000000000000"


async def _queue(engine: Engine, name: str, **attributes: str) -> tuple[QueueRef, str]:
    ref = QueueRef(ACCOUNT, name)
    if name.endswith(".fifo"):
        attributes["FifoQueue"] = "true"
    await engine.admin.create_queue(ref, attributes)
    return ref, engine.identity.queue_arn(ACCOUNT, name)


async def _drain(engine: Engine, queue: QueueRef) -> list[Any]:
    out = []
    while got := await engine.queues.receive(queue, max_messages=10,
                                             attribute_names=["All"],
                                             message_attribute_names=["All"]):
        out += got
        for m in got:
            await engine.queues.delete(queue, m.receipt_handle)
    return out


async def test_topic_management(engine: Engine) -> None:
    admin = engine.topic_admin
    t = TopicRef(ACCOUNT, "events")
    arn = await admin.create_topic(t, {"DisplayName": "Events"}, {"team": "core"})
    assert arn == f"arn:aws:sns:us-east-1:{ACCOUNT}:events"
    assert await admin.create_topic(t, {"DisplayName": "Events"}) == arn  # idempotent
    with pytest.raises(errors.InvalidParameter, match="different attributes"):
        await admin.create_topic(t, {"DisplayName": "Other"})
    attrs = await admin.get_attributes(t)
    assert attrs["DisplayName"] == "Events" and attrs["TopicArn"] == arn
    assert attrs["SubscriptionsConfirmed"] == "0" and json.loads(attrs["Policy"])
    await admin.set_attribute(t, "DisplayName", "Renamed")
    assert (await admin.get_attributes(t))["DisplayName"] == "Renamed"
    with pytest.raises(errors.InvalidParameter, match="AttributeName"):
        await admin.set_attribute(t, "Nope", "x")
    assert await admin.list_tags(t) == {"team": "core"}
    topics, token = await admin.list_topics(ACCOUNT)
    assert [x.name for x in topics] == ["events"] and token is None
    for bad, fifo in (("has space", False), ("x" * 257, False), ("a.fifo", False)):
        with pytest.raises(errors.InvalidParameter):
            await admin.create_topic(TopicRef(ACCOUNT, bad),
                                     {"FifoTopic": "true"} if fifo else None)
    with pytest.raises(errors.InvalidParameter, match="Fifo Topic names"):
        await admin.create_topic(TopicRef(ACCOUNT, "plain"), {"FifoTopic": "true"})
    with pytest.raises(errors.InvalidParameter, match="only valid for FIFO"):
        await admin.create_topic(TopicRef(ACCOUNT, "x"), {"ContentBasedDeduplication": "true"})
    await admin.delete_topic(t)
    await admin.delete_topic(t)  # a no-op, as in SNS
    with pytest.raises(errors.NotFound):
        await admin.get_attributes(t)
    with pytest.raises(errors.NotFound):
        await engine.topics.publish(t, PublishEntry("x"))


async def test_subscriptions(engine: Engine) -> None:
    admin = engine.topic_admin
    t = TopicRef(ACCOUNT, "subs")
    await admin.create_topic(t)
    _, q_arn = await _queue(engine, "subs-q")
    sub = await admin.subscribe(t, "sqs", q_arn, {"RawMessageDelivery": "true"})
    assert sub.status == "confirmed"
    again = await admin.subscribe(t, "sqs", q_arn, {"RawMessageDelivery": "true"})
    assert again.id == sub.id
    with pytest.raises(errors.InvalidParameter, match="different attributes"):
        await admin.subscribe(t, "sqs", q_arn)
    with pytest.raises(errors.InvalidParameter, match="does not support this protocol"):
        await admin.subscribe(t, "carrier-pigeon", "x")
    with pytest.raises(errors.InvalidParameter, match="SQS endpoint ARN"):
        await admin.subscribe(t, "sqs", "not-an-arn")
    with pytest.raises(errors.InvalidParameter, match="FIFO SQS Queues"):
        await admin.subscribe(t, "sqs", q_arn + ".fifo")
    with pytest.raises(errors.InvalidParameter,
                       match="Attributes Reason: FilterPolicy: Unrecognized match type"):
        await admin.subscribe(t, "sqs", q_arn + "-2",
                              {"FilterPolicy": '{"k":[{"nope":1}]}'})
    await admin.set_subscription_attribute(t, sub.id, "FilterPolicy", '{"k":["v"]}')
    with pytest.raises(errors.InvalidParameter, match=": Invalid parameter: FilterPolicy: "):
        await admin.set_subscription_attribute(t, sub.id, "FilterPolicy", '{"k":"v"}')
    with pytest.raises(errors.InvalidParameter, match="FilterPolicyScope: Invalid value"):
        await admin.set_subscription_attribute(t, sub.id, "FilterPolicyScope", "Random")
    assert (await admin.get_subscription(t, sub.id)).attributes["FilterPolicy"] == \
        '{"k":["v"]}'
    subs, _ = await admin.list_subscriptions(ACCOUNT)
    assert [s.id for s in subs] == [sub.id]
    await admin.unsubscribe(t, sub.id)
    with pytest.raises(errors.NotFound):
        await admin.unsubscribe(t, sub.id)
    assert (await admin.list_subscriptions(ACCOUNT))[0] == []


async def test_fan_out_with_filters_and_raw_delivery(engine: Engine) -> None:
    admin = engine.topic_admin
    t = TopicRef(ACCOUNT, "orders")
    topic_arn = await admin.create_topic(t)
    all_q, all_arn = await _queue(engine, "all-orders")
    big_q, big_arn = await _queue(engine, "big-orders")
    body_q, body_arn = await _queue(engine, "eu-orders")
    await admin.subscribe(t, "sqs", all_arn)
    await admin.subscribe(t, "sqs", big_arn, {
        "RawMessageDelivery": "true",
        "FilterPolicy": '{"amount":[{"numeric":[">=",100]}]}'})
    await admin.subscribe(t, "sqs", body_arn, {
        "RawMessageDelivery": "true", "FilterPolicyScope": "MessageBody",
        "FilterPolicy": '{"region":["eu"]}'})
    small = await engine.topics.publish(t, PublishEntry(
        '{"region":"us"}', subject="new order",
        message_attributes={"amount": {"DataType": "Number", "StringValue": "5"}}))
    big = await engine.topics.publish(t, PublishEntry(
        '{"region":"eu"}',
        message_attributes={"amount": {"DataType": "Number", "StringValue": "250"},
                            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}))
    envelopes = [json.loads(m.body) for m in await _drain(engine, all_q)]
    assert sorted(e["MessageId"] for e in envelopes) == sorted([small.message_id,
                                                                 big.message_id])
    first = next(e for e in envelopes if e["MessageId"] == small.message_id)
    assert first["Type"] == "Notification" and first["TopicArn"] == topic_arn
    assert first["Subject"] == "new order" and first["Message"] == '{"region":"us"}'
    assert first["MessageAttributes"]["amount"] == {"Type": "Number", "Value": "5"}
    assert first["Timestamp"].endswith("Z") and "UnsubscribeURL" in first
    second = next(e for e in envelopes if e["MessageId"] == big.message_id)
    assert second["MessageAttributes"]["blob"] == {"Type": "Binary", "Value": "AAE="}
    [raw] = await _drain(engine, big_q)
    assert raw.body == '{"region":"eu"}'
    assert raw.message_attributes["amount"] == {"DataType": "Number", "StringValue": "250"}
    assert [m.body for m in await _drain(engine, body_q)] == ['{"region":"eu"}']


async def test_message_structure_and_validation(engine: Engine) -> None:
    admin = engine.topic_admin
    t = TopicRef(ACCOUNT, "structured")
    await admin.create_topic(t)
    q, q_arn = await _queue(engine, "structured-q")
    await admin.subscribe(t, "sqs", q_arn, {"RawMessageDelivery": "true"})
    await engine.topics.publish(t, PublishEntry(
        json.dumps({"default": "plain", "sqs": "for queues"}), message_structure="json"))
    assert [m.body for m in await _drain(engine, q)] == ["for queues"]
    for entry, match in [
        (PublishEntry(""), "Empty message"),
        (PublishEntry('{"sqs":"x"}', message_structure="json"), "No default entry"),
        (PublishEntry("not json", message_structure="json"), "failed to parse"),
        (PublishEntry("x" * 262_145), "Message too long"),
        (PublishEntry("x", subject="a\nb"), "Subject"),
        (PublishEntry("x", deduplication_id="d"), "MessageDeduplicationId"),
    ]:
        with pytest.raises(errors.InvalidParameter, match=match):
            await engine.topics.publish(t, entry)
    with pytest.raises(errors.ParameterValueInvalid, match="number"):
        await engine.topics.publish(t, PublishEntry("x", message_attributes={
            "n": {"DataType": "Number", "StringValue": "abc"}}))
    res = await engine.topics.publish_batch(t, [PublishEntry("a", id="1"),
                                                PublishEntry("", id="2")])
    assert list(res.successful) == ["1"] and res.failed[0].code == "InvalidParameter"
    with pytest.raises(errors.EmptyBatchRequest):
        await engine.topics.publish_batch(t, [])


async def test_fifo_topic_to_fifo_and_standard_queues(clocked_engine: Engine,
                                                      clock: ManualClock) -> None:
    engine = clocked_engine
    admin = engine.topic_admin
    t = TopicRef(ACCOUNT, "ledger.fifo")
    await admin.create_topic(t, {"FifoTopic": "true", "ContentBasedDeduplication": "true"})
    fq, fq_arn = await _queue(engine, "ledger-copy.fifo")
    sq, sq_arn = await _queue(engine, "ledger-audit")
    await admin.subscribe(t, "sqs", fq_arn, {"RawMessageDelivery": "true"})
    await admin.subscribe(t, "sqs", sq_arn)
    with pytest.raises(errors.InvalidParameter, match="Invalid protocol type"):
        await admin.subscribe(t, "https", "https://example.com/hook")
    with pytest.raises(errors.InvalidParameter, match="MessageGroupId parameter is required"):
        await engine.topics.publish(t, PublishEntry("x"))
    first = await engine.topics.publish(t, PublishEntry("debit 1", group_id="acct-1"))
    dup = await engine.topics.publish(t, PublishEntry("debit 1", group_id="acct-1"))
    assert dup == first and first.sequence_number
    second = await engine.topics.publish(t, PublishEntry("debit 2", group_id="acct-1"))
    assert int(second.sequence_number or 0) > int(first.sequence_number or 0)
    got = await engine.queues.receive(fq, max_messages=10, attribute_names=["All"])
    assert [m.body for m in got] == ["debit 1", "debit 2"]
    assert {m.attributes["MessageGroupId"] for m in got} == {"acct-1"}
    audit = [json.loads(m.body) for m in await _drain(engine, sq)]
    assert sorted(a["Message"] for a in audit) == ["debit 1", "debit 2"]
    assert all("SequenceNumber" in a for a in audit)
    clock.advance(301)
    again = await engine.topics.publish(t, PublishEntry("debit 1", group_id="acct-1"))
    assert again.message_id != first.message_id  # the deduplication window ended


async def test_standard_topic_passes_group_to_fair_queue(engine: Engine) -> None:
    admin = engine.topic_admin
    t = TopicRef(ACCOUNT, "tenants")
    await admin.create_topic(t)
    q, q_arn = await _queue(engine, "tenant-jobs")
    await admin.subscribe(t, "sqs", q_arn, {"RawMessageDelivery": "true"})
    await engine.topics.publish(t, PublishEntry("job", group_id="tenant-9"))
    [m] = await _drain(engine, q)
    assert m.attributes["MessageGroupId"] == "tenant-9"


async def test_abandoned_fan_out_is_finished_exactly_once(clocked_engine: Engine,
                                                          clock: ManualClock) -> None:
    """A publisher that recorded a message but died after delivering it to only one of
    its queues: redeliver() finishes the rest, and the first queue gets no second copy."""
    engine = clocked_engine
    admin = engine.topic_admin
    t = TopicRef(ACCOUNT, "crashy")
    await admin.create_topic(t)
    queues = [await _queue(engine, f"crashy-{i}") for i in range(3)]
    for _, arn in queues:
        await admin.subscribe(t, "sqs", arn)
    subs = sorted(await admin.subscriptions(t), key=lambda s: s.endpoint)
    message_id = "11111111-2222-3333-4444-555555555555"
    record = {"m": "survivor", "s": None, "st": None, "a": {}, "g": None, "d": None,
              "ts": clock.now_ms(), "fifo": False,
              "t": [[s.id, s.endpoint, False, admin.subscription_arn(s)] for s in subs]}
    keys = TopicKeys(t.account, t.name)
    await engine.scripts.call(
        "publish", [keys.meta, keys.outbox, keys.outq, keys.dedup, keys.dedup_exp],
        [str(clock.now_ms()), message_id, msgpack.packb(record), "", 300_000])
    partial = {**record, "t": record["t"][:1]}
    await engine.topics._deliver(t, message_id, partial)  # then the publisher "dies"
    assert await engine.topics.redeliver(t) == 0  # not yet abandoned
    clock.advance(6)
    assert await engine.topics.redeliver(t) == 1
    assert await engine.topics.redeliver(t) == 0
    for q, _ in queues:
        [m] = await _drain(engine, q)
        assert json.loads(m.body)["MessageId"] == message_id


async def test_missing_queue_sends_to_subscription_dlq(engine: Engine) -> None:
    admin = engine.topic_admin
    t = TopicRef(ACCOUNT, "lost")
    await admin.create_topic(t)
    dlq, dlq_arn = await _queue(engine, "lost-dlq")
    gone_arn = engine.identity.queue_arn(ACCOUNT, "never-created")
    await admin.subscribe(t, "sqs", gone_arn,
                          {"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
    sent = await engine.topics.publish(t, PublishEntry("undeliverable"))
    [m] = await _drain(engine, dlq)
    assert json.loads(m.body)["MessageId"] == sent.message_id


async def test_envelopes_are_signed(engine: Engine) -> None:
    admin = engine.topic_admin
    t = TopicRef(ACCOUNT, "signed")
    await admin.create_topic(t, {"SignatureVersion": "2"})
    q, q_arn = await _queue(engine, "signed-q")
    await admin.subscribe(t, "sqs", q_arn)
    await engine.topics.publish(t, PublishEntry("trust me", subject="s"))
    [m] = await _drain(engine, q)
    envelope = json.loads(m.body)
    assert envelope["SignatureVersion"] == "2"
    assert envelope["SigningCertURL"].endswith(f"{engine.topics.signer.cert_id}.pem")
    cert = engine.topics.signer.cert_pem
    assert verify_sns_message(envelope, cert)
    assert not verify_sns_message({**envelope, "Message": "tampered"}, cert)
    assert not verify_sns_message({**envelope, "SignatureVersion": "1"}, cert)
    assert not verify_sns_message({k: v for k, v in envelope.items() if k != "Signature"},
                                  cert)



async def test_store_batch_counts_a_repeated_marker_once(engine: Engine) -> None:
    """dlq_accept (the store step of deliveries and moves) given one marker twice in
    a batch stores the message once, as it would across two calls."""
    src, _ = await _queue(engine, "marker-src")
    dest, _ = await _queue(engine, "marker-dest")
    await engine.queues.send(src, SendEntry(body="once"))
    [record] = (await engine.redis.hgetall(QueueKeys(ACCOUNT, "marker-src").msgs)).values()
    keys = QueueKeys(ACCOUNT, "marker-dest")
    marker = keys.moved_marker("task:1")
    stored = await engine.scripts.call(
        "dlq_accept", [*keys.accept_keys, marker, marker],
        ["", keys.wake_channel, "", 60_000, "1", "", record, record])
    assert stored == [1, 0]
    assert [m.body for m in await _drain(engine, dest)] == ["once"]


async def test_subscription_policies_are_checked_when_set(engine: Engine) -> None:
    """RedrivePolicy (queue kind matches the topic's, no unknown keys), DeliveryPolicy
    (SNS's limits), and a FilterPolicyScope change re-checks the policy it applies to;
    a refused change leaves the subscription as it was."""
    admin = engine.topic_admin
    std, fifo = TopicRef(ACCOUNT, "checks"), TopicRef(ACCOUNT, "checks.fifo")
    await admin.create_topic(std)
    await admin.create_topic(fifo, {"FifoTopic": "true"})
    _, q_arn = await _queue(engine, "checks-q")
    _, fq_arn = await _queue(engine, "checks-q.fifo")
    sub = await admin.subscribe(std, "sqs", q_arn)
    fsub = await admin.subscribe(fifo, "sqs", fq_arn)
    with pytest.raises(errors.InvalidParameter, match="standard queue as DLQ"):
        await admin.set_subscription_attribute(std, sub.id, "RedrivePolicy",
                                               json.dumps({"deadLetterTargetArn": fq_arn}))
    with pytest.raises(errors.InvalidParameter, match="FIFO queue as DLQ"):
        await admin.set_subscription_attribute(fifo, fsub.id, "RedrivePolicy",
                                               json.dumps({"deadLetterTargetArn": q_arn}))
    with pytest.raises(errors.InvalidParameter, match="Attribute maxReceiveCount is unknown"):
        await admin.set_subscription_attribute(
            std, sub.id, "RedrivePolicy",
            json.dumps({"deadLetterTargetArn": q_arn, "maxReceiveCount": 3}))
    await admin.set_subscription_attribute(std, sub.id, "RedrivePolicy",
                                           json.dumps({"deadLetterTargetArn": q_arn}))
    with pytest.raises(errors.InvalidParameter,
                       match="Total policy retry time cannot be greater than 3600"):
        await admin.set_subscription_attribute(std, sub.id, "DeliveryPolicy", json.dumps(
            {"healthyRetryPolicy": {"minDelayTarget": 3000, "maxDelayTarget": 3000,
                                    "numRetries": 2}}))
    with pytest.raises(errors.InvalidParameter, match="DeliveryPolicy: http must be"):
        await admin.set_attribute(std, "DeliveryPolicy", '{"http": 5}')
    nested = '{"order": {"kind": ["book"]}}'
    await admin.set_subscription_attribute(std, sub.id, "FilterPolicyScope", "MessageBody")
    await admin.set_subscription_attribute(std, sub.id, "FilterPolicy", nested)
    with pytest.raises(errors.InvalidParameter, match="does not support nested"):
        await admin.set_subscription_attribute(std, sub.id, "FilterPolicyScope",
                                               "MessageAttributes")
    attrs = (await admin.get_subscription(std, sub.id)).attributes
    assert attrs["FilterPolicyScope"] == "MessageBody" and attrs["FilterPolicy"] == nested
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": q_arn}


async def test_deeply_nested_json_is_refused_or_unmatched(engine: Engine) -> None:
    """JSON nested beyond Python's recursion limit is bad input, not a server error."""
    t = TopicRef(ACCOUNT, "deep")
    await engine.topic_admin.create_topic(t)
    q, q_arn = await _queue(engine, "deep-q")
    await engine.topic_admin.subscribe(
        t, "sqs", q_arn, {"FilterPolicyScope": "MessageBody",
                          "FilterPolicy": '{"k": ["v"]}', "RawMessageDelivery": "true"})
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(errors.InvalidParameter, match="failed to parse"):
        await engine.topics.publish(t, PublishEntry(message='{"default": ' + deep + "}",
                                                    message_structure="json"))
    await engine.topics.publish(t, PublishEntry(message='{"k": ' + deep + "}"))
    await engine.topics.publish(t, PublishEntry(message='{"k": "v"}'))
    assert [m.body for m in await _drain(engine, q)] == ['{"k": "v"}']
    with pytest.raises(errors.InvalidParameter):
        await engine.topic_admin.subscribe(
            t, "sqs", q_arn + "x", {"FilterPolicy": '{"k": ' + deep + "}"})


async def test_deleting_a_topic_forgets_its_http_deliveries(engine: Engine) -> None:
    t = TopicRef(ACCOUNT, "http-gone")
    await engine.topic_admin.create_topic(t)
    await engine.topic_admin.subscribe(t, "http", "http://127.0.0.1:9/hook")
    due = AccountKeys(ACCOUNT).http_due
    assert await engine.redis.zscore(due, "http-gone") is not None  # its confirmation
    await engine.topic_admin.delete_topic(t)
    assert await engine.redis.zscore(due, "http-gone") is None


async def test_fifo_topic_keeps_sequence_order_under_concurrent_publishes(
        engine: Engine) -> None:
    """Concurrent publishes to a FIFO topic are grouped and delivered in batches; its
    FIFO queue still receives each group's messages in sequence-number order."""
    t = TopicRef(ACCOUNT, "orders-many.fifo")
    await engine.topic_admin.create_topic(t, {"FifoTopic": "true",
                                              "ContentBasedDeduplication": "true"})
    fq, fq_arn = await _queue(engine, "orders-many.fifo")
    await engine.topic_admin.subscribe(t, "sqs", fq_arn, {"RawMessageDelivery": "true"})
    results = await asyncio.gather(*(
        engine.topics.publish(t, PublishEntry(f"m{i}", group_id=f"g{i % 2}"))
        for i in range(150)))
    seq = {f"m{i}": int(r.sequence_number or 0) for i, r in enumerate(results)}
    got = [m.body for m in await _drain(engine, fq)]
    assert sorted(got) == sorted(seq)
    for group in ("0", "1"):
        mine = [b for b in got if int(b[1:]) % 2 == int(group)]
        assert mine == sorted(mine, key=seq.__getitem__)
