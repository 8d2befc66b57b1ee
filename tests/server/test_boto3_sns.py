"""SNS on the wire: boto3's SNS client (query protocol) against the broker server, every
supported action and the errors boto3 users see."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from broker.server.app import BrokerServer
from tests.server.helpers import REGION, seen, unique_name


@pytest.fixture(scope="module")
def sns(sqs_server: BrokerServer) -> Iterator[BaseClient]:
    client = boto3.Session().client(
        "sns", endpoint_url=sqs_server.url, region_name=REGION, aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))
    yield client
    client.close()


def _queue(sqs: BaseClient) -> tuple[str, str]:
    url: str = sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    return url, arn


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    s = seen(exc.value)
    return s.code, s.status


def test_topics(sns: BaseClient) -> None:
    name = unique_name("t")
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "Shown"},
                           Tags=[{"Key": "team", "Value": "core"}])["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:000000000000:{name}"
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Shown"})["TopicArn"] == arn
    listed = [t["TopicArn"] for t in sns.get_paginator("list_topics").paginate()
              .build_full_result()["Topics"]]
    assert arn in listed
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "Shown" and attrs["TopicArn"] == arn
    assert attrs["Owner"] == "000000000000" and json.loads(attrs["EffectiveDeliveryPolicy"])
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="New")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "New"
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "core"}]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "env", "Value": "dev"}]
    fifo = sns.create_topic(Name=unique_name("f") + ".fifo",
                            Attributes={"FifoTopic": "true"})["TopicArn"]
    assert sns.get_topic_attributes(TopicArn=fifo)["Attributes"]["FifoTopic"] == "true"
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)
    with pytest.raises(sns.exceptions.NotFoundException) as exc:
        sns.get_topic_attributes(TopicArn=arn)
    assert _error(exc) == ("NotFound", 404)


def test_subscribe_publish_and_receive(sns: BaseClient, sqs: BaseClient) -> None:
    topic = sns.create_topic(Name=unique_name("t"))["TopicArn"]
    env_url, env_arn = _queue(sqs)
    raw_url, raw_arn = _queue(sqs)
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=env_arn)["SubscriptionArn"]
    raw_sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn,
                            Attributes={"RawMessageDelivery": "true",
                                        "FilterPolicy": '{"kind":["keep"]}'},
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=raw_sub)["Attributes"]
    assert attrs["RawMessageDelivery"] == "true" and attrs["Endpoint"] == raw_arn
    assert attrs["FilterPolicy"] == '{"kind":["keep"]}'
    assert attrs["FilterPolicyScope"] == "MessageAttributes"
    assert attrs["PendingConfirmation"] == "false"
    by_topic = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert {s["SubscriptionArn"] for s in by_topic} == {sub, raw_sub}
    assert sub in {s["SubscriptionArn"] for s in sns.get_paginator("list_subscriptions")
                   .paginate().build_full_result()["Subscriptions"]}

    kept = sns.publish(TopicArn=topic, Message="hello", Subject="greeting",
                       MessageAttributes={"kind": {"DataType": "String",
                                                   "StringValue": "keep"}})
    sns.publish(TopicArn=topic, Message="dropped by the filter")
    batch = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "batched",
         "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "keep"}}},
        {"Id": "b", "Message": ""}])
    assert [s["Id"] for s in batch["Successful"]] == ["a"]
    assert batch["Failed"][0]["Code"] == "InvalidParameter"

    envelopes = [json.loads(m["Body"]) for m in sqs.receive_message(
        QueueUrl=env_url, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(e["Message"] for e in envelopes) == [
        "batched", "dropped by the filter", "hello"]
    hello = next(e for e in envelopes if e["Message"] == "hello")
    assert hello["MessageId"] == kept["MessageId"] and hello["Subject"] == "greeting"
    assert hello["TopicArn"] == topic and hello["Type"] == "Notification"
    raw = sqs.receive_message(QueueUrl=raw_url, MaxNumberOfMessages=10,
                              MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["Body"] for m in raw) == ["batched", "hello"]
    assert raw[0]["MessageAttributes"]["kind"]["StringValue"] == "keep"

    sns.set_subscription_attributes(SubscriptionArn=raw_sub, AttributeName="FilterPolicy",
                                    AttributeValue="")
    assert "FilterPolicy" not in sns.get_subscription_attributes(
        SubscriptionArn=raw_sub)["Attributes"]
    sns.unsubscribe(SubscriptionArn=sub)
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.unsubscribe(SubscriptionArn=sub)


def test_fifo_topic(sns: BaseClient, sqs: BaseClient) -> None:
    topic = sns.create_topic(Name=unique_name("f") + ".fifo", Attributes={
        "FifoTopic": "true", "ContentBasedDeduplication": "true"})["TopicArn"]
    url = sqs.create_queue(QueueName=unique_name() + ".fifo",
                           Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})
    first = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g")
    assert first["SequenceNumber"]
    assert sns.publish(TopicArn=topic, Message="one", MessageGroupId="g")["MessageId"] == \
        first["MessageId"]
    sns.publish(TopicArn=topic, Message="two", MessageGroupId="g")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["one", "two"]
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic, Message="x")
    assert _error(exc) == ("InvalidParameter", 400)


ERRORS = [
    ("bad-topic-name", lambda s, t, q: s.create_topic(Name="has space"),
     "InvalidParameter", 400),
    ("unknown-attribute", lambda s, t, q: s.set_topic_attributes(
        TopicArn=t, AttributeName="Nope", AttributeValue="x"), "InvalidParameter", 400),
    ("bad-protocol", lambda s, t, q: s.subscribe(TopicArn=t, Protocol="pigeon",
                                                 Endpoint="x"), "InvalidParameter", 400),
    ("bad-filter", lambda s, t, q: s.subscribe(
        TopicArn=t, Protocol="sqs", Endpoint=q,
        Attributes={"FilterPolicy": '{"a":[{"numeric":[">",3,"<",1]}]}'}),
     "InvalidParameter", 400),
    ("missing-topic", lambda s, t, q: s.publish(TopicArn=t + "-gone", Message="x"),
     "NotFound", 404),
    ("bad-arn", lambda s, t, q: s.publish(TopicArn="not-an-arn", Message="x"),
     "InvalidParameter", 400),
    ("bad-attribute", lambda s, t, q: s.publish(TopicArn=t, Message="x", MessageAttributes={
        "n": {"DataType": "Number", "StringValue": "abc"}}), "ParameterValueInvalid", 400),
    ("too-long", lambda s, t, q: s.publish(TopicArn=t, Message="x" * 262_145),
     "InvalidParameter", 400),
    ("empty-batch", lambda s, t, q: s.publish_batch(TopicArn=t, PublishBatchRequestEntries=[]),
     "EmptyBatchRequest", 400),
    ("duplicate-ids", lambda s, t, q: s.publish_batch(TopicArn=t, PublishBatchRequestEntries=[
        {"Id": "1", "Message": "a"}, {"Id": "1", "Message": "b"}]),
     "BatchEntryIdsNotDistinct", 400),
    ("unknown-subscription", lambda s, t, q: s.get_subscription_attributes(
        SubscriptionArn=t + ":00000000-0000-0000-0000-000000000000"), "NotFound", 404),
    ("tags-of-missing", lambda s, t, q: s.list_tags_for_resource(ResourceArn=t + "-gone"),
     "ResourceNotFound", 404),
    ("unsupported-action", lambda s, t, q: s.list_platform_applications(),
     "InvalidParameter", 400),
]


@pytest.mark.parametrize(("call", "code", "status"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_errors(sns: BaseClient, sqs: BaseClient, call: object, code: str,
                status: int) -> None:
    topic = sns.create_topic(Name=unique_name("t"))["TopicArn"]
    _, queue_arn = _queue(sqs)
    with pytest.raises(ClientError) as exc:
        call(sns, topic, queue_arn)  # type: ignore[operator]
    assert _error(exc) == (code, status)
    assert "Traceback" not in seen(exc.value).message
