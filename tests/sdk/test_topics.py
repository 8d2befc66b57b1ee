"""Topics through the SDK, in-process and over HTTP (SNS query protocol), standalone and
cluster."""

from __future__ import annotations

import json

import pytest

from broker import Client, errors, publication


async def test_topic_fan_out(client: Client) -> None:
    topic = await client.create_topic("sdk-events", tags={"team": "core"})
    assert topic.arn.endswith(":sdk-events")
    everything = await client.create_queue("sdk-everything")
    important = await client.create_queue("sdk-important")
    await topic.subscribe_queue(everything)
    await topic.subscribe_queue(important, raw=True,
                                filter_policy={"level": ["error", "critical"]})
    await topic.publish("disk full", subject="alert", attributes={"level": "critical"})
    await topic.publish_json({"event": "login"}, attributes={"level": "info"})
    res = await topic.publish_batch([publication("b1", attributes={"level": "error"}),
                                     "b2"])
    assert sorted(res.successful) == ["0", "1"] and not res.failed

    envelopes = [json.loads(m.body) for m in await everything.receive(10)]
    assert sorted(e["Message"] for e in envelopes) == sorted(
        ["disk full", '{"event":"login"}', "b1", "b2"])
    assert next(e for e in envelopes if e["Message"] == "disk full")["Subject"] == "alert"
    raw = await important.receive(10)
    assert sorted(m.body for m in raw) == ["b1", "disk full"]
    assert {m.message_attributes["level"]["StringValue"] for m in raw} == {"error",
                                                                           "critical"}
    subs = await topic.subscriptions()
    assert {s["Endpoint"] for s in subs} == {everything.arn, important.arn}
    assert (await topic.attributes())["SubscriptionsConfirmed"] == "2"
    assert "sdk-events" in [t.name for t in await client.list_topics()]
    await topic.unsubscribe(subs[0]["SubscriptionArn"])
    assert len(await topic.subscriptions()) == 1
    await topic.delete()
    with pytest.raises(errors.NotFound):
        await topic.publish("gone")


async def test_fifo_topic(client: Client) -> None:
    topic = await client.create_topic("sdk-ledger.fifo", content_based_deduplication=True)
    queue = await client.create_queue("sdk-ledger.fifo", content_based_deduplication=True)
    await topic.subscribe_queue(queue, raw=True)
    first = await topic.publish("credit", group_id="acct")
    again = await topic.publish("credit", group_id="acct")
    assert again.message_id == first.message_id and first.sequence_number
    await topic.publish("debit", group_id="acct")
    assert [m.body for m in await queue.receive(10)] == ["credit", "debit"]
    with pytest.raises(errors.InvalidParameter, match="MessageGroupId"):
        await topic.publish("no group")


async def test_topic_errors(client: Client) -> None:
    topic = await client.create_topic("sdk-errors")
    with pytest.raises(errors.InvalidParameter, match="FilterPolicy"):
        await topic.subscribe_queue("arn:aws:sqs:us-east-1:000000000000:q",
                                    filter_policy={"a": "not a list"})
    with pytest.raises(errors.InvalidParameter, match="Topic Name"):
        await client.create_topic("bad name")
    with pytest.raises(errors.ParameterValueInvalid):
        await topic.publish("x", attributes={"n": {"DataType": "Number",
                                                   "StringValue": "abc"}})
