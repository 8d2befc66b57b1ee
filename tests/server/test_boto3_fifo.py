"""FIFO queues on the wire: boto3 over the JSON protocol and botocore forced to the query
protocol, with the FIFO-specific errors boto3 users see."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.server.helpers import seen, unique_name


@pytest.fixture(params=["json", "query"])
def client(request: pytest.FixtureRequest) -> BaseClient:
    """boto3's SQS client on one of the two wire protocols."""
    fixture = "sqs" if request.param == "json" else "query_sqs"
    c: BaseClient = request.getfixturevalue(fixture)
    return c


def _fifo(client: BaseClient, **attributes: str) -> str:
    url: str = client.create_queue(
        QueueName=unique_name() + ".fifo",
        Attributes={"FifoQueue": "true", **attributes})["QueueUrl"]
    return url


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    s = seen(exc.value)
    return s.code, s.status


def test_create_and_attributes(client: BaseClient) -> None:
    url = _fifo(client, ContentBasedDeduplication="true", DeduplicationScope="messageGroup",
                FifoThroughputLimit="perMessageGroupId")
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "true"
    assert attrs["DeduplicationScope"] == "messageGroup"
    assert attrs["FifoThroughputLimit"] == "perMessageGroupId"
    client.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "queue",
                                                          "FifoThroughputLimit": "perQueue"})
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["DeduplicationScope"] == "queue"


def test_send_receive_delete_in_order(client: BaseClient) -> None:
    url = _fifo(client)
    seqs = []
    for i in range(3):
        r = client.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g",
                                MessageDeduplicationId=f"d{i}")
        seqs.append(int(r["SequenceNumber"]))
    assert seqs == sorted(seqs)
    batch = client.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "m3", "MessageGroupId": "g", "MessageDeduplicationId": "d3"},
        {"Id": "b", "MessageBody": "h0", "MessageGroupId": "h", "MessageDeduplicationId": "e0"},
    ])
    assert sorted(e["Id"] for e in batch["Successful"]) == ["a", "b"]
    assert all("SequenceNumber" in e for e in batch["Successful"])
    got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                 MessageSystemAttributeNames=["All"],
                                 ReceiveRequestAttemptId="attempt-1")["Messages"]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for m in got:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m)
    assert [m["Body"] for m in by_group["g"]] == ["m0", "m1", "m2", "m3"]
    assert by_group["g"][0]["Attributes"]["MessageDeduplicationId"] == "d0"
    assert int(by_group["g"][0]["Attributes"]["SequenceNumber"]) == seqs[0]
    retry = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                   ReceiveRequestAttemptId="attempt-1")["Messages"]
    assert [m["ReceiptHandle"] for m in retry] == [m["ReceiptHandle"] for m in got]
    assert "Messages" not in client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    result = client.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    assert len(result["Successful"]) == 5


def test_deduplication(client: BaseClient) -> None:
    url = _fifo(client, ContentBasedDeduplication="true")
    first = client.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    again = client.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    assert again["MessageId"] == first["MessageId"]
    assert again["SequenceNumber"] == first["SequenceNumber"]
    [m] = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                 MessageSystemAttributeNames=["All"])["Messages"]
    assert m["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same").hexdigest()


def test_expired_receipt_handle(client: BaseClient) -> None:
    url = _fifo(client, VisibilityTimeout="0")
    client.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g",
                        MessageDeduplicationId="1")
    [m] = client.receive_message(QueueUrl=url)["Messages"]
    with pytest.raises(ClientError) as exc:
        client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert _error(exc) == ("InvalidParameterValue", 400)
    assert "The receipt handle has expired." in seen(exc.value).message
    failed = client.delete_message_batch(QueueUrl=url, Entries=[
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
def test_send_errors(client: BaseClient, params: dict[str, Any], code: str,
                     mentions: str) -> None:
    url = _fifo(client)
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url, MessageBody="x", **params)
    assert _error(exc) == (code, 400)
    assert mentions in seen(exc.value).message
    assert client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_queue_errors(client: BaseClient) -> None:
    with pytest.raises(ClientError) as exc:
        client.create_queue(QueueName=unique_name(), Attributes={"FifoQueue": "true"})
    assert _error(exc) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as exc:
        client.create_queue(QueueName=unique_name() + ".fifo")  # a standard queue's name
    assert _error(exc) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as exc:
        _fifo(client, FifoThroughputLimit="perMessageGroupId")
    assert _error(exc) == ("InvalidAttributeValue", 400)
    with pytest.raises(ClientError) as exc:
        client.create_queue(QueueName=unique_name(),
                            Attributes={"ContentBasedDeduplication": "true"})
    assert _error(exc) == ("InvalidAttributeName", 400)
    std = client.create_queue(QueueName=unique_name())["QueueUrl"]
    std_arn = client.get_queue_attributes(QueueUrl=std, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as exc:
        _fifo(client, RedrivePolicy=f'{{"deadLetterTargetArn":"{std_arn}",'
                                    f'"maxReceiveCount":"2"}}')
    assert _error(exc) == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as exc:
        client.receive_message(QueueUrl=_fifo(client), ReceiveRequestAttemptId="no spaces")
    assert _error(exc) == ("InvalidParameterValue", 400)


def test_standard_queue_fifo_parameters(client: BaseClient) -> None:
    url = client.create_queue(QueueName=unique_name())["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="tenant", MessageGroupId="tenant-1")
    [m] = client.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    assert m["Attributes"]["MessageGroupId"] == "tenant-1"
    assert "SequenceNumber" not in m["Attributes"]
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert _error(exc) == ("InvalidParameterValue", 400)
