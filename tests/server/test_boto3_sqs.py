"""Every SQS action the broker implements, through boto3 only (awsJson1_0 on the wire).

Checks results, and for bad requests what a boto3 user sees: ``Error.Code`` (the query
code SQS's ``awsQueryCompatible`` JSON errors carry), the HTTP status, the
``QueryErrorCode`` botocore keeps, and the modelled exception class where botocore has one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from broker.server.app import BrokerServer
from tests.server.helpers import (
    ACCOUNT,
    REGION,
    Seen,
    md5_of_attributes,
    md5_text,
    seen,
    unique_name,
)

# -- queues -------------------------------------------------------------------------------


def test_create_queue_url_and_idempotence(sqs: BaseClient, sqs_server: BrokerServer,
                                          queue_name: str) -> None:
    attrs = {"VisibilityTimeout": "7", "DelaySeconds": "0"}
    url = sqs.create_queue(QueueName=queue_name, Attributes=attrs)["QueueUrl"]
    assert url == f"{sqs_server.url}/{ACCOUNT}/{queue_name}"
    assert sqs.create_queue(QueueName=queue_name, Attributes=attrs)["QueueUrl"] == url
    assert sqs.create_queue(QueueName=queue_name)["QueueUrl"] == url  # defaults match

    with pytest.raises(sqs.exceptions.QueueNameExists) as exc:
        sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "8"})
    s = seen(exc.value)
    assert (s.code, s.status, s.query_error_code) == ("QueueAlreadyExists", 400,
                                                      "QueueNameExists")
    assert "VisibilityTimeout" in s.message
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attributes["Attributes"] == {"VisibilityTimeout": "7"}


@pytest.mark.parametrize("name", ["has space", "a" * 81, "dot.name", "ünï", "x.fifo"])
def test_create_queue_invalid_name(sqs: BaseClient, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName=name)
    s = seen(exc.value)
    assert (s.code, s.status, s.exception) == ("InvalidParameterValue", 400, "ClientError")
    assert s.message == ("Can only include alphanumeric characters, hyphens, or underscores. "
                         "1 to 80 in length")


def test_create_queue_name_of_80_characters(sqs: BaseClient) -> None:
    name = unique_name("q").ljust(80, "x")
    assert sqs.create_queue(QueueName=name)["QueueUrl"].endswith(f"/{name}")


@pytest.mark.parametrize(("attributes", "exception", "code"), [
    ({"VisibilityTimeout": "43201"}, "InvalidAttributeValue", "InvalidAttributeValue"),
    ({"DelaySeconds": "-1"}, "InvalidAttributeValue", "InvalidAttributeValue"),
    ({"MessageRetentionPeriod": "59"}, "InvalidAttributeValue", "InvalidAttributeValue"),
    ({"ReceiveMessageWaitTimeSeconds": "21"}, "InvalidAttributeValue", "InvalidAttributeValue"),
    ({"MaximumMessageSize": "1023"}, "InvalidAttributeValue", "InvalidAttributeValue"),
    ({"VisibilityTimeout": "soon"}, "InvalidAttributeValue", "InvalidAttributeValue"),
    ({"NoSuchAttribute": "1"}, "InvalidAttributeName", "InvalidAttributeName"),
])
def test_create_queue_invalid_attributes(sqs: BaseClient, attributes: dict[str, str],
                                         exception: str, code: str) -> None:
    name = unique_name()
    with pytest.raises(getattr(sqs.exceptions, exception)) as exc:
        sqs.create_queue(QueueName=name, Attributes=attributes)
    s = seen(exc.value)
    assert (s.code, s.status, s.query_error_code) == (code, 400, code)
    assert not sqs.list_queues(QueueNamePrefix=name).get("QueueUrls")


def test_get_queue_url(sqs: BaseClient, queue_name: str, queue_url: str) -> None:
    assert sqs.get_queue_url(QueueName=queue_name)["QueueUrl"] == queue_url
    owned = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=ACCOUNT)
    assert owned["QueueUrl"] == queue_url


def test_get_queue_url_of_missing_queue(sqs: BaseClient) -> None:
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as exc:
        sqs.get_queue_url(QueueName=unique_name())
    s = seen(exc.value)
    assert (s.code, s.status, s.query_error_code) == (
        "AWS.SimpleQueueService.NonExistentQueue", 400, "QueueDoesNotExist")
    assert s.message == "The specified queue does not exist."
    assert exc.value.response["Error"]["Type"] == "Sender"


def test_delete_queue(sqs: BaseClient, queue_name: str, queue_url: str) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="gone with the queue")
    assert sqs.delete_queue(QueueUrl=queue_url)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=queue_name)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.delete_queue(QueueUrl=queue_url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.receive_message(QueueUrl=queue_url)
    assert queue_url not in sqs.list_queues(QueueNamePrefix=queue_name).get("QueueUrls", [])


def test_recreate_right_after_delete_is_refused(sqs: BaseClient, queue_name: str,
                                                queue_url: str) -> None:
    # (the test server's cool-down is 0.5 s instead of AWS's 60 s)
    sqs.delete_queue(QueueUrl=queue_url)
    with pytest.raises(sqs.exceptions.QueueDeletedRecently) as exc:
        sqs.create_queue(QueueName=queue_name)
    s = seen(exc.value)
    assert (s.code, s.status) == ("AWS.SimpleQueueService.QueueDeletedRecently", 400)


def test_queue_url_that_is_not_a_queue_url(sqs: BaseClient, sqs_server: BrokerServer) -> None:
    with pytest.raises(sqs.exceptions.InvalidAddress) as exc:
        sqs.send_message(QueueUrl=f"{sqs_server.url}/just-a-name", MessageBody="x")
    assert seen(exc.value).code == "InvalidAddress"


def test_list_queues_prefix_and_pagination(sqs: BaseClient, sqs_server: BrokerServer) -> None:
    prefix = unique_name("list")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        sqs.create_queue(QueueName=name)
    sqs.create_queue(QueueName=f"x{prefix}")  # contains the prefix, does not start with it
    expected = {f"{sqs_server.url}/{ACCOUNT}/{n}" for n in names}

    everything = sqs.list_queues(QueueNamePrefix=prefix)
    assert set(everything["QueueUrls"]) == expected
    assert "NextToken" not in everything

    seen_urls: list[str] = []
    pages = 0
    kwargs: dict[str, Any] = {"QueueNamePrefix": prefix, "MaxResults": 2}
    while True:
        page = sqs.list_queues(**kwargs)
        pages += 1
        assert 1 <= len(page["QueueUrls"]) <= 2
        seen_urls += page["QueueUrls"]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert pages == 3
    assert sorted(seen_urls) == sorted(expected) and len(seen_urls) == 5

    paginated = sqs.get_paginator("list_queues").paginate(
        QueueNamePrefix=prefix, PaginationConfig={"PageSize": 2})
    assert {u for p in paginated for u in p.get("QueueUrls", [])} == expected

    empty = sqs.list_queues(QueueNamePrefix=unique_name("nothing"))
    assert "QueueUrls" not in empty and "NextToken" not in empty


@pytest.mark.parametrize("max_results", [0, 1001])
def test_list_queues_max_results_out_of_range(sqs: BaseClient, max_results: int) -> None:
    with pytest.raises(ClientError) as exc:
        sqs.list_queues(MaxResults=max_results)
    s = seen(exc.value)
    assert (s.code, s.status) == ("InvalidParameterValue", 400)
    assert s.message == (f"Value {max_results} for parameter MaxResults is invalid. "
                         "Reason: Must be between 1 and 1000, if provided.")


# -- attributes -------------------------------------------------------------------------------


def test_get_queue_attributes_defaults(sqs: BaseClient, queue_name: str,
                                       queue_url: str) -> None:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert {k: attrs[k] for k in (
        "VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds", "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
        "QueueArn")} == {
        "VisibilityTimeout": "30", "MaximumMessageSize": "1048576",
        "MessageRetentionPeriod": "345600", "DelaySeconds": "0",
        "ReceiveMessageWaitTimeSeconds": "0", "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "0",
        "QueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}",
    }
    assert attrs["CreatedTimestamp"].isdigit() and len(attrs["CreatedTimestamp"]) == 10
    assert attrs["LastModifiedTimestamp"].isdigit()
    assert "RedrivePolicy" not in attrs and "FifoQueue" not in attrs

    some = sqs.get_queue_attributes(QueueUrl=queue_url,
                                    AttributeNames=["QueueArn", "DelaySeconds"])
    assert some["Attributes"] == {"QueueArn": attrs["QueueArn"], "DelaySeconds": "0"}
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=queue_url)


def test_get_queue_attributes_unknown_name(sqs: BaseClient, queue_url: str) -> None:
    with pytest.raises(sqs.exceptions.InvalidAttributeName) as exc:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Bogus"])
    s = seen(exc.value)
    assert (s.code, s.status, s.message) == ("InvalidAttributeName", 400,
                                             "Unknown Attribute Bogus.")


def test_get_queue_attributes_of_missing_queue(sqs: BaseClient,
                                               sqs_server: BrokerServer) -> None:
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_attributes(QueueUrl=f"{sqs_server.url}/{ACCOUNT}/{unique_name()}",
                                 AttributeNames=["All"])


def test_set_queue_attributes(sqs: BaseClient, queue_url: str) -> None:
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={
        "VisibilityTimeout": "45", "DelaySeconds": "3", "ReceiveMessageWaitTimeSeconds": "2",
        "MessageRetentionPeriod": "600", "MaximumMessageSize": "2048"})
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert (attrs["VisibilityTimeout"], attrs["DelaySeconds"],
            attrs["ReceiveMessageWaitTimeSeconds"], attrs["MessageRetentionPeriod"],
            attrs["MaximumMessageSize"]) == ("45", "3", "2", "600", "2048")


@pytest.mark.parametrize(("attributes", "exception"), [
    ({"QueueArn": "arn:aws:sqs:us-east-1:000000000000:other"}, "InvalidAttributeName"),
    ({"ApproximateNumberOfMessages": "3"}, "InvalidAttributeName"),
    ({"Bogus": "1"}, "InvalidAttributeName"),
    ({"DelaySeconds": "901"}, "InvalidAttributeValue"),
    ({"MaximumMessageSize": "1048577"}, "InvalidAttributeValue"),
])
def test_set_queue_attributes_refused(sqs: BaseClient, queue_url: str,
                                      attributes: dict[str, str], exception: str) -> None:
    with pytest.raises(getattr(sqs.exceptions, exception)) as exc:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=attributes)
    assert (seen(exc.value).code, seen(exc.value).status) == (exception, 400)


def test_message_counts_in_attributes(sqs: BaseClient, queue_url: str) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="a")
    sqs.send_message(QueueUrl=queue_url, MessageBody="b")
    sqs.send_message(QueueUrl=queue_url, MessageBody="later", DelaySeconds=600)
    sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1)
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "1",
                     "ApproximateNumberOfMessagesNotVisible": "1",
                     "ApproximateNumberOfMessagesDelayed": "1"}


def test_purge_queue(sqs: BaseClient, queue_url: str) -> None:
    for i in range(3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"m{i}")
    sqs.purge_queue(QueueUrl=queue_url)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url,
                                     AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"] == {"ApproximateNumberOfMessages": "0"}

    with pytest.raises(sqs.exceptions.PurgeQueueInProgress) as exc:
        sqs.purge_queue(QueueUrl=queue_url)
    s = seen(exc.value)
    assert (s.code, s.status, s.query_error_code) == (
        "AWS.SimpleQueueService.PurgeQueueInProgress", 403, "PurgeQueueInProgress")
    # the queue keeps working: messages sent after a purge are kept
    sqs.send_message(QueueUrl=queue_url, MessageBody="after")
    got = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert [m["Body"] for m in got] == ["after"]


# -- tags -----------------------------------------------------------------------------------


def test_tags(sqs: BaseClient) -> None:
    url = sqs.create_queue(QueueName=unique_name(), tags={"team": "core", "env": "test"})[
        "QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core", "env": "test"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "prod", "cost": "42"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core", "env": "prod",
                                                         "cost": "42"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team", "not-there"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod", "cost": "42"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["env", "cost"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)


def test_tag_key_reserved_prefix(sqs: BaseClient, queue_url: str) -> None:
    with pytest.raises(ClientError) as exc:
        sqs.tag_queue(QueueUrl=queue_url, Tags={"aws:owner": "me"})
    assert (seen(exc.value).code, seen(exc.value).status) == ("InvalidParameterValue", 400)
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=queue_url)


def test_tags_of_missing_queue(sqs: BaseClient, sqs_server: BrokerServer) -> None:
    url = f"{sqs_server.url}/{ACCOUNT}/{unique_name()}"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.tag_queue(QueueUrl=url, Tags={"a": "b"})
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.list_queue_tags(QueueUrl=url)


# -- dead-letter queues ------------------------------------------------------------------------


def _arn(sqs: BaseClient, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    return arn


def _redrive(arn: str, max_receives: int) -> dict[str, str]:
    return {"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn,
                                         "maxReceiveCount": max_receives})}


def test_list_dead_letter_source_queues(sqs: BaseClient) -> None:
    dlq = sqs.create_queue(QueueName=unique_name("dlq"))["QueueUrl"]
    arn = _arn(sqs, dlq)
    sources = sorted(sqs.create_queue(QueueName=unique_name("src"),
                                      Attributes=_redrive(arn, 3))["QueueUrl"]
                     for _ in range(2))
    assert sorted(sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]) == sources
    assert sqs.list_dead_letter_source_queues(QueueUrl=sources[0])["queueUrls"] == []

    # a source that stops using the DLQ drops out of the list
    sqs.set_queue_attributes(QueueUrl=sources[0], Attributes={"RedrivePolicy": ""})
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [sources[1]]
    redrive = sqs.get_queue_attributes(QueueUrl=sources[1], AttributeNames=["RedrivePolicy"])
    assert json.loads(redrive["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": arn, "maxReceiveCount": 3}


def test_list_dead_letter_source_queues_pagination(sqs: BaseClient) -> None:
    dlq = sqs.create_queue(QueueName=unique_name("dlq"))["QueueUrl"]
    arn = _arn(sqs, dlq)
    sources = {sqs.create_queue(QueueName=unique_name("src"),
                                Attributes=_redrive(arn, 3))["QueueUrl"] for _ in range(3)}
    first = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2)
    assert len(first["queueUrls"]) == 2 and first.get("NextToken")
    rest = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2,
                                              NextToken=first["NextToken"])
    assert "NextToken" not in rest
    assert set(first["queueUrls"]) | set(rest["queueUrls"]) == sources


@pytest.mark.parametrize(("policy", "reason"), [
    ("not json", "Redrive policy is not a valid JSON map."),
    (json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:no-such-dlq",
                 "maxReceiveCount": 2}), "Dead letter target does not exist."),
])
def test_invalid_redrive_policy(sqs: BaseClient, policy: str, reason: str) -> None:
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName=unique_name(), Attributes={"RedrivePolicy": policy})
    s = seen(exc.value)
    assert (s.code, s.status) == ("InvalidParameterValue", 400)
    assert s.message == f"Value for parameter RedrivePolicy is invalid. Reason: {reason}"


def test_message_moves_to_dead_letter_queue(sqs: BaseClient) -> None:
    dlq = sqs.create_queue(QueueName=unique_name("dlq"))["QueueUrl"]
    src = sqs.create_queue(QueueName=unique_name("src"),
                           Attributes=_redrive(_arn(sqs, dlq), 1))["QueueUrl"]
    sqs.send_message(QueueUrl=src, MessageBody="poison")
    first = sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)["Messages"]
    assert [m["Body"] for m in first] == ["poison"]
    # the next receive would exceed maxReceiveCount=1: the message goes to the DLQ instead
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    moved = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in moved] == ["poison"]
    assert moved[0]["MessageId"] == first[0]["MessageId"]
    assert moved[0]["Attributes"]["DeadLetterQueueSourceArn"] == _arn(sqs, src)


# -- send -----------------------------------------------------------------------------------


ATTRIBUTES: dict[str, dict[str, Any]] = {
    "text": {"DataType": "String", "StringValue": "héllo wörld"},
    "count": {"DataType": "Number", "StringValue": "-12.5e3"},
    "blob": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
    "custom": {"DataType": "String.json", "StringValue": '{"a": 1}'},
    "small": {"DataType": "Number.int", "StringValue": "7"},
    "image.png": {"DataType": "Binary.png", "BinaryValue": b"\x89PNG\r\n"},
}


def test_send_and_receive_with_message_attributes(sqs: BaseClient, queue_url: str) -> None:
    body = "Grüße, <xml> & \"quotes\" \t\n\r 🚀"
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody=body,
                            MessageAttributes=ATTRIBUTES)
    assert sent["MD5OfMessageBody"] == md5_text(body)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(ATTRIBUTES)
    assert "MD5OfMessageSystemAttributes" not in sent

    got = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    assert len(got) == 1
    message = got[0]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == body
    assert message["MD5OfBody"] == md5_text(body)
    assert message["MessageAttributes"] == ATTRIBUTES
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["ReceiptHandle"]


def test_receive_selected_message_attributes(sqs: BaseClient, queue_url: str) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageAttributes=ATTRIBUTES)

    plain = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0)["Messages"][0]
    assert "MessageAttributes" not in plain and "MD5OfMessageAttributes" not in plain
    assert "Attributes" not in plain

    chosen = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0,
                                 MessageAttributeNames=["blob", "small", "absent"])
    message = chosen["Messages"][0]
    subset = {k: ATTRIBUTES[k] for k in ("blob", "small")}
    assert message["MessageAttributes"] == subset
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(subset)

    prefixed = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0,
                                   MessageAttributeNames=["image.*"])
    assert set(prefixed["Messages"][0]["MessageAttributes"]) == {"image.png"}


def test_receive_system_attributes(sqs: BaseClient, queue_url: str) -> None:
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="x", MessageSystemAttributes={
        "AWSTraceHeader": {"DataType": "String", "StringValue": trace}})
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_attributes(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}})

    every = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0,
                                AttributeNames=["All"])["Messages"][0]["Attributes"]
    assert {"SenderId", "SentTimestamp", "ApproximateReceiveCount",
            "ApproximateFirstReceiveTimestamp", "AWSTraceHeader"} <= set(every)
    assert every["SenderId"] == ACCOUNT
    assert every["ApproximateReceiveCount"] == "1"
    assert every["AWSTraceHeader"] == trace
    assert every["SentTimestamp"].isdigit() and len(every["SentTimestamp"]) == 13
    assert int(every["ApproximateFirstReceiveTimestamp"]) >= int(every["SentTimestamp"])

    some = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0,
                               MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert some["Messages"][0]["Attributes"] == {"ApproximateReceiveCount": "2"}
    legacy = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["SentTimestamp"])
    assert legacy["Messages"][0]["Attributes"] == {"SentTimestamp": every["SentTimestamp"]}


def test_send_message_batch(sqs: BaseClient, queue_url: str) -> None:
    entries = [
        {"Id": "plain", "MessageBody": "one"},
        {"Id": "with_attrs", "MessageBody": "two",
         "MessageAttributes": {"blob": ATTRIBUTES["blob"]}},
        {"Id": "delayed-1", "MessageBody": "three", "DelaySeconds": 600},
    ]
    result = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    assert result["Failed"] == []
    ok = {e["Id"]: e for e in result["Successful"]}
    assert set(ok) == {"plain", "with_attrs", "delayed-1"}
    assert ok["plain"]["MD5OfMessageBody"] == md5_text("one")
    assert "MD5OfMessageAttributes" not in ok["plain"]
    assert ok["with_attrs"]["MD5OfMessageAttributes"] == md5_of_attributes(
        {"blob": ATTRIBUTES["blob"]})
    assert len({e["MessageId"] for e in ok.values()}) == 3

    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                              MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["Body"] for m in got) == ["one", "two"]  # "three" is delayed
    by_body = {m["Body"]: m for m in got}
    assert by_body["two"]["MessageAttributes"] == {"blob": ATTRIBUTES["blob"]}
    assert by_body["one"]["MessageId"] == ok["plain"]["MessageId"]


def test_send_message_batch_partial_failure(sqs: BaseClient, queue_url: str) -> None:
    result = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
        {"Id": "good", "MessageBody": "fine"},
        {"Id": "bad", "MessageBody": "bell \x07"},
        {"Id": "late", "MessageBody": "x", "DelaySeconds": 901},
    ])
    assert [e["Id"] for e in result["Successful"]] == ["good"]
    failed = {f["Id"]: f for f in result["Failed"]}
    assert set(failed) == {"bad", "late"}
    assert failed["bad"]["SenderFault"] is True
    assert failed["bad"]["Code"] == "InvalidMessageContents"
    assert failed["late"]["SenderFault"] is True
    assert failed["late"]["Code"] == "InvalidParameterValue"
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["fine"]


Call = Callable[[BaseClient, str], Any]


def _entries(n: int, ids: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"Id": (ids or [f"e{i}" for i in range(n)])[i], "MessageBody": f"m{i}"}
            for i in range(n)]


# (call, Error.Code, HTTP status, modelled exception or None, message)
SEND_ERRORS: list[tuple[str, Call, str, int, str | None, str | None]] = [
    ("batch-empty", lambda s, u: s.send_message_batch(QueueUrl=u, Entries=[]),
     "AWS.SimpleQueueService.EmptyBatchRequest", 400, "EmptyBatchRequest",
     "There should be at least one entry in the request."),
    ("batch-11", lambda s, u: s.send_message_batch(QueueUrl=u, Entries=_entries(11)),
     "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400,
     "TooManyEntriesInBatchRequest",
     "Maximum number of entries per request are 10. You have sent 11."),
    ("batch-dup-ids",
     lambda s, u: s.send_message_batch(QueueUrl=u, Entries=_entries(2, ["a", "a"])),
     "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, "BatchEntryIdsNotDistinct",
     "Id a repeated."),
    ("batch-bad-id",
     lambda s, u: s.send_message_batch(QueueUrl=u, Entries=_entries(1, ["a b"])),
     "AWS.SimpleQueueService.InvalidBatchEntryId", 400, "InvalidBatchEntryId", None),
    ("batch-long-id",
     lambda s, u: s.send_message_batch(QueueUrl=u, Entries=_entries(1, ["a" * 81])),
     "AWS.SimpleQueueService.InvalidBatchEntryId", 400, "InvalidBatchEntryId", None),
    ("batch-too-long",
     lambda s, u: s.send_message_batch(QueueUrl=u, Entries=[
         {"Id": "a", "MessageBody": "x" * 600_000}, {"Id": "b", "MessageBody": "y" * 600_000}]),
     "AWS.SimpleQueueService.BatchRequestTooLong", 400, "BatchRequestTooLong", None),
    ("body-too-long",
     lambda s, u: s.send_message(QueueUrl=u, MessageBody="x" * 1_048_577),
     "InvalidParameterValue", 400, None,
     "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes."),
    ("body-bad-char", lambda s, u: s.send_message(QueueUrl=u, MessageBody="nul \x00"),
     "InvalidMessageContents", 400, "InvalidMessageContents", None),
    ("body-empty", lambda s, u: s.send_message(QueueUrl=u, MessageBody=""),
     "MissingParameter", 400, None, "The request must contain the parameter MessageBody."),
    ("delay-901", lambda s, u: s.send_message(QueueUrl=u, MessageBody="x", DelaySeconds=901),
     "InvalidParameterValue", 400, None,
     "Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 "
     "and <= 900."),
    ("11-attributes", lambda s, u: s.send_message(QueueUrl=u, MessageBody="x", MessageAttributes={
        f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}),
     "InvalidParameterValue", 400, None,
     "Number of message attributes [11] exceeds the allowed maximum [10]."),
    ("reserved-attribute", lambda s, u: s.send_message(
        QueueUrl=u, MessageBody="x",
        MessageAttributes={"AWS.key": {"DataType": "String", "StringValue": "v"}}),
     "InvalidParameterValue", 400, None, None),
    ("bad-attribute-type", lambda s, u: s.send_message(
        QueueUrl=u, MessageBody="x",
        MessageAttributes={"a": {"DataType": "Text", "StringValue": "v"}}),
     "InvalidParameterValue", 400, None, None),
    ("bad-number", lambda s, u: s.send_message(
        QueueUrl=u, MessageBody="x",
        MessageAttributes={"a": {"DataType": "Number", "StringValue": "twelve"}}),
     "InvalidParameterValue", 400, None,
     "Can't convert value 'twelve' of message attribute 'a' to a number."),
    ("fifo-param-on-standard", lambda s, u: s.send_message(
        QueueUrl=u, MessageBody="x", MessageDeduplicationId="d"),
     "InvalidParameterValue", 400, None, None),
]


@pytest.mark.parametrize(("call", "code", "status", "exception", "message"),
                         [c[1:] for c in SEND_ERRORS], ids=[c[0] for c in SEND_ERRORS])
def test_send_validation_errors(sqs: BaseClient, queue_url: str, call: Call, code: str,
                                status: int, exception: str | None,
                                message: str | None) -> None:
    expected = getattr(sqs.exceptions, exception) if exception else ClientError
    with pytest.raises(expected) as exc:
        call(sqs, queue_url)
    s = seen(exc.value)
    assert (s.code, s.status) == (code, status)
    assert exc.value.response["Error"]["Type"] == "Sender"
    if exception is None:
        assert s.exception == "ClientError"
    if message is not None:
        assert s.message == message
    # nothing was enqueued
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "0",
                     "ApproximateNumberOfMessagesDelayed": "0"}


def test_largest_message_and_batch_are_accepted(sqs: BaseClient, queue_url: str) -> None:
    body = "x" * 1_048_576
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    assert sent["MD5OfMessageBody"] == md5_text(body)
    # ten entries with binary attributes (base64 on the wire) totalling just under 1 MiB
    blob = {"b": {"DataType": "Binary", "BinaryValue": b"\xff" * 104_000}}
    batch = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
        {"Id": str(i), "MessageBody": "y" * 800, "MessageAttributes": blob} for i in range(10)])
    assert len(batch["Successful"]) == 10 and batch["Failed"] == []
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                              MessageAttributeNames=["All"])["Messages"]
    assert {len(m["Body"]) for m in got} <= {1_048_576, 800}


@pytest.mark.parametrize("char", ["é", "🚀"])
def test_largest_non_ascii_message_is_accepted(sqs: BaseClient, queue_url: str,
                                               char: str) -> None:
    body = char * (1_048_576 // len(char.encode()))
    assert len(body.encode()) == 1_048_576
    refused: Seen | None = None
    try:
        sent = sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    except ClientError as exc:
        # (fail outside the handler: a traceback through botocore would keep the refused
        # request's connection, and its lingering server handler, alive after the test)
        refused = seen(exc)
    else:
        assert sent["MD5OfMessageBody"] == md5_text(body)
    assert refused is None


def test_send_to_missing_queue(sqs: BaseClient, sqs_server: BrokerServer) -> None:
    url = f"{sqs_server.url}/{ACCOUNT}/{unique_name()}"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=url, MessageBody="x")
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message_batch(QueueUrl=url, Entries=_entries(1))


# -- receive ----------------------------------------------------------------------------------


RECEIVE_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("wait-21", {"WaitTimeSeconds": 21},
     "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
     "if provided."),
    ("wait-negative", {"WaitTimeSeconds": -1},
     "Value -1 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
     "if provided."),
    ("max-0", {"MaxNumberOfMessages": 0},
     "Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, "
     "if provided."),
    ("max-11", {"MaxNumberOfMessages": 11},
     "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and "
     "10, if provided."),
    ("visibility-43201", {"VisibilityTimeout": 43201}, ""),
    ("visibility-negative", {"VisibilityTimeout": -1}, ""),
]


@pytest.mark.parametrize(("kwargs", "message"), [c[1:] for c in RECEIVE_ERRORS],
                         ids=[c[0] for c in RECEIVE_ERRORS])
def test_receive_validation_errors(sqs: BaseClient, queue_url: str, kwargs: dict[str, Any],
                                   message: str) -> None:
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=queue_url, **kwargs)
    s = seen(exc.value)
    assert (s.code, s.status, s.exception) == ("InvalidParameterValue", 400, "ClientError")
    if message:
        assert s.message == message


def test_receive_up_to_ten(sqs: BaseClient, queue_url: str) -> None:
    for i in range(0, 12, 4):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(j), "MessageBody": f"m{i + j}"} for j in range(4)])
    got: list[str] = []
    for _ in range(12):  # short polls may return fewer than asked
        page = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        assert len(page.get("Messages", [])) <= 10
        got += [m["Body"] for m in page.get("Messages", [])]
        if len(got) == 12:
            break
    assert sorted(got) == sorted(f"m{i}" for i in range(12))


def test_visibility_timeout_hides_and_change_visibility_reveals(sqs: BaseClient,
                                                                 queue_url: str) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="once")
    first = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=60,
                                AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=first["ReceiptHandle"],
                                  VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=queue_url,
                                AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert again["MessageId"] == first["MessageId"]
    assert again["ReceiptHandle"] != first["ReceiptHandle"]
    assert (first["Attributes"]["ApproximateReceiveCount"],
            again["Attributes"]["ApproximateReceiveCount"]) == ("1", "2")


def test_visibility_timeout_expires(sqs: BaseClient, queue_url: str) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="comes back")
    first = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=1)["Messages"][0]
    # a long poll (generous bound) sees it again once its 1 s visibility timeout ran out
    again = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=10)["Messages"][0]
    assert again["MessageId"] == first["MessageId"]


def test_queue_default_visibility_timeout_applies(sqs: BaseClient) -> None:
    url = sqs.create_queue(QueueName=unique_name(), Attributes={"VisibilityTimeout": "0"})[
        "QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="always visible")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]
    second = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert first["MessageId"] == second["MessageId"]


def test_long_poll_wakes_when_a_message_arrives(sqs: BaseClient, queue_url: str) -> None:
    result: dict[str, Any] = {}
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            result.update(sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=15))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    # whether the poll has started waiting yet or not, it must return this message
    sqs.send_message(QueueUrl=queue_url, MessageBody="wake up")
    poller.join(timeout=30)
    assert not poller.is_alive() and not errors
    assert [m["Body"] for m in result["Messages"]] == ["wake up"]


def test_long_poll_on_empty_queue_returns_nothing(sqs: BaseClient, queue_url: str) -> None:
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)


def test_queue_wait_time_attribute_makes_receives_long_polls(sqs: BaseClient) -> None:
    url = sqs.create_queue(QueueName=unique_name(),
                           Attributes={"ReceiveMessageWaitTimeSeconds": "15"})["QueueUrl"]
    result: dict[str, Any] = {}
    poller = threading.Thread(target=lambda: result.update(sqs.receive_message(QueueUrl=url)))
    poller.start()
    sqs.send_message(QueueUrl=url, MessageBody="waited for")
    poller.join(timeout=30)
    assert [m["Body"] for m in result["Messages"]] == ["waited for"]


def test_delay_seconds_hides_a_message(sqs: BaseClient, queue_url: str) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="later", DelaySeconds=600)
    sqs.send_message(QueueUrl=queue_url, MessageBody="now")
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["now"]


# -- delete and change visibility ---------------------------------------------------------


def test_delete_message(sqs: BaseClient, queue_url: str) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="bye")
    message = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0)["Messages"][0]
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"],
            attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    # deleting again with the same (valid) handle succeeds, as on SQS
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.mark.parametrize("handle", ["garbage", "x" * 2000, "MQowMDAwMDAwMDAwMDAKcQoxCjE="])
def test_delete_message_invalid_handle(sqs: BaseClient, queue_url: str, handle: str) -> None:
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as exc:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
    s = seen(exc.value)
    assert (s.code, s.status, s.query_error_code) == ("ReceiptHandleIsInvalid", 400,
                                                      "ReceiptHandleIsInvalid")


def test_handle_of_another_queue_is_refused(sqs: BaseClient, queue_url: str) -> None:
    other = sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    sqs.send_message(QueueUrl=other, MessageBody="not yours")
    handle = sqs.receive_message(QueueUrl=other)["Messages"][0]["ReceiptHandle"]
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle,
                                      VisibilityTimeout=0)


def test_delete_message_batch(sqs: BaseClient, queue_url: str) -> None:
    sqs.send_message_batch(QueueUrl=queue_url, Entries=_entries(3))
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    while len(got) < 3:
        got += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    entries = [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
    entries.append({"Id": "junk", "ReceiptHandle": "garbage"})
    result = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    assert sorted(e["Id"] for e in result["Successful"]) == ["d0", "d1", "d2"]
    assert result["Failed"] == [{
        "Id": "junk", "SenderFault": True, "Code": "ReceiptHandleIsInvalid",
        "Message": 'The input receipt handle "garbage" is not a valid receipt handle.'}]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"],
            attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_change_message_visibility_batch(sqs: BaseClient, queue_url: str) -> None:
    sqs.send_message_batch(QueueUrl=queue_url, Entries=_entries(2))
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                              VisibilityTimeout=300)["Messages"]
    while len(got) < 2:
        got += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                   VisibilityTimeout=300)["Messages"]
    by_body = {m["Body"]: m for m in got}
    result = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
        {"Id": "show", "ReceiptHandle": by_body["m0"]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "keep", "ReceiptHandle": by_body["m1"]["ReceiptHandle"],
         "VisibilityTimeout": 600},
        {"Id": "junk", "ReceiptHandle": "garbage", "VisibilityTimeout": 0},
    ])
    assert sorted(e["Id"] for e in result["Successful"]) == ["keep", "show"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in result["Failed"]] == [
        ("junk", "ReceiptHandleIsInvalid", True)]
    again = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == ["m0"]


BATCH_ERRORS: list[tuple[str, Call, str, str]] = [
    ("delete-empty", lambda s, u: s.delete_message_batch(QueueUrl=u, Entries=[]),
     "AWS.SimpleQueueService.EmptyBatchRequest", "EmptyBatchRequest"),
    ("delete-dup", lambda s, u: s.delete_message_batch(QueueUrl=u, Entries=[
        {"Id": "a", "ReceiptHandle": "h"}, {"Id": "a", "ReceiptHandle": "h"}]),
     "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "BatchEntryIdsNotDistinct"),
    ("delete-11", lambda s, u: s.delete_message_batch(QueueUrl=u, Entries=[
        {"Id": f"i{i}", "ReceiptHandle": "h"} for i in range(11)]),
     "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "TooManyEntriesInBatchRequest"),
    ("visibility-empty", lambda s, u: s.change_message_visibility_batch(QueueUrl=u, Entries=[]),
     "AWS.SimpleQueueService.EmptyBatchRequest", "EmptyBatchRequest"),
    ("visibility-bad-id", lambda s, u: s.change_message_visibility_batch(QueueUrl=u, Entries=[
        {"Id": "no/slash", "ReceiptHandle": "h", "VisibilityTimeout": 1}]),
     "AWS.SimpleQueueService.InvalidBatchEntryId", "InvalidBatchEntryId"),
]


@pytest.mark.parametrize(("call", "code", "exception"), [c[1:] for c in BATCH_ERRORS],
                         ids=[c[0] for c in BATCH_ERRORS])
def test_batch_request_errors(sqs: BaseClient, queue_url: str, call: Call, code: str,
                              exception: str) -> None:
    with pytest.raises(getattr(sqs.exceptions, exception)) as exc:
        call(sqs, queue_url)
    assert (seen(exc.value).code, seen(exc.value).status) == (code, 400)


def test_change_message_visibility_errors(sqs: BaseClient, queue_url: str) -> None:
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    handle = sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["ReceiptHandle"]
    with pytest.raises(ClientError) as exc:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle,
                                      VisibilityTimeout=43201)
    s = seen(exc.value)
    assert (s.code, s.status, s.exception) == ("InvalidParameterValue", 400, "ClientError")
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle="garbage",
                                      VisibilityTimeout=5)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
    with pytest.raises(ClientError) as gone:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle,
                                      VisibilityTimeout=5)
    assert seen(gone.value).code == "InvalidParameterValue"
    assert seen(gone.value).message.endswith(
        "Message does not exist or is not available for visibility timeout change.")


def test_unsupported_actions_answer_in_aws_shape(sqs: BaseClient, queue_url: str) -> None:
    with pytest.raises(sqs.exceptions.UnsupportedOperation) as exc:
        sqs.add_permission(QueueUrl=queue_url, Label="l", AWSAccountIds=["111111111111"],
                           Actions=["SendMessage"])
    s = seen(exc.value)
    assert (s.code, s.status) == ("AWS.SimpleQueueService.UnsupportedOperation", 400)
