"""The SQS query protocol (what SDKs released before the 2024 JSON switch speak): raw form
POSTs and GETs answered in XML, then the same flows through a real botocore query client.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from botocore.client import BaseClient

from broker.server.app import BrokerServer
from tests.server.helpers import (
    ACCOUNT,
    REGION,
    VERSION,
    XMLNS,
    Reply,
    http_request,
    md5_of_attributes,
    md5_text,
    post_form,
    seen,
    text,
    unique_name,
    xml_error,
)


def ok(reply: Reply, operation: str) -> ET.Element:
    """The ``<{operation}Result>`` of a successful reply (checking the envelope)."""
    assert reply.status == 200, reply.body
    assert reply.content_type == "text/xml"
    root = reply.xml()
    assert root.tag == f"{{{XMLNS}}}{operation}Response", root.tag
    assert text(root, "ResponseMetadata/RequestId") == reply.header("x-amzn-RequestId")
    result = root.find(f"{operation}Result")
    return result if result is not None else ET.Element(f"{operation}Result")


def create(server: BrokerServer, name: str | None = None, **fields: str) -> str:
    reply = post_form(server.url, {"Action": "CreateQueue",
                                   "QueueName": name or unique_name(), **fields})
    return text(ok(reply, "CreateQueue"), "QueueUrl")


def queue_path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def messages(result: ET.Element) -> list[dict[str, Any]]:
    """``<Message>`` elements as boto3-like dicts."""
    out = []
    for m in result.findall("Message"):
        item: dict[str, Any] = {child.tag: child.text for child in m
                                if child.tag not in ("Attribute", "MessageAttribute")}
        item["Attributes"] = {text(a, "Name"): text(a, "Value") for a in m.findall("Attribute")}
        attrs: dict[str, dict[str, Any]] = {}
        for a in m.findall("MessageAttribute"):
            value: dict[str, Any] = {"DataType": text(a, "Value/DataType")}
            if a.find("Value/StringValue") is not None:
                value["StringValue"] = text(a, "Value/StringValue")
            if a.find("Value/BinaryValue") is not None:
                value["BinaryValue"] = base64.b64decode(text(a, "Value/BinaryValue"))
            attrs[text(a, "Name")] = value
        item["MessageAttributes"] = attrs
        out.append(item)
    return out


# -- queues -----------------------------------------------------------------------------------


def test_create_queue_with_attributes_and_tags(sqs_server: BrokerServer) -> None:
    name = unique_name()
    url = create(sqs_server, name, **{
        "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "17",
        "Attribute.2.Name": "DelaySeconds", "Attribute.2.Value": "2",
        "Tag.1.Key": "team", "Tag.1.Value": "core"})
    assert url == f"{sqs_server.url}/{ACCOUNT}/{name}"

    reply = post_form(sqs_server.url, {"Action": "GetQueueAttributes", "QueueUrl": url,
                                       "AttributeName.1": "VisibilityTimeout",
                                       "AttributeName.2": "DelaySeconds",
                                       "AttributeName.3": "QueueArn"})
    attrs = {text(a, "Name"): text(a, "Value")
             for a in ok(reply, "GetQueueAttributes").findall("Attribute")}
    assert attrs == {"VisibilityTimeout": "17", "DelaySeconds": "2",
                     "QueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"}

    tags = ok(post_form(sqs_server.url, {"Action": "ListQueueTags", "QueueUrl": url}),
              "ListQueueTags")
    assert [(text(t, "Key"), text(t, "Value")) for t in tags.findall("Tag")] == [
        ("team", "core")]


def test_get_request_with_query_string(sqs_server: BrokerServer) -> None:
    prefix = unique_name("get")
    urls = sorted(create(sqs_server, f"{prefix}-{i}") for i in range(3))
    reply = http_request(sqs_server.url, "GET",
                         f"/?Action=ListQueues&Version={VERSION}&QueueNamePrefix={prefix}")
    listed = [e.text or "" for e in ok(reply, "ListQueues").findall("QueueUrl")]
    assert sorted(listed) == urls

    page = ok(http_request(sqs_server.url, "GET", f"/?Action=ListQueues&Version={VERSION}"
                           f"&QueueNamePrefix={prefix}&MaxResults=2"), "ListQueues")
    assert len(page.findall("QueueUrl")) == 2
    token = text(page, "NextToken")
    rest = ok(post_form(sqs_server.url, {"Action": "ListQueues", "QueueNamePrefix": prefix,
                                         "MaxResults": "2", "NextToken": token}), "ListQueues")
    assert len(rest.findall("QueueUrl")) == 1 and rest.find("NextToken") is None


def test_get_queue_url_set_attributes_tag_untag_purge_delete(sqs_server: BrokerServer) -> None:
    name = unique_name()
    url = create(sqs_server, name)
    got = ok(post_form(sqs_server.url, {"Action": "GetQueueUrl", "QueueName": name}),
             "GetQueueUrl")
    assert text(got, "QueueUrl") == url

    ok(post_form(sqs_server.url, {"Action": "SetQueueAttributes", "QueueUrl": url,
                                  "Attribute.1.Name": "VisibilityTimeout",
                                  "Attribute.1.Value": "99"}), "SetQueueAttributes")
    attrs = ok(post_form(sqs_server.url, {"Action": "GetQueueAttributes", "QueueUrl": url,
                                          "AttributeName.1": "All"}), "GetQueueAttributes")
    values = {text(a, "Name"): text(a, "Value") for a in attrs.findall("Attribute")}
    assert values["VisibilityTimeout"] == "99" and values["MaximumMessageSize"] == "1048576"

    ok(post_form(sqs_server.url, {"Action": "TagQueue", "QueueUrl": url,
                                  "Tag.1.Key": "a", "Tag.1.Value": "1",
                                  "Tag.2.Key": "b", "Tag.2.Value": "2"}), "TagQueue")
    ok(post_form(sqs_server.url, {"Action": "UntagQueue", "QueueUrl": url, "TagKey.1": "a"}),
       "UntagQueue")
    tags = ok(post_form(sqs_server.url, {"Action": "ListQueueTags", "QueueUrl": url}),
              "ListQueueTags")
    assert {text(t, "Key"): text(t, "Value") for t in tags.findall("Tag")} == {"b": "2"}

    post_form(sqs_server.url, {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "x"})
    ok(post_form(sqs_server.url, {"Action": "PurgeQueue", "QueueUrl": url}), "PurgeQueue")
    again = post_form(sqs_server.url, {"Action": "PurgeQueue", "QueueUrl": url})
    assert again.status == 403
    assert xml_error(again)[:2] == ("Sender", "AWS.SimpleQueueService.PurgeQueueInProgress")

    ok(post_form(sqs_server.url, {"Action": "DeleteQueue", "QueueUrl": url}), "DeleteQueue")
    gone = post_form(sqs_server.url, {"Action": "GetQueueUrl", "QueueName": name})
    assert gone.status == 400
    assert xml_error(gone) == ("Sender", "AWS.SimpleQueueService.NonExistentQueue",
                               "The specified queue does not exist.")


def test_list_dead_letter_source_queues(sqs_server: BrokerServer) -> None:
    dlq = create(sqs_server)
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq.rsplit('/', 1)[1]}"
    source = create(sqs_server, **{
        "Attribute.1.Name": "RedrivePolicy",
        "Attribute.1.Value": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})})
    result = ok(post_form(sqs_server.url, {"Action": "ListDeadLetterSourceQueues",
                                           "QueueUrl": dlq}), "ListDeadLetterSourceQueues")
    assert [e.text for e in result.findall("QueueUrl")] == [source]


# -- messages ------------------------------------------------------------------------------


def test_send_to_queue_url_path_without_queue_url(sqs_server: BrokerServer) -> None:
    url = create(sqs_server)
    body = "a b+c&d=é <tag> \r\n"
    sent = ok(post_form(sqs_server.url, {"Action": "SendMessage", "MessageBody": body},
                        path=queue_path(url)), "SendMessage")
    assert text(sent, "MD5OfMessageBody") == md5_text(body)

    got = ok(post_form(sqs_server.url, {"Action": "ReceiveMessage", "AttributeName.1": "All"},
                       path=queue_path(url)), "ReceiveMessage")
    [message] = messages(got)
    assert message["Body"] == body  # the carriage return survives XML (sent as &#13;)
    assert message["MessageId"] == text(sent, "MessageId")
    assert message["MD5OfBody"] == md5_text(body)
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert message["Attributes"]["SenderId"] == ACCOUNT

    ok(post_form(sqs_server.url, {"Action": "DeleteMessage",
                                  "ReceiptHandle": message["ReceiptHandle"]},
                 path=queue_path(url)), "DeleteMessage")
    empty = ok(post_form(sqs_server.url, {"Action": "ReceiveMessage"}, path=queue_path(url)),
               "ReceiveMessage")
    assert messages(empty) == []


def test_message_attributes(sqs_server: BrokerServer) -> None:
    url = create(sqs_server)
    blob = bytes(range(256))
    sent = ok(post_form(sqs_server.url, {
        "Action": "SendMessage", "QueueUrl": url, "MessageBody": "with attributes",
        "MessageAttribute.1.Name": "text",
        "MessageAttribute.1.Value.DataType": "String",
        "MessageAttribute.1.Value.StringValue": "héllo",
        "MessageAttribute.2.Name": "count",
        "MessageAttribute.2.Value.DataType": "Number.int",
        "MessageAttribute.2.Value.StringValue": "42",
        "MessageAttribute.3.Name": "blob",
        "MessageAttribute.3.Value.DataType": "Binary",
        "MessageAttribute.3.Value.BinaryValue": base64.b64encode(blob).decode(),
    }), "SendMessage")
    expected: dict[str, dict[str, Any]] = {
        "text": {"DataType": "String", "StringValue": "héllo"},
        "count": {"DataType": "Number.int", "StringValue": "42"},
        "blob": {"DataType": "Binary", "BinaryValue": blob}}
    assert text(sent, "MD5OfMessageAttributes") == md5_of_attributes(expected)

    got = ok(post_form(sqs_server.url, {"Action": "ReceiveMessage", "QueueUrl": url,
                                        "MessageAttributeName.1": "All",
                                        "VisibilityTimeout": "0"}), "ReceiveMessage")
    [message] = messages(got)
    assert message["MessageAttributes"] == expected
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(expected)

    some = ok(post_form(sqs_server.url, {"Action": "ReceiveMessage", "QueueUrl": url,
                                         "MessageAttributeName.1": "count",
                                         "MessageAttributeName.2": "blob"}), "ReceiveMessage")
    assert set(messages(some)[0]["MessageAttributes"]) == {"count", "blob"}


def test_batches(sqs_server: BrokerServer) -> None:
    url = create(sqs_server)
    sent = ok(post_form(sqs_server.url, {
        "Action": "SendMessageBatch", "QueueUrl": url,
        "SendMessageBatchRequestEntry.1.Id": "one",
        "SendMessageBatchRequestEntry.1.MessageBody": "first",
        "SendMessageBatchRequestEntry.2.Id": "two",
        "SendMessageBatchRequestEntry.2.MessageBody": "second",
        "SendMessageBatchRequestEntry.2.MessageAttribute.1.Name": "k",
        "SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType": "String",
        "SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue": "v",
        "SendMessageBatchRequestEntry.3.Id": "bad",
        "SendMessageBatchRequestEntry.3.MessageBody": "\x01",
    }), "SendMessageBatch")
    ok_ids = {text(e, "Id"): e for e in sent.findall("SendMessageBatchResultEntry")}
    assert set(ok_ids) == {"one", "two"}
    assert text(ok_ids["two"], "MD5OfMessageAttributes") == md5_of_attributes(
        {"k": {"DataType": "String", "StringValue": "v"}})
    [failed] = sent.findall("BatchResultErrorEntry")
    assert (text(failed, "Id"), text(failed, "Code"), text(failed, "SenderFault")) == (
        "bad", "InvalidMessageContents", "true")

    got = ok(post_form(sqs_server.url, {"Action": "ReceiveMessage", "QueueUrl": url,
                                        "MaxNumberOfMessages": "10",
                                        "VisibilityTimeout": "300"}), "ReceiveMessage")
    received = messages(got)
    assert sorted(m["Body"] for m in received) == ["first", "second"]
    handles = {m["Body"]: m["ReceiptHandle"] for m in received}

    changed = ok(post_form(sqs_server.url, {
        "Action": "ChangeMessageVisibilityBatch", "QueueUrl": url,
        "ChangeMessageVisibilityBatchRequestEntry.1.Id": "c1",
        "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle": handles["first"],
        "ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout": "0",
        "ChangeMessageVisibilityBatchRequestEntry.2.Id": "c2",
        "ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle": "garbage",
        "ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout": "0",
    }), "ChangeMessageVisibilityBatch")
    assert [text(e, "Id") for e in changed.findall("ChangeMessageVisibilityBatchResultEntry")
            ] == ["c1"]
    assert [(text(e, "Id"), text(e, "Code")) for e in changed.findall("BatchResultErrorEntry")
            ] == [("c2", "ReceiptHandleIsInvalid")]

    again = messages(ok(post_form(sqs_server.url, {"Action": "ReceiveMessage", "QueueUrl": url}),
                        "ReceiveMessage"))
    assert [m["Body"] for m in again] == ["first"]
    ok(post_form(sqs_server.url, {"Action": "ChangeMessageVisibility", "QueueUrl": url,
                                  "ReceiptHandle": again[0]["ReceiptHandle"],
                                  "VisibilityTimeout": "120"}), "ChangeMessageVisibility")

    deleted = ok(post_form(sqs_server.url, {
        "Action": "DeleteMessageBatch", "QueueUrl": url,
        "DeleteMessageBatchRequestEntry.1.Id": "d1",
        "DeleteMessageBatchRequestEntry.1.ReceiptHandle": again[0]["ReceiptHandle"],
        "DeleteMessageBatchRequestEntry.2.Id": "d2",
        "DeleteMessageBatchRequestEntry.2.ReceiptHandle": handles["second"],
    }), "DeleteMessageBatch")
    assert sorted(text(e, "Id") for e in deleted.findall("DeleteMessageBatchResultEntry")
                  ) == ["d1", "d2"]
    assert deleted.findall("BatchResultErrorEntry") == []


# -- errors --------------------------------------------------------------------------------


ERRORS: list[tuple[str, dict[str, str], int, str, str | None]] = [
    ("missing-queue", {"Action": "GetQueueUrl", "QueueName": "no-such-queue-anywhere"}, 400,
     "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."),
    ("unknown-action", {"Action": "Frobnicate"}, 400, "InvalidAction",
     "The action Frobnicate is not valid for this web service."),
    ("missing-action", {}, 400, "MissingAction",
     "The request must contain the parameter Action."),
    ("missing-parameter", {"Action": "GetQueueUrl"}, 400, "MissingParameter",
     "The request must contain the parameter QueueName."),
    ("not-an-integer", {"Action": "ListQueues", "MaxResults": "ten"}, 400,
     "InvalidParameterValue",
     "Value ten for parameter MaxResults is invalid. Reason: Must be an integer."),
    ("bad-name", {"Action": "CreateQueue", "QueueName": "no spaces"}, 400,
     "InvalidParameterValue", None),
    ("bad-attribute", {"Action": "CreateQueue", "QueueName": "fine",
                       "Attribute.1.Name": "Nope", "Attribute.1.Value": "1"}, 400,
     "InvalidAttributeName", "Unknown Attribute Nope."),
    ("map-entry-without-value", {"Action": "CreateQueue", "QueueName": "fine",
                                 "Attribute.1.Name": "VisibilityTimeout"}, 400,
     "MissingParameter", "The request must contain the parameter Attribute.1.Value."),
    ("unsupported", {"Action": "AddPermission", "QueueUrl": "http://h/000000000000/q",
                     "Label": "l", "AWSAccountId.1": "1", "ActionName.1": "SendMessage"}, 400,
     "AWS.SimpleQueueService.UnsupportedOperation", None),
]


@pytest.mark.parametrize(("fields", "status", "code", "message"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_error_responses(sqs_server: BrokerServer, fields: dict[str, str], status: int,
                         code: str, message: str | None) -> None:
    reply = post_form(sqs_server.url, fields)
    assert reply.status == status
    kind, got_code, got_message = xml_error(reply)
    assert (kind, got_code) == ("Sender", code)
    if message is not None:
        assert got_message == message


def test_batch_errors(sqs_server: BrokerServer) -> None:
    url = create(sqs_server)
    # an empty list travels as its bare name (what botocore's query serializer sends)
    empty = post_form(sqs_server.url, {"Action": "SendMessageBatch", "QueueUrl": url,
                                       "SendMessageBatchRequestEntry": ""})
    assert (empty.status, xml_error(empty)[1]) == (400,
                                                   "AWS.SimpleQueueService.EmptyBatchRequest")
    absent = post_form(sqs_server.url, {"Action": "SendMessageBatch", "QueueUrl": url})
    assert (absent.status, xml_error(absent)[1:]) == (
        400, ("MissingParameter", "The request must contain the parameter Entries."))
    fields = {"Action": "DeleteMessageBatch", "QueueUrl": url}
    for i in (1, 2):
        fields[f"DeleteMessageBatchRequestEntry.{i}.Id"] = "same"
        fields[f"DeleteMessageBatchRequestEntry.{i}.ReceiptHandle"] = "h"
    dup = post_form(sqs_server.url, fields)
    assert (dup.status, xml_error(dup)[1]) == (
        400, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")


def test_existing_name_with_other_attributes(sqs_server: BrokerServer) -> None:
    name = unique_name()
    create(sqs_server, name)
    reply = post_form(sqs_server.url, {"Action": "CreateQueue", "QueueName": name,
                                       "Attribute.1.Name": "DelaySeconds",
                                       "Attribute.1.Value": "5"})
    assert reply.status == 400
    assert xml_error(reply)[:2] == ("Sender", "QueueAlreadyExists")


def test_missing_queue_at_queue_url_path(sqs_server: BrokerServer) -> None:
    reply = post_form(sqs_server.url, {"Action": "SendMessage", "MessageBody": "x"},
                      path=f"/{ACCOUNT}/{unique_name()}")
    assert reply.status == 400
    assert xml_error(reply)[1] == "AWS.SimpleQueueService.NonExistentQueue"


# -- a real botocore client on the query protocol ----------------------------------------


def test_botocore_query_client_main_flow(query_sqs: BaseClient) -> None:
    name = unique_name()
    created = query_sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "9"},
                                     tags={"t": "1"})
    assert created["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "text/xml"
    url = created["QueueUrl"]
    assert query_sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in query_sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    assert query_sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"t": "1"}

    attributes: dict[str, dict[str, Any]] = {
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
        "n": {"DataType": "Number", "StringValue": "1.5"}}
    sent = query_sqs.send_message(QueueUrl=url, MessageBody="hello",
                                  MessageAttributes=attributes)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    batch = query_sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b"}])
    assert sorted(e["Id"] for e in batch["Successful"]) == ["1", "2"]

    got: list[dict[str, Any]] = []
    for _ in range(5):
        got += query_sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
            MessageAttributeNames=["All"]).get("Messages", [])
        if len(got) == 3:
            break
    by_body = {m["Body"]: m for m in got}
    assert set(by_body) == {"hello", "a", "b"}
    assert by_body["hello"]["MessageAttributes"] == attributes
    assert by_body["hello"]["Attributes"]["ApproximateReceiveCount"] == "1"

    result = query_sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    assert len(result["Successful"]) == 3
    attrs = query_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "9" and attrs["ApproximateNumberOfMessages"] == "0"
    query_sqs.delete_queue(QueueUrl=url)


def test_botocore_query_client_errors(query_sqs: BaseClient, sqs_server: BrokerServer) -> None:
    with pytest.raises(query_sqs.exceptions.QueueDoesNotExist) as exc:
        query_sqs.get_queue_url(QueueName=unique_name())
    s = seen(exc.value)
    assert (s.code, s.status) == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    assert exc.value.response["Error"]["Type"] == "Sender"

    url = query_sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    with pytest.raises(query_sqs.exceptions.EmptyBatchRequest):
        query_sqs.send_message_batch(QueueUrl=url, Entries=[])
    with pytest.raises(query_sqs.exceptions.ReceiptHandleIsInvalid):
        query_sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage")
    with pytest.raises(query_sqs.exceptions.QueueNameExists):
        query_sqs.create_queue(QueueName=url.rsplit("/", 1)[1],
                               Attributes={"DelaySeconds": "3"})
