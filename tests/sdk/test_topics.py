"""Topics through the SDK, in-process and over HTTP (SNS query protocol), standalone and
cluster."""

from __future__ import annotations

import asyncio
import json
from typing import Any

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


async def test_callable_subscriber(client: Client) -> None:
    topic = await client.create_topic("sdk-callable")
    seen: list[dict[str, Any]] = []
    attempts: list[str] = []
    done = asyncio.Event()

    async def handler(envelope: dict[str, Any]) -> None:
        attempts.append(envelope["Message"])
        if envelope["Message"] == "flaky" and attempts.count("flaky") == 1:
            raise RuntimeError("first try fails")
        seen.append(envelope)
        if len(seen) == 2:
            done.set()

    sub = await topic.subscribe_callable(handler, name="audit", visibility_timeout_s=1,
                                         filter_policy={"kind": ["keep"]})
    assert sub.arn.startswith(topic.arn + ":")
    keep = {"kind": "keep"}
    first = await topic.publish("hello", subject="s", attributes=keep)
    await topic.publish("filtered out", attributes={"kind": "drop"})
    await topic.publish("flaky", attributes=keep)
    await asyncio.wait_for(done.wait(), 10)
    assert sorted(e["Message"] for e in seen) == ["flaky", "hello"]
    hello = next(e for e in seen if e["Message"] == "hello")
    assert hello["MessageId"] == first.message_id and hello["Subject"] == "s"
    assert hello["Type"] == "Notification" and hello["TopicArn"] == topic.arn
    assert attempts.count("flaky") == 2 and sub.failed == 1 and sub.handled == 2
    await sub.stop()


async def test_callable_subscriber_sync_handler_and_dead_letters(client: Client) -> None:
    topic = await client.create_topic("sdk-callable-sync")
    calls: list[str] = []

    def handler(envelope: dict[str, Any]) -> None:  # runs in a worker thread
        calls.append(envelope["Message"])
        raise ValueError("always fails")

    sub = await topic.subscribe_callable(handler, name="bad", visibility_timeout_s=0,
                                         max_receive_count=2)
    await topic.publish("poison")
    dlq = client.queue("sdk-callable-sync-bad-dlq")
    for _ in range(100):
        if got := await dlq.receive():
            break
        await asyncio.sleep(0.05)
    assert json.loads(got[0].body)["Message"] == "poison"
    assert calls == ["poison", "poison"]
    await sub.stop()
