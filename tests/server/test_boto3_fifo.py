"""FIFO queues on the wire: boto3 over the JSON protocol and botocore forced to the query
protocol, with the FIFO-specific errors boto3 users see."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.server.helpers import seen, unique_name


def _fifo(client: BaseClient, **attributes: str) -> str:
    url: str = client.create_queue(
        QueueName=unique_name() + ".fifo",
        Attributes={"FifoQueue": "true", **attributes})["QueueUrl"]
    return url


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    s = seen(exc.value)
    return s.code, s.status


def test_create_and_attributes(any_sqs: BaseClient) -> None:
    url = _fifo(any_sqs, ContentBasedDeduplication="true", DeduplicationScope="messageGroup",
                FifoThroughputLimit="perMessageGroupId")
    attrs = any_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "true"
    assert attrs["DeduplicationScope"] == "messageGroup"
    assert attrs["FifoThroughputLimit"] == "perMessageGroupId"
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "queue",
                                                          "FifoThroughputLimit": "perQueue"})
    attrs = any_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["DeduplicationScope"] == "queue"


def test_send_receive_delete_in_order(any_sqs: BaseClient) -> None:
    url = _fifo(any_sqs)
    seqs = []
    for i in range(3):
        r = any_sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g",
                                MessageDeduplicationId=f"d{i}")
        seqs.append(int(r["SequenceNumber"]))
    assert seqs == sorted(seqs)
    batch = any_sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "m3", "MessageGroupId": "g", "MessageDeduplicationId": "d3"},
        {"Id": "b", "MessageBody": "h0", "MessageGroupId": "h", "MessageDeduplicationId": "e0"},
    ])
    assert sorted(e["Id"] for e in batch["Successful"]) == ["a", "b"]
    assert all("SequenceNumber" in e for e in batch["Successful"])
    got = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                 MessageSystemAttributeNames=["All"],
                                 ReceiveRequestAttemptId="attempt-1")["Messages"]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for m in got:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m)
    assert [m["Body"] for m in by_group["g"]] == ["m0", "m1", "m2", "m3"]
    assert by_group["g"][0]["Attributes"]["MessageDeduplicationId"] == "d0"
    assert int(by_group["g"][0]["Attributes"]["SequenceNumber"]) == seqs[0]
    retry = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                   ReceiveRequestAttemptId="attempt-1")["Messages"]
    assert [m["ReceiptHandle"] for m in retry] == [m["ReceiptHandle"] for m in got]
    assert "Messages" not in any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    result = any_sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    assert len(result["Successful"]) == 5


def test_deduplication(any_sqs: BaseClient) -> None:
    url = _fifo(any_sqs, ContentBasedDeduplication="true")
    first = any_sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    again = any_sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    assert again["MessageId"] == first["MessageId"]
    assert again["SequenceNumber"] == first["SequenceNumber"]
    [m] = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                 MessageSystemAttributeNames=["All"])["Messages"]
    assert m["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same").hexdigest()


def test_expired_receipt_handle(any_sqs: BaseClient) -> None:
    url = _fifo(any_sqs, VisibilityTimeout="0")
    any_sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g",
                        MessageDeduplicationId="1")
    [m] = any_sqs.receive_message(QueueUrl=url)["Messages"]
    with pytest.raises(ClientError) as exc:
        any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert _error(exc) == ("InvalidParameterValue", 400)
    assert "The receipt handle has expired." in seen(exc.value).message
    failed = any_sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "1", "ReceiptHandle": m["ReceiptHandle"]}])["Failed"]
    assert failed[0]["Code"] == "InvalidParameterValue" and failed[0]["SenderFault"]


SEND_ERRORS = [
    ("no-group", {"MessageDeduplicationId": "d"}, "MissingParameter", "MessageGroupId"),
    ("no-dedup", {"MessageGroupId": "g"}, "InvalidParameterValue",
     "ContentBasedDeduplication"),
    ("delay", {"MessageGroupId": "g", "MessageDeduplicationId": "d", "DelaySeconds": 3},
     "InvalidParameterValue", "DelaySeconds"),
    ("bad-group", {"MessageGroupId": "a b", "MessageDeduplicationId": "d"},
     "InvalidParameterValue", "MessageGroupId"),
    ("long-dedup", {"MessageGroupId": "g", "MessageDeduplicationId": "d" * 129},
     "InvalidParameterValue", "MessageDeduplicationId"),
]


@pytest.mark.parametrize(("params", "code", "mentions"), [e[1:] for e in SEND_ERRORS],
                         ids=[e[0] for e in SEND_ERRORS])
def test_send_errors(any_sqs: BaseClient, params: dict[str, Any], code: str,
                     mentions: str) -> None:
    url = _fifo(any_sqs)
    with pytest.raises(ClientError) as exc:
        any_sqs.send_message(QueueUrl=url, MessageBody="x", **params)
    assert _error(exc) == (code, 400)
    assert mentions in seen(exc.value).message
    assert any_sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_queue_errors(any_sqs: BaseClient) -> None:
    with pytest.raises(ClientError) as exc:
        any_sqs.create_queue(QueueName=unique_name(), Attributes={"FifoQueue": "true"})
    assert _error(exc) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as exc:
        any_sqs.create_queue(QueueName=unique_name() + ".fifo")  # a standard queue's name
    assert _error(exc) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as exc:
        _fifo(any_sqs, FifoThroughputLimit="perMessageGroupId")
    assert _error(exc) == ("InvalidAttributeValue", 400)
    with pytest.raises(ClientError) as exc:
        any_sqs.create_queue(QueueName=unique_name(),
                            Attributes={"ContentBasedDeduplication": "true"})
    assert _error(exc) == ("InvalidAttributeName", 400)
    std = any_sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    std_arn = any_sqs.get_queue_attributes(QueueUrl=std, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as exc:
        _fifo(any_sqs, RedrivePolicy=f'{{"deadLetterTargetArn":"{std_arn}",'
                                    f'"maxReceiveCount":"2"}}')
    assert _error(exc) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as exc:
        any_sqs.receive_message(QueueUrl=_fifo(any_sqs), ReceiveRequestAttemptId="no spaces")
    assert _error(exc) == ("InvalidParameterValue", 400)


def test_standard_queue_fifo_parameters(any_sqs: BaseClient) -> None:
    url = any_sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    any_sqs.send_message(QueueUrl=url, MessageBody="tenant", MessageGroupId="tenant-1")
    [m] = any_sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    assert m["Attributes"]["MessageGroupId"] == "tenant-1"
    assert "SequenceNumber" not in m["Attributes"]
    with pytest.raises(ClientError) as exc:
        any_sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert _error(exc) == ("InvalidParameterValue", 400)
