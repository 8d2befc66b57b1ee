"""Message move tasks (DLQ redrive) on the wire: boto3 over the JSON and the query
protocol, results and errors as SQS renders them."""

from __future__ import annotations

import json
import time

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.server.helpers import seen, unique_name


def _arn(client: BaseClient, url: str) -> str:
    arn: str = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    return arn


def _dlq_with_messages(client: BaseClient, n: int) -> tuple[str, str, str]:
    """(dlq url, source url, dlq arn) with ``n`` messages moved into the DLQ."""
    dlq = client.create_queue(QueueName=unique_name())["QueueUrl"]
    dlq_arn = _arn(client, dlq)
    src = client.create_queue(QueueName=unique_name(), Attributes={
        "VisibilityTimeout": "0",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
    })["QueueUrl"]
    for i in range(n):
        client.send_message(QueueUrl=src, MessageBody=f"m{i}")
    for _ in range(3 * n):
        client.receive_message(QueueUrl=src, MaxNumberOfMessages=10)
        count = client.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        if count["ApproximateNumberOfMessages"] == str(n):
            break
    return dlq, src, dlq_arn


def _wait_status(client: BaseClient, arn: str, status: str) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while True:
        [task] = client.list_message_move_tasks(SourceArn=arn)["Results"]
        if task["Status"] == status:
            return dict(task)
        assert time.monotonic() < deadline, task
        time.sleep(0.05)


def test_redrive_to_sources(any_sqs: BaseClient) -> None:
    dlq, src, dlq_arn = _dlq_with_messages(any_sqs, 3)
    handle = any_sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert handle
    task = _wait_status(any_sqs, dlq_arn, "COMPLETED")
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    assert task["ApproximateNumberOfMessagesToMove"] == 3
    assert task["SourceArn"] == dlq_arn and "TaskHandle" not in task
    assert "DestinationArn" not in task and isinstance(task["StartedTimestamp"], int)
    got = any_sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["m0", "m1", "m2"]


def test_redrive_to_destination_and_cancel(any_sqs: BaseClient) -> None:
    dlq, _, dlq_arn = _dlq_with_messages(any_sqs, 12)
    dest = any_sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    dest_arn = _arn(any_sqs, dest)
    handle = any_sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn,
                                             MaxNumberOfMessagesPerSecond=5)["TaskHandle"]
    [running] = any_sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1)["Results"]
    assert running["Status"] == "RUNNING" and running["TaskHandle"] == handle
    assert running["MaxNumberOfMessagesPerSecond"] == 5
    assert running["DestinationArn"] == dest_arn
    with pytest.raises(ClientError) as exc:
        any_sqs.start_message_move_task(SourceArn=dlq_arn)
    assert (seen(exc.value).code, seen(exc.value).status) == ("InvalidParameterValue", 400)
    moved = any_sqs.cancel_message_move_task(TaskHandle=handle)
    assert moved["ApproximateNumberOfMessagesMoved"] < 12
    task = _wait_status(any_sqs, dlq_arn, "CANCELLED")
    left = any_sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    arrived = any_sqs.get_queue_attributes(QueueUrl=dest, AttributeNames=["All"])["Attributes"]
    assert int(left["ApproximateNumberOfMessages"]) + int(
        arrived["ApproximateNumberOfMessages"]) == 12
    assert int(arrived["ApproximateNumberOfMessages"]) == task[
        "ApproximateNumberOfMessagesMoved"]


ERRORS = [
    ("not-a-dlq", "InvalidParameterValue", 400),
    ("missing-source", "ResourceNotFoundException", 404),
    ("missing-destination", "ResourceNotFoundException", 404),
    ("bad-handle", "InvalidParameterValue", 400),
    ("rate", "InvalidParameterValue", 400),
]


@pytest.mark.parametrize(("case", "code", "status"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(any_sqs: BaseClient, case: str, code: str, status: int) -> None:
    plain = any_sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    plain_arn = _arn(any_sqs, plain)
    dlq = any_sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    dlq_arn = _arn(any_sqs, dlq)
    any_sqs.create_queue(QueueName=unique_name(), Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})
    calls = {
        "not-a-dlq": lambda: any_sqs.start_message_move_task(SourceArn=plain_arn),
        "missing-source": lambda: any_sqs.start_message_move_task(
            SourceArn=plain_arn + "-gone"),
        "missing-destination": lambda: any_sqs.start_message_move_task(
            SourceArn=dlq_arn, DestinationArn=plain_arn + "-gone"),
        "bad-handle": lambda: any_sqs.cancel_message_move_task(TaskHandle="nope"),
        "rate": lambda: any_sqs.start_message_move_task(
            SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=501),
    }
    with pytest.raises(ClientError) as exc:
        calls[case]()
    assert (seen(exc.value).code, seen(exc.value).status) == (code, status)
    assert any_sqs.list_message_move_tasks(SourceArn=dlq_arn).get("Results", []) == []
