"""CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, attributes, tags, purge."""

from __future__ import annotations

import asyncio
import json

import pytest

from broker import Client, ManualClock, errors
from broker.engine import Engine


async def test_create_is_idempotent_with_identical_attributes(client: Client) -> None:
    q1 = await client.create_queue("orders", visibility_timeout_s=10)
    q2 = await client.create_queue("orders", visibility_timeout_s=10)
    assert q1.url == q2.url
    assert q1.url.endswith("/000000000000/orders")
    assert (await q1.attributes())["VisibilityTimeout"] == "10"


async def test_create_with_different_attributes_is_refused(client: Client) -> None:
    await client.create_queue("orders", visibility_timeout_s=10)
    with pytest.raises(errors.QueueNameExists) as exc:
        await client.create_queue("orders", visibility_timeout_s=20)
    assert exc.value.wire_code() == "QueueAlreadyExists"
    assert (await client.queue("orders").attributes())["VisibilityTimeout"] == "10"


@pytest.mark.parametrize(
    "name", ["", "a" * 81, "has space", "dot.name", "ünï", ".fifo", "a b.fifo"])
async def test_invalid_queue_names(client: Client, name: str) -> None:
    with pytest.raises(errors.InvalidParameterValue):
        await client.create_queue(name)
    assert await client.list_queues() == []


async def test_get_queue_and_missing_queue(client: Client) -> None:
    await client.create_queue("present")
    assert (await client.get_queue("present")).name == "present"
    with pytest.raises(errors.QueueDoesNotExist) as exc:
        await client.get_queue("absent")
    assert exc.value.wire_code() == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(errors.QueueDoesNotExist):
        await client.queue("absent").send("x")
    with pytest.raises(errors.QueueDoesNotExist):
        await client.queue("absent").receive()


async def test_list_queues_prefix_and_pagination(client: Client) -> None:
    for name in ["b-1", "a-1", "a-2", "a-3", "c"]:
        await client.create_queue(name)
    assert [q.name for q in await client.list_queues()] == ["a-1", "a-2", "a-3", "b-1", "c"]
    assert [q.name for q in await client.list_queues("a-")] == ["a-1", "a-2", "a-3"]
    refs, token = await client.transport.list_queues("a-", 2, None)
    assert [r.name for r in refs] == ["a-1", "a-2"] and token
    refs, token = await client.transport.list_queues("a-", 2, token)
    assert [r.name for r in refs] == ["a-3"] and token is None
    with pytest.raises(errors.InvalidParameterValue):
        await client.transport.list_queues("", 1001, None)


async def test_delete_queue_then_recreate_after_cooldown(client: Client) -> None:
    q = await client.create_queue("gone")
    await q.send("x")
    await q.delete_queue()
    with pytest.raises(errors.QueueDoesNotExist):
        await q.attributes()
    with pytest.raises(errors.QueueDeletedRecently):
        await client.create_queue("gone")
    await asyncio.sleep(0.6)  # TEST_LIMITS: 500 ms cool-down instead of AWS's 60 s
    q = await client.create_queue("gone")
    assert (await q.attributes())["ApproximateNumberOfMessages"] == "0"
    with pytest.raises(errors.QueueDoesNotExist):
        await client.queue("never").delete_queue()


async def test_default_attributes(client: Client) -> None:
    q = await client.create_queue("defaults")
    attrs = await q.attributes()
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["DelaySeconds"] == "0"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "0"
    assert attrs["MaximumMessageSize"] == "1048576"
    assert attrs["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:defaults"
    assert int(attrs["CreatedTimestamp"]) > 1_600_000_000
    assert attrs["ApproximateNumberOfMessages"] == "0"
    only = await q.attributes(["VisibilityTimeout", "QueueArn"])
    assert set(only) == {"VisibilityTimeout", "QueueArn"}


async def test_set_attributes_and_errors(client: Client) -> None:
    q = await client.create_queue("settable")
    await q.set_attributes(visibility_timeout_s=45, retention_s=60)
    attrs = await q.attributes()
    assert (attrs["VisibilityTimeout"], attrs["MessageRetentionPeriod"]) == ("45", "60")
    for bad in [{"VisibilityTimeout": "43201"}, {"VisibilityTimeout": "-1"},
                {"MessageRetentionPeriod": "59"}, {"DelaySeconds": "901"},
                {"ReceiveMessageWaitTimeSeconds": "21"}, {"MaximumMessageSize": "1023"},
                {"VisibilityTimeout": "ten"}]:
        with pytest.raises(errors.InvalidAttributeValue):
            await q.set_attributes(bad)
    with pytest.raises(errors.InvalidAttributeName):
        await q.set_attributes({"NoSuchThing": "1"})
    with pytest.raises(errors.InvalidAttributeName):
        await q.set_attributes({"ApproximateNumberOfMessages": "1"})
    with pytest.raises(errors.InvalidAttributeName):
        await q.attributes(["Bogus"])
    assert (await q.attributes())["VisibilityTimeout"] == "45"


async def test_counts(client: Client) -> None:
    q = await client.create_queue("counts")
    await q.send("visible")
    await q.send("delayed", delay_s=60)
    await q.send("soon in flight")
    await q.receive(visibility_timeout_s=60)
    attrs = await q.attributes()
    assert attrs["ApproximateNumberOfMessages"] == "1"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1"


async def test_purge_once_per_minute(client: Client) -> None:
    q = await client.create_queue("purged")
    await q.send_batch(["a", "b", "c"])
    await q.receive()
    await q.purge()
    attrs = await q.attributes()
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    with pytest.raises(errors.PurgeQueueInProgress) as exc:
        await q.purge()
    assert exc.value.http_status == 403
    await q.send("after purge")
    assert [m.body for m in await q.receive()] == ["after purge"]


async def test_tags(client: Client) -> None:
    q = await client.create_queue("tagged", tags={"team": "core"})
    await q.tag({"env": "dev"})
    assert await q.tags() == {"team": "core", "env": "dev"}
    await q.untag(["team", "missing"])
    assert await q.tags() == {"env": "dev"}
    with pytest.raises(errors.InvalidParameterValue):
        await q.tag({f"k{i}": "v" for i in range(50)})
    assert await q.tags() == {"env": "dev"}
    with pytest.raises(errors.QueueDoesNotExist):
        await client.queue("nope").tags()


async def test_redrive_policy_validation(client: Client) -> None:
    dlq = await client.create_queue("dlq")
    src = await client.create_queue("src", dead_letter_queue=(dlq, 3))
    policy = json.loads((await src.attributes())["RedrivePolicy"])
    assert policy == {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 3}
    assert await dlq.dead_letter_sources() == ["src"]
    with pytest.raises(errors.InvalidParameterValue):
        await client.create_queue("src2", dead_letter_queue=(
            "arn:aws:sqs:us-east-1:000000000000:missing", 3))
    with pytest.raises(errors.InvalidParameterValue, match="maxReceiveCount"):
        await client.create_queue("src3", dead_letter_queue=(dlq, 0))
    closed = await client.create_queue("closed", attributes={
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})
    with pytest.raises(errors.InvalidParameterValue):
        await client.create_queue("src4", dead_letter_queue=(closed, 3))
    picky = await client.create_queue("picky", attributes={
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue",
                                          "sourceQueueArns": [src.arn]})})
    await src.set_attributes(dead_letter_queue=(picky, 2))
    assert await picky.dead_letter_sources() == ["src"]
    assert await dlq.dead_letter_sources() == []


async def test_queue_metrics(clocked_client: Client, clock: ManualClock, redis_url: str
                             ) -> None:
    dlq = await clocked_client.create_queue("m-dlq")
    q = await clocked_client.create_queue("m-src", dead_letter_queue=(dlq, 3))
    await q.send("old")
    clock.advance(42)
    await q.send_batch(["a", "b"])
    await q.send("later", delay_s=30)
    await q.receive()
    async with Engine.from_url(redis_url, clock=clock) as engine:  # works for both transports
        m = await engine.admin.queue_metrics(q.ref.account, q.name)
        assert (m.visible, m.in_flight, m.delayed) == (2, 1, 1)
        assert m.oldest_age_s == 42.0
        assert (await engine.admin.queue_metrics(dlq.ref.account, dlq.name)
                ).dead_letter_sources == 1
