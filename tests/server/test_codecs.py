"""Wire codecs judged by botocore itself.

botocore's serializers produce the requests the decoders must turn back into the exact
params; botocore's parsers read what the encoders write and must get the exact dicts
back. SQS's query wire is checked against a botocore *query* model of SQS (the JSON-era
model with ``SQS_QUERY_COMPAT`` applied, i.e. what SDKs before the JSON switch used) and
against hand-written forms in the documented ``Attribute.1.Name`` style. Finally real
botocore clients (JSON, and query through the legacy model) talk to the codec through
botocore's ``before-send`` hook.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from broker import errors
from broker.server.codec_common import b64decode, parse_timestamp
from broker.server.codecs import (
    QUERY_COMPAT,
    SQS_QUERY_COMPAT,
    ServiceCodec,
    apply_query_compat,
    query_error_header,
)

botocore_session = pytest.importorskip("botocore.session")
botocore_serialize = pytest.importorskip("botocore.serialize")
botocore_parsers = pytest.importorskip("botocore.parsers")
botocore_model = pytest.importorskip("botocore.model")
botocore_awsrequest = pytest.importorskip("botocore.awsrequest")
botocore_config = pytest.importorskip("botocore.config")

URL = "http://localhost:4566/000000000000/orders"
UTC = dt.UTC

# --- models, codecs and botocore's own serializers/parsers ----------------------------


@pytest.fixture(scope="module")
def session() -> Any:
    return botocore_session.get_session()


@pytest.fixture(scope="module")
def sqs_model(session: Any) -> Any:
    return session.get_service_model("sqs")


@pytest.fixture(scope="module")
def sqs_query_description(session: Any) -> dict[str, Any]:
    raw = session.get_component("data_loader").load_service_model("sqs", "service-2")
    return apply_query_compat(raw, SQS_QUERY_COMPAT)


@pytest.fixture(scope="module")
def sqs_query_model(sqs_query_description: dict[str, Any]) -> Any:
    """SQS as botocore spoke it on the query protocol (before botocore 1.34.90)."""
    return botocore_model.ServiceModel(sqs_query_description, "sqs")


@pytest.fixture(scope="module")
def sqs(sqs_model: Any) -> ServiceCodec:
    return ServiceCodec(sqs_model)


@pytest.fixture(scope="module")
def sns_model(session: Any) -> Any:
    return session.get_service_model("sns")


@pytest.fixture(scope="module")
def sns(sns_model: Any) -> ServiceCodec:
    return ServiceCodec(sns_model)


@pytest.fixture(scope="module")
def kinesis_model(session: Any) -> Any:
    return session.get_service_model("kinesis")


@pytest.fixture(scope="module")
def kinesis(kinesis_model: Any) -> ServiceCodec:
    return ServiceCodec(kinesis_model)


QUERY_SERIALIZER = botocore_serialize.create_serializer("query", include_validation=True)
JSON_SERIALIZER = botocore_serialize.create_serializer("json", include_validation=True)
QUERY_PARSER = botocore_parsers.create_parser("query")
JSON_PARSER = botocore_parsers.create_parser("json")


def query_form(model: Any, operation: str, params: Mapping[str, Any]) -> dict[str, str]:
    """The form botocore sends, through URL encoding and back as a server reads it."""
    body = QUERY_SERIALIZER.serialize_to_request(params, model.operation_model(operation))["body"]
    return dict(parse_qsl(urlencode(body), keep_blank_values=True))


def json_body(model: Any, operation: str, params: Mapping[str, Any]) -> bytes:
    request = JSON_SERIALIZER.serialize_to_request(params, model.operation_model(operation))
    body: bytes = request["body"]
    return body


def parse_query(model: Any, operation: str, xml: bytes, status: int = 200) -> dict[str, Any]:
    shape = model.operation_model(operation).output_shape if status == 200 else None
    parsed: dict[str, Any] = QUERY_PARSER.parse(
        {"body": xml, "headers": {}, "status_code": status}, shape
    )
    return parsed


def parse_json(
    model: Any, operation: str, body: bytes, status: int = 200, headers: Any = None
) -> dict[str, Any]:
    shape = model.operation_model(operation).output_shape if status == 200 else None
    parsed: dict[str, Any] = JSON_PARSER.parse(
        {"body": body, "headers": headers or {}, "status_code": status}, shape
    )
    return parsed


def without_metadata(parsed: dict[str, Any]) -> dict[str, Any]:
    parsed.pop("ResponseMetadata", None)
    return parsed


# --- SQS requests ----------------------------------------------------------------------

TEXT = "héllo <b>&amp;</b> \"q\" 'a' ]]> \r\n\ttab 😀 \u2028 end\r"

SQS_REQUESTS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (
        "CreateQueue",
        {
            "QueueName": "orders.fifo",
            "Attributes": {
                "FifoQueue": "true",
                "VisibilityTimeout": "45",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": "arn:x", "maxReceiveCount": 3}),
            },
            "tags": {"team": "payments", "env": "prod"},
        },
        {
            "Attribute.1.Name": "FifoQueue",
            "Attribute.1.Value": "true",
            "Attribute.2.Name": "VisibilityTimeout",
            "Tag.1.Key": "team",
            "Tag.2.Value": "prod",
        },
    ),
    (
        "SendMessage",
        {
            "QueueUrl": URL,
            "MessageBody": TEXT,
            "DelaySeconds": 5,
            "MessageAttributes": {
                "colour": {"DataType": "String", "StringValue": "blue <&>"},
                "price": {"DataType": "Number.float", "StringValue": "12.50"},
                "blob": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
            },
            "MessageSystemAttributes": {
                "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd86"}
            },
            "MessageDeduplicationId": "dedup-1",
            "MessageGroupId": "group-1",
        },
        {
            "MessageBody": TEXT,
            "DelaySeconds": "5",
            "MessageAttribute.1.Name": "colour",
            "MessageAttribute.1.Value.DataType": "String",
            "MessageAttribute.1.Value.StringValue": "blue <&>",
            "MessageAttribute.3.Value.BinaryValue": base64.b64encode(bytes(range(256))).decode(),
            "MessageSystemAttribute.1.Name": "AWSTraceHeader",
            "MessageSystemAttribute.1.Value.StringValue": "Root=1-5759e988-bd86",
        },
    ),
    (
        "SendMessageBatch",
        {
            "QueueUrl": URL,
            "Entries": [
                {
                    "Id": "a",
                    "MessageBody": "first",
                    "DelaySeconds": 0,
                    "MessageAttributes": {
                        "n": {"DataType": "Binary", "BinaryValue": b"\x00\xff\x10"},
                        "s": {"DataType": "String", "StringValue": "x"},
                    },
                },
                {
                    "Id": "b",
                    "MessageBody": TEXT,
                    "MessageAttributes": {"k": {"DataType": "Number", "StringValue": "-1e3"}},
                    "MessageSystemAttributes": {
                        "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}
                    },
                    "MessageGroupId": "g",
                },
            ],
        },
        {
            "SendMessageBatchRequestEntry.1.Id": "a",
            "SendMessageBatchRequestEntry.1.DelaySeconds": "0",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "n",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.BinaryValue": "AP8Q",
            "SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType": "Number",
            "SendMessageBatchRequestEntry.2.MessageSystemAttribute.1.Name": "AWSTraceHeader",
        },
    ),
    (
        "ReceiveMessage",
        {
            "QueueUrl": URL,
            "AttributeNames": ["All", "SentTimestamp"],
            "MessageAttributeNames": ["colour", "trace.*"],
            "MaxNumberOfMessages": 10,
            "VisibilityTimeout": 30,
            "WaitTimeSeconds": 20,
            "ReceiveRequestAttemptId": "attempt-1",
        },
        {
            "AttributeName.1": "All",
            "AttributeName.2": "SentTimestamp",
            "MessageAttributeName.2": "trace.*",
            "MaxNumberOfMessages": "10",
        },
    ),
    (
        "DeleteMessage",
        {"QueueUrl": URL, "ReceiptHandle": "rh+/=="},
        {"ReceiptHandle": "rh+/=="},
    ),
    (
        "DeleteMessageBatch",
        {
            "QueueUrl": URL,
            "Entries": [{"Id": "a", "ReceiptHandle": "rh-1"}, {"Id": "b", "ReceiptHandle": "rh-2"}],
        },
        {
            "DeleteMessageBatchRequestEntry.1.Id": "a",
            "DeleteMessageBatchRequestEntry.2.ReceiptHandle": "rh-2",
        },
    ),
    (
        "ChangeMessageVisibility",
        {"QueueUrl": URL, "ReceiptHandle": "rh", "VisibilityTimeout": 0},
        {"VisibilityTimeout": "0"},
    ),
    (
        "ChangeMessageVisibilityBatch",
        {
            "QueueUrl": URL,
            "Entries": [
                {"Id": "a", "ReceiptHandle": "rh-1", "VisibilityTimeout": 43200},
                {"Id": "b", "ReceiptHandle": "rh-2", "VisibilityTimeout": 0},
            ],
        },
        {
            "ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout": "43200",
            "ChangeMessageVisibilityBatchRequestEntry.2.Id": "b",
        },
    ),
    (
        "TagQueue",
        {"QueueUrl": URL, "Tags": {"team": "payments", "cost-centre": "42"}},
        {"Tag.1.Key": "team", "Tag.1.Value": "payments", "Tag.2.Key": "cost-centre"},
    ),
    (
        "UntagQueue",
        {"QueueUrl": URL, "TagKeys": ["team", "cost-centre"]},
        {"TagKey.1": "team", "TagKey.2": "cost-centre"},
    ),
    (
        "GetQueueAttributes",
        {"QueueUrl": URL, "AttributeNames": ["ApproximateNumberOfMessages", "QueueArn"]},
        {"AttributeName.1": "ApproximateNumberOfMessages", "AttributeName.2": "QueueArn"},
    ),
    (
        "SetQueueAttributes",
        {"QueueUrl": URL, "Attributes": {"DelaySeconds": "10", "Policy": '{"a": "<&>"}'}},
        {"Attribute.2.Name": "Policy", "Attribute.2.Value": '{"a": "<&>"}'},
    ),
    (
        "ListQueues",
        {"QueueNamePrefix": "ord", "MaxResults": 1000, "NextToken": "tok=="},
        {"QueueNamePrefix": "ord", "MaxResults": "1000", "NextToken": "tok=="},
    ),
    (
        "AddPermission",
        {
            "QueueUrl": URL,
            "Label": "l",
            "AWSAccountIds": ["111122223333", "444455556666"],
            "Actions": ["SendMessage", "ReceiveMessage"],
        },
        {"AWSAccountId.2": "444455556666", "ActionName.1": "SendMessage"},
    ),
    (
        "StartMessageMoveTask",
        {"SourceArn": "arn:dlq", "DestinationArn": "arn:q", "MaxNumberOfMessagesPerSecond": 50},
        {"MaxNumberOfMessagesPerSecond": "50"},
    ),
]


@pytest.mark.parametrize(
    ("operation", "params", "wire"), SQS_REQUESTS, ids=[c[0] for c in SQS_REQUESTS]
)
def test_sqs_query_requests_round_trip(
    sqs: ServiceCodec,
    sqs_query_model: Any,
    operation: str,
    params: dict[str, Any],
    wire: dict[str, str],
) -> None:
    form = query_form(sqs_query_model, operation, params)
    assert form["Action"] == operation
    assert {k: form.get(k) for k in wire} == wire  # the documented query names
    assert sqs.decode_query(operation, form) == params


@pytest.mark.parametrize(
    ("operation", "params"),
    [(op, params) for op, params, _ in SQS_REQUESTS]
    + [
        (
            "ReceiveMessage",
            {
                "QueueUrl": URL,
                "AttributeNames": ["All"],
                "MessageSystemAttributeNames": ["SenderId", "AWSTraceHeader"],
                "MessageAttributeNames": ["All"],
                "MaxNumberOfMessages": 1,
            },
        )
    ],
    ids=[c[0] for c in SQS_REQUESTS] + ["ReceiveMessage-system-names"],
)
def test_sqs_json_requests_round_trip(
    sqs: ServiceCodec, sqs_model: Any, operation: str, params: dict[str, Any]
) -> None:
    assert sqs.decode_json(operation, json_body(sqs_model, operation, params)) == params


def test_documented_sqs_query_forms_decode(sqs: ServiceCodec) -> None:
    """Forms written the way the SQS API reference shows them, independent of botocore."""
    send = {
        "Action": "SendMessage",
        "Version": "2012-11-05",
        "QueueUrl": URL,
        "MessageBody": "This is a test message",
        "MessageAttribute.1.Name": "my_attribute_name_1",
        "MessageAttribute.1.Value.StringValue": "my_attribute_value_1",
        "MessageAttribute.1.Value.DataType": "String",
        "MessageAttribute.2.Name": "my_attribute_name_2",
        "MessageAttribute.2.Value.BinaryValue": "AQID",
        "MessageAttribute.2.Value.DataType": "Binary",
        "AWSAccessKeyId": "AKIDEXAMPLE",
        "SignatureVersion": "2",
    }
    assert sqs.decode_query("SendMessage", send) == {
        "QueueUrl": URL,
        "MessageBody": "This is a test message",
        "MessageAttributes": {
            "my_attribute_name_1": {"StringValue": "my_attribute_value_1", "DataType": "String"},
            "my_attribute_name_2": {"BinaryValue": b"\x01\x02\x03", "DataType": "Binary"},
        },
    }
    create = {
        "Action": "CreateQueue",
        "QueueName": "MyQueue",
        "Attribute.1.Name": "VisibilityTimeout",
        "Attribute.1.Value": "40",
        "Tag.Key": "ignored: no index",
        "Tag.1.Key": "QueueType",
        "Tag.1.Value": "Production",
    }
    assert sqs.decode_query("CreateQueue", create) == {
        "QueueName": "MyQueue",
        "Attributes": {"VisibilityTimeout": "40"},
        "tags": {"QueueType": "Production"},
    }
    receive = {
        "Action": "ReceiveMessage",
        "QueueUrl": URL,
        "AttributeName.10": "SentTimestamp",  # numeric order, not text order
        "AttributeName.2": "SenderId",
        "AttributeName.1": "All",
        "MessageAttributeName": "",  # an empty list, as botocore sends []
        "MaxNumberOfMessages": "5",
    }
    assert sqs.decode_query("ReceiveMessage", receive) == {
        "QueueUrl": URL,
        "AttributeNames": ["All", "SenderId", "SentTimestamp"],
        "MessageAttributeNames": [],
        "MaxNumberOfMessages": 5,
    }


def test_system_attribute_names_share_the_query_name(
    sqs: ServiceCodec, sqs_query_model: Any
) -> None:
    """On the query wire both lists are ``AttributeName.N``; they decode as AttributeNames."""
    params = {"QueueUrl": URL, "MessageSystemAttributeNames": ["SenderId"]}
    form = query_form(sqs_query_model, "ReceiveMessage", params)
    assert form["AttributeName.1"] == "SenderId"
    assert sqs.decode_query("ReceiveMessage", form) == {
        "QueueUrl": URL,
        "AttributeNames": ["SenderId"],
    }


def test_empty_list_round_trips_on_both_protocols(
    sqs: ServiceCodec, sqs_query_model: Any, sqs_model: Any
) -> None:
    params: dict[str, Any] = {"QueueUrl": URL, "TagKeys": []}
    assert (
        sqs.decode_query("UntagQueue", query_form(sqs_query_model, "UntagQueue", params)) == params
    )
    assert sqs.decode_json("UntagQueue", json_body(sqs_model, "UntagQueue", params)) == params


# --- SQS responses ---------------------------------------------------------------------

SENT = "1700000000123"

SQS_RESPONSES: list[tuple[str, dict[str, Any]]] = [
    (
        "ReceiveMessage",
        {
            "Messages": [
                {
                    "MessageId": "5fea7756-0ea4-451a-a703-a558b933e274",
                    "ReceiptHandle": "MbZj6wDWli+JvwwJaBV+3dcjk2YW2vA3+STFFljTM8tJJg6HRG6PYSas",
                    "MD5OfBody": hashlib.md5(TEXT.encode()).hexdigest(),
                    "Body": TEXT,
                    "Attributes": {
                        "SenderId": "AIDAEXAMPLE",
                        "SentTimestamp": SENT,
                        "ApproximateReceiveCount": "1",
                        "ApproximateFirstReceiveTimestamp": SENT,
                    },
                    "MD5OfMessageAttributes": "d25a6aea97eb8f585bfa92d314504a92",
                    "MessageAttributes": {
                        "colour": {"StringValue": "<blue> & \r\n", "DataType": "String"},
                        "price": {"StringValue": "12.5", "DataType": "Number"},
                        "raw": {"BinaryValue": b"\x00\x01\xfe\xff", "DataType": "Binary.gz"},
                    },
                },
                {
                    "MessageId": "m2",
                    "ReceiptHandle": "rh2",
                    "MD5OfBody": "d41d8cd98f00b204e9800998ecf8427e",
                    "Body": "",
                },
            ]
        },
    ),
    (
        "SendMessage",
        {
            "MD5OfMessageBody": "51b0a325",
            "MD5OfMessageAttributes": "00484c68",
            "MD5OfMessageSystemAttributes": "5ae4d5d7",
            "MessageId": "id-1",
            "SequenceNumber": "18849496460467696128",
        },
    ),
    (
        "SendMessageBatch",
        {
            "Successful": [
                {"Id": "a", "MessageId": "id-a", "MD5OfMessageBody": "x", "SequenceNumber": "1"},
                {
                    "Id": "b",
                    "MessageId": "id-b",
                    "MD5OfMessageBody": "y",
                    "MD5OfMessageAttributes": "z",
                },
            ],
            "Failed": [
                {
                    "Id": "c",
                    "SenderFault": True,
                    "Code": "InvalidParameterValue",
                    "Message": "Message must be shorter than 1048576 bytes <&>.",
                },
                {"Id": "d", "SenderFault": False, "Code": "InternalError"},
            ],
        },
    ),
    (
        "DeleteMessageBatch",
        {
            "Successful": [{"Id": "a"}],
            "Failed": [{"Id": "b", "SenderFault": True, "Code": "ReceiptHandleIsInvalid"}],
        },
    ),
    ("ChangeMessageVisibilityBatch", {"Successful": [{"Id": "a"}, {"Id": "b"}]}),
    (
        "GetQueueAttributes",
        {
            "Attributes": {
                "QueueArn": "arn:aws:sqs:us-east-1:000000000000:orders",
                "ApproximateNumberOfMessages": "3",
                "Policy": '{"Statement": [{"Effect": "Allow", "Sid": "<&>"}]}',
            }
        },
    ),
    ("GetQueueUrl", {"QueueUrl": URL}),
    ("CreateQueue", {"QueueUrl": URL}),
    ("ListQueues", {"QueueUrls": [URL, URL + "-2", URL + ".fifo"], "NextToken": "next=="}),
    ("ListQueueTags", {"Tags": {"team": "payments", "env": "<prod>"}}),
    ("ListDeadLetterSourceQueues", {"queueUrls": [URL], "NextToken": "t"}),
    (
        "ListMessageMoveTasks",
        {
            "Results": [
                {
                    "TaskHandle": "th",
                    "Status": "RUNNING",
                    "SourceArn": "arn:dlq",
                    "MaxNumberOfMessagesPerSecond": 50,
                    "ApproximateNumberOfMessagesMoved": 12,
                    "ApproximateNumberOfMessagesToMove": 40,
                    "StartedTimestamp": 1700000000000,
                }
            ]
        },
    ),
    ("StartMessageMoveTask", {"TaskHandle": "th"}),
    ("DeleteMessage", {}),
    ("PurgeQueue", {}),
]


@pytest.mark.parametrize(("operation", "output"), SQS_RESPONSES, ids=[c[0] for c in SQS_RESPONSES])
def test_sqs_query_responses_round_trip(
    sqs: ServiceCodec, sqs_query_model: Any, operation: str, output: dict[str, Any]
) -> None:
    xml = sqs.encode_query_response(operation, output, "req-<1>")
    parsed = parse_query(sqs_query_model, operation, xml)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-<1>"
    assert parsed == output


@pytest.mark.parametrize(("operation", "output"), SQS_RESPONSES, ids=[c[0] for c in SQS_RESPONSES])
def test_sqs_json_responses_round_trip(
    sqs: ServiceCodec, sqs_model: Any, operation: str, output: dict[str, Any]
) -> None:
    body = sqs.encode_json(operation, output)
    assert without_metadata(parse_json(sqs_model, operation, body)) == output


def test_receive_message_xml_is_what_sqs_sends(sqs: ServiceCodec) -> None:
    output = {
        "Messages": [
            {
                "MessageId": "m",
                "Body": "a\r\nb<c>&",
                "Attributes": {"SenderId": "s"},
                "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}},
            }
        ]
    }
    xml = sqs.encode_query_response("ReceiveMessage", output, "rid").decode()
    assert xml == (
        '<?xml version="1.0"?>'
        '<ReceiveMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">'
        "<ReceiveMessageResult><Message><MessageId>m</MessageId>"
        "<Body>a&#13;\nb&lt;c&gt;&amp;</Body>"
        "<Attribute><Name>SenderId</Name><Value>s</Value></Attribute>"
        "<MessageAttribute><Name>k</Name><Value><StringValue>v</StringValue>"
        "<DataType>String</DataType></Value></MessageAttribute>"
        "</Message></ReceiveMessageResult>"
        "<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata>"
        "</ReceiveMessageResponse>"
    )
    empty = sqs.encode_query_response("DeleteQueue", {}, "rid").decode()
    assert empty.endswith(
        '<DeleteQueueResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">'
        "<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DeleteQueueResponse>"
    )


def test_characters_xml_cannot_carry_become_replacement_characters(
    sqs: ServiceCodec, sqs_query_model: Any
) -> None:
    output = {"QueueUrl": "a\x00b\x1fc\ufffed\ud800e"}
    parsed = parse_query(
        sqs_query_model, "GetQueueUrl", sqs.encode_query_response("GetQueueUrl", output, "r")
    )
    assert parsed["QueueUrl"] == "a\ufffdb\ufffdc\ufffdd\ufffde"


def test_empty_flattened_lists_vanish_on_the_query_wire(
    sqs: ServiceCodec, sqs_query_model: Any
) -> None:
    """As on AWS: no ``<BatchResultErrorEntry>`` at all, so botocore reports no ``Failed``."""
    output = {"Successful": [{"Id": "a", "MessageId": "m", "MD5OfMessageBody": "x"}], "Failed": []}
    xml = sqs.encode_query_response("SendMessageBatch", output, "r")
    assert without_metadata(parse_query(sqs_query_model, "SendMessageBatch", xml)) == {
        "Successful": output["Successful"]
    }


def test_none_values_are_omitted(sqs: ServiceCodec, sqs_model: Any) -> None:
    output = {"QueueUrls": None, "NextToken": "t"}
    assert json.loads(sqs.encode_json("ListQueues", output)) == {"NextToken": "t"}
    assert b"QueueUrl>" not in sqs.encode_query_response("ListQueues", output, "r")
    assert sqs.encode_json("DeleteQueue", None) == b"{}"
    assert sqs.encode_json("GetQueueUrl", {}) == b"{}"


def test_unknown_output_members_are_a_bug(sqs: ServiceCodec) -> None:
    with pytest.raises(ValueError, match="QueueUrlX"):
        sqs.encode_json("GetQueueUrl", {"QueueUrlX": URL})
    with pytest.raises(ValueError, match="QueueUrlX"):
        sqs.encode_query_response("GetQueueUrl", {"QueueUrlX": URL}, "r")
    with pytest.raises(ValueError, match="QueueUrl"):
        sqs.encode_json("DeleteQueue", {"QueueUrl": URL})
    with pytest.raises(ValueError, match="QueueUrl"):
        sqs.encode_query_response("DeleteQueue", {"QueueUrl": URL}, "r")


# --- errors on the wire ----------------------------------------------------------------


def test_query_error_parses_as_botocore_reports_it(sqs: ServiceCodec) -> None:
    xml = sqs.encode_query_error(
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist <for> this wsdl version & more.",
        True,
        "req-1",
    )
    assert b'<ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">' in xml
    parsed = QUERY_PARSER.parse({"body": xml, "headers": {}, "status_code": 400}, None)
    assert parsed["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert parsed["Error"]["Message"] == (
        "The specified queue does not exist <for> this wsdl version & more."
    )
    assert parsed["Error"]["Type"] == "Sender"
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"
    receiver = QUERY_PARSER.parse(
        {
            "body": sqs.encode_query_error("InternalError", "", False, "r"),
            "headers": {},
            "status_code": 500,
        },
        None,
    )
    assert receiver["Error"]["Type"] == "Receiver"
    assert receiver["Error"]["Code"] == "InternalError"


def test_json_error_parses_as_botocore_reports_it(sqs_model: Any) -> None:
    body = ServiceCodec.encode_json_error(
        "QueueDoesNotExist", "The specified queue does not exist.", "com.amazonaws.sqs"
    )
    assert json.loads(body) == {
        "__type": "com.amazonaws.sqs#QueueDoesNotExist",
        "message": "The specified queue does not exist.",
    }
    parsed = parse_json(sqs_model, "GetQueueUrl", body, status=400)
    assert parsed["Error"]["Code"] == "QueueDoesNotExist"
    assert parsed["Error"]["Message"] == "The specified queue does not exist."
    header = query_error_header("AWS.SimpleQueueService.NonExistentQueue", True)
    assert header == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    compatible = parse_json(
        sqs_model, "GetQueueUrl", body, status=400, headers={"x-amzn-query-error": header}
    )
    assert compatible["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert compatible["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
    assert compatible["Error"]["Type"] == "Sender"
    bare = parse_json(sqs_model, "GetQueueUrl", ServiceCodec.encode_json_error("X", "m"), 400)
    assert bare["Error"]["Code"] == "X"
    odd = ServiceCodec.encode_json_error("X", "lone \ud800 surrogate, ü", "p")
    assert json.loads(odd)["message"] == "lone \ud800 surrogate, ü"


# --- malformed requests ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"{", "Malformed JSON request body"),
        (b'{"QueueUrl": "x",}', "Malformed JSON request body"),
        (b"\xff\xfe{", "not valid UTF-8"),
        (b"[]", "Start of list found where not expected."),
        (b'"x"', "STRING_VALUE can not be converted to a Structure"),
        (b'{"QueueUrl": {}}', "Start of structure or map found where not expected. (at QueueUrl)"),
        (b'{"QueueUrl": 5}', "NUMBER_VALUE can not be converted to a String (at QueueUrl)"),
        (b'{"QueueUrl": true}', "BOOLEAN_VALUE can not be converted to a String"),
        (b'{"MaxNumberOfMessages": "10"}', "STRING_VALUE can not be converted to an Integer"),
        (b'{"MaxNumberOfMessages": 1.5}', "NUMBER_VALUE can not be converted to an Integer"),
        (b'{"MaxNumberOfMessages": true}', "BOOLEAN_VALUE can not be converted to an Integer"),
        (b'{"MaxNumberOfMessages": 2147483648}', "out of range of int"),
        (b'{"AttributeNames": "All"}', "STRING_VALUE can not be converted to a List"),
        (b'{"AttributeNames": {"a": 1}}', "Start of structure or map found where not expected."),
        (b'{"AttributeNames": ["All", 7]}', "NUMBER_VALUE can not be converted to a String"),
    ],
)
def test_malformed_json_is_a_serialization_exception(
    sqs: ServiceCodec, body: bytes, text: str
) -> None:
    with pytest.raises(errors.SerializationException) as caught:
        sqs.decode_json("ReceiveMessage", body)
    assert text in caught.value.message


def test_json_errors_name_the_member(sqs: ServiceCodec) -> None:
    body = {
        "QueueUrl": URL,
        "Entries": [
            {"Id": "a", "MessageBody": "x"},
            {"Id": "b", "MessageBody": "y", "MessageAttributes": {"n": {"BinaryValue": "!!"}}},
        ],
    }
    with pytest.raises(errors.SerializationException) as caught:
        sqs.decode_json("SendMessageBatch", json.dumps(body).encode())
    assert caught.value.message == (
        "Base64 encoded value is not valid. (at Entries[1].MessageAttributes.n.BinaryValue)"
    )
    body["Entries"] = [{"Id": "a", "DelaySeconds": {"x": 1}}]
    with pytest.raises(errors.SerializationException, match=r"at Entries\[0\]\.DelaySeconds"):
        sqs.decode_json("SendMessageBatch", json.dumps(body).encode())


@pytest.mark.parametrize("blob", ["not base64!", "QUJD=", "A", "QU JD", 5])
def test_bad_base64_is_a_serialization_exception(kinesis: ServiceCodec, blob: Any) -> None:
    body = json.dumps({"StreamName": "s", "Data": blob, "PartitionKey": "k"}).encode()
    with pytest.raises(errors.SerializationException):
        kinesis.decode_json("PutRecord", body)


def test_json_leniencies(sqs: ServiceCodec, kinesis: ServiceCodec) -> None:
    """Unknown members and nulls are ignored, required members are not checked."""
    assert sqs.decode_json("SendMessage", b"{}") == {}
    assert sqs.decode_json("SendMessage", b"") == {}
    assert sqs.decode_json(
        "SendMessage",
        b'{"QueueUrl": "u", "Bogus": {"deep": [1]}, "DelaySeconds": null, "MessageBody": "b"}',
    ) == {"QueueUrl": "u", "MessageBody": "b"}
    assert sqs.decode_json("ReceiveMessage", b'{"MaxNumberOfMessages": 10.0}') == {
        "MaxNumberOfMessages": 10
    }
    assert kinesis.decode_json("PutRecord", b'{"Data": "QUJD"}') == {"Data": b"ABC"}  # no padding


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "MaxNumberOfMessages",
            "ten",
            "Value ten for parameter MaxNumberOfMessages is invalid. Reason: Must be an integer.",
        ),
        ("MaxNumberOfMessages", "1.0", "Reason: Must be an integer."),
        ("MaxNumberOfMessages", " 1", "Reason: Must be an integer."),
        ("WaitTimeSeconds", "99999999999", "Reason: Must be an integer between"),
    ],
)
def test_query_bad_scalar_is_invalid_parameter_value(
    sqs: ServiceCodec, field: str, value: str, message: str
) -> None:
    with pytest.raises(errors.InvalidParameterValue) as caught:
        sqs.decode_query("ReceiveMessage", {"QueueUrl": URL, field: value})
    assert message in caught.value.message


def test_query_nested_bad_values_name_the_field(sqs: ServiceCodec) -> None:
    form = {
        "QueueUrl": URL,
        "SendMessageBatchRequestEntry.1.Id": "a",
        "SendMessageBatchRequestEntry.2.Id": "b",
        "SendMessageBatchRequestEntry.2.DelaySeconds": "soon",
    }
    with pytest.raises(errors.InvalidParameterValue) as caught:
        sqs.decode_query("SendMessageBatch", form)
    assert caught.value.message == (
        "Value soon for parameter SendMessageBatchRequestEntry.2.DelaySeconds is invalid. "
        "Reason: Must be an integer."
    )
    blob = {
        "MessageAttribute.1.Name": "b",
        "MessageAttribute.1.Value.DataType": "Binary",
        "MessageAttribute.1.Value.BinaryValue": "%%%",
    }
    with pytest.raises(errors.InvalidParameterValue, match=r"MessageAttribute\.1\.Value\.Binary"):
        sqs.decode_query("SendMessage", blob)


def test_query_map_entries_need_their_key_and_value(sqs: ServiceCodec) -> None:
    with pytest.raises(errors.MissingParameter, match=r"parameter Attribute\.2\.Name\."):
        sqs.decode_query(
            "SetQueueAttributes",
            {"Attribute.1.Name": "a", "Attribute.1.Value": "1", "Attribute.2.Value": "2"},
        )
    with pytest.raises(errors.MissingParameter, match=r"parameter Tag\.1\.Value\."):
        sqs.decode_query("TagQueue", {"Tag.1.Key": "k"})
    # a structured value without fields is left for the action layer to judge
    assert sqs.decode_query("SendMessage", {"MessageAttribute.1.Name": "n"}) == {
        "MessageAttributes": {"n": {}}
    }


def test_sns_query_booleans(sns: ServiceCodec) -> None:
    base = {"TopicArn": "arn:t", "Protocol": "sqs"}
    for text, value in [("true", True), ("false", False), ("TRUE", True)]:
        decoded = sns.decode_query("Subscribe", {**base, "ReturnSubscriptionArn": text})
        assert decoded["ReturnSubscriptionArn"] is value
    with pytest.raises(errors.InvalidParameterValue, match="Must be a boolean"):
        sns.decode_query("Subscribe", {**base, "ReturnSubscriptionArn": "yes"})


def test_unknown_operations(sqs: ServiceCodec, sns: ServiceCodec) -> None:
    with pytest.raises(errors.InvalidAction, match="The action Frobnicate is not valid"):
        sqs.decode_query("Frobnicate", {})
    with pytest.raises(errors.MissingAction):
        sqs.operation("", "query")
    with pytest.raises(errors.UnknownOperationException):
        sqs.decode_json("Frobnicate", b"{}")
    with pytest.raises(errors.UnknownOperationException):
        sqs.operation("Frobnicate")  # SQS's own protocol is JSON
    with pytest.raises(errors.InvalidAction):
        sns.operation("Frobnicate")  # SNS's is query
    assert sqs.operation("SendMessage").name == "SendMessage"
    assert sqs.operation_for_target("AmazonSQS.SendMessage").name == "SendMessage"
    for target in ["Kinesis_20131202.SendMessage", "SendMessage", None, "AmazonSQS.Nope"]:
        with pytest.raises(errors.UnknownOperationException):
            sqs.operation_for_target(target)


def test_service_facts(sqs: ServiceCodec, sns: ServiceCodec, kinesis: ServiceCodec) -> None:
    assert (sqs.protocol, sqs.target_prefix, sqs.json_content_type) == (
        "json",
        "AmazonSQS",
        "application/x-amz-json-1.0",
    )
    assert sqs.xml_namespace == "http://queue.amazonaws.com/doc/2012-11-05/"
    assert (sns.protocol, sns.xml_namespace) == (
        "query",
        "http://sns.amazonaws.com/doc/2010-03-31/",
    )
    assert (kinesis.target_prefix, kinesis.json_content_type) == (
        "Kinesis_20131202",
        "application/x-amz-json-1.1",
    )


# --- SQS_QUERY_COMPAT against the model ------------------------------------------------


def _structures(model: Any) -> Iterator[Any]:
    seen: set[str] = set()
    pending = [
        shape
        for name in model.operation_names
        for shape in (
            model.operation_model(name).input_shape,
            model.operation_model(name).output_shape,
        )
        if shape is not None
    ]
    while pending:
        shape = pending.pop()
        if shape.name in seen:
            continue
        seen.add(shape.name)
        if shape.type_name == "structure":
            yield shape
            pending.extend(shape.members.values())
        elif shape.type_name == "list":
            pending.append(shape.member)
        elif shape.type_name == "map":
            pending.extend([shape.key, shape.value])


def test_sqs_query_compat_covers_every_list_and_map(sqs_model: Any) -> None:
    """A list or map member without its query name would travel under the JSON name."""
    assert QUERY_COMPAT["SQS"] is SQS_QUERY_COMPAT
    named = dict(SQS_QUERY_COMPAT.member_names)
    for structure in _structures(sqs_model):
        for name, member in structure.members.items():
            if member.type_name in ("list", "map"):
                assert (structure.name, name) in named, f"{structure.name}.{name}"
                del named[(structure.name, name)]
            if member.type_name == "map":
                assert member.name in SQS_QUERY_COMPAT.map_entry_names
    assert not named, f"names for members the model does not have: {sorted(named)}"


def test_query_error_codes_agree_with_the_error_classes(sqs_model: Any) -> None:
    """``broker.errors`` sends the codes the Smithy model gives for SQS's query protocol."""
    for shape, (code, _status) in SQS_QUERY_COMPAT.error_codes.items():
        assert sqs_model.shape_for(shape).metadata.get("exception"), shape
        cls = type(errors.from_code(shape))
        if cls not in (errors.ClientError, errors.ServiceError):
            assert cls.wire_code() == code, shape


def test_compat_is_not_applied_to_models_that_have_their_names(sns: ServiceCodec) -> None:
    assert sns.decode_query("ListTagsForResource", {"ResourceArn": "a"}) == {"ResourceArn": "a"}
    raw_names = ServiceCodec(sns.service_model, query_compat=None)
    assert raw_names.xml_namespace == "http://sns.amazonaws.com/doc/2010-03-31/"


# --- SNS (a query-protocol model as botocore has it) ----------------------------------

SNS_REQUESTS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (
        "Publish",
        {
            "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
            "Message": TEXT,
            "Subject": "s",
            "MessageAttributes": {
                "a": {"DataType": "String", "StringValue": "x"},
                "b": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
            },
            "MessageGroupId": "g",
        },
        {
            "MessageAttributes.entry.1.Name": "a",
            "MessageAttributes.entry.1.Value.StringValue": "x",
            "MessageAttributes.entry.2.Value.BinaryValue": "AQI=",
        },
    ),
    (
        "CreateTopic",
        {
            "Name": "t.fifo",
            "Attributes": {"FifoTopic": "true", "DisplayName": "d"},
            "Tags": [{"Key": "team", "Value": "p"}, {"Key": "env", "Value": "prod"}],
        },
        {"Tags.member.2.Key": "env"},
    ),
    (
        "Subscribe",
        {
            "TopicArn": "arn:t",
            "Protocol": "sqs",
            "Endpoint": "arn:q",
            "Attributes": {"RawMessageDelivery": "true"},
            "ReturnSubscriptionArn": True,
        },
        {"ReturnSubscriptionArn": "true"},
    ),
    (
        "PublishBatch",
        {
            "TopicArn": "arn:t",
            "PublishBatchRequestEntries": [
                {
                    "Id": "1",
                    "Message": "m",
                    "MessageAttributes": {"k": {"DataType": "Number", "StringValue": "1"}},
                },
                {"Id": "2", "Message": "n"},
            ],
        },
        {"PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name": "k"},
    ),
    ("UntagResource", {"ResourceArn": "arn:t", "TagKeys": ["a", "b"]}, {"TagKeys.member.2": "b"}),
]


@pytest.mark.parametrize(
    ("operation", "params", "wire"), SNS_REQUESTS, ids=[c[0] for c in SNS_REQUESTS]
)
def test_sns_query_requests_round_trip(
    sns: ServiceCodec,
    sns_model: Any,
    operation: str,
    params: dict[str, Any],
    wire: dict[str, str],
) -> None:
    form = query_form(sns_model, operation, params)
    assert {k: form.get(k) for k in wire} == wire
    assert sns.decode_query(operation, form) == params


SNS_RESPONSES: list[tuple[str, dict[str, Any]]] = [
    ("Publish", {"MessageId": "m", "SequenceNumber": "1"}),
    ("CreateTopic", {"TopicArn": "arn:t"}),
    ("ListTopics", {"Topics": [{"TopicArn": "arn:a"}, {"TopicArn": "arn:b"}], "NextToken": "n"}),
    ("GetTopicAttributes", {"Attributes": {"Policy": '{"a": "<&>"}', "Owner": "0"}}),
    ("ListTagsForResource", {"Tags": [{"Key": "k", "Value": "<v>"}]}),
    (
        "PublishBatch",
        {
            "Successful": [{"Id": "1", "MessageId": "m"}],
            "Failed": [{"Id": "2", "Code": "c", "Message": "m", "SenderFault": True}],
        },
    ),
    ("Subscribe", {"SubscriptionArn": "arn:s"}),
]


@pytest.mark.parametrize(("operation", "output"), SNS_RESPONSES, ids=[c[0] for c in SNS_RESPONSES])
def test_sns_query_responses_round_trip(
    sns: ServiceCodec, sns_model: Any, operation: str, output: dict[str, Any]
) -> None:
    xml = sns.encode_query_response(operation, output, "r")
    assert f'<{operation}Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'.encode() in xml
    assert without_metadata(parse_query(sns_model, operation, xml)) == output


def test_sns_empty_member_list_round_trips(sns: ServiceCodec, sns_model: Any) -> None:
    xml = sns.encode_query_response("ListTopics", {"Topics": []}, "r")
    assert without_metadata(parse_query(sns_model, "ListTopics", xml)) == {"Topics": []}


# --- Kinesis (awsJson 1.1: blobs and timestamps) --------------------------------------

WHEN = dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        (
            "PutRecords",
            {
                "StreamName": "s",
                "Records": [
                    {"Data": bytes(range(256)), "PartitionKey": "k1"},
                    {"Data": b"", "PartitionKey": "k2", "ExplicitHashKey": "1"},
                ],
            },
        ),
        ("PutRecord", {"StreamName": "s", "Data": b"\x00", "PartitionKey": "p"}),
        (
            "GetShardIterator",
            {
                "StreamName": "s",
                "ShardId": "shardId-000000000000",
                "ShardIteratorType": "AT_TIMESTAMP",
                "Timestamp": WHEN,
            },
        ),
        ("ListShards", {"StreamName": "s", "StreamCreationTimestamp": WHEN.replace(microsecond=0)}),
    ],
    ids=["PutRecords", "PutRecord", "GetShardIterator", "ListShards"],
)
def test_kinesis_json_requests_round_trip(
    kinesis: ServiceCodec, kinesis_model: Any, operation: str, params: dict[str, Any]
) -> None:
    assert kinesis.decode_json(operation, json_body(kinesis_model, operation, params)) == params


@pytest.mark.parametrize(
    ("operation", "output"),
    [
        (
            "GetRecords",
            {
                "Records": [
                    {
                        "SequenceNumber": "4954",
                        "ApproximateArrivalTimestamp": WHEN,
                        "Data": b"\xff\x00payload",
                        "PartitionKey": "k",
                        "EncryptionType": "NONE",
                    }
                ],
                "NextShardIterator": "it",
                "MillisBehindLatest": 0,
            },
        ),
        (
            "DescribeStreamSummary",
            {
                "StreamDescriptionSummary": {
                    "StreamName": "s",
                    "StreamARN": "arn:s",
                    "StreamStatus": "ACTIVE",
                    "RetentionPeriodHours": 24,
                    "StreamCreationTimestamp": WHEN.replace(microsecond=0),
                    "EnhancedMonitoring": [{"ShardLevelMetrics": ["IncomingBytes"]}],
                    "OpenShardCount": 2,
                }
            },
        ),
    ],
    ids=["GetRecords", "DescribeStreamSummary"],
)
def test_kinesis_json_responses_round_trip(
    kinesis: ServiceCodec, kinesis_model: Any, operation: str, output: dict[str, Any]
) -> None:
    body = kinesis.encode_json(operation, output)
    assert without_metadata(parse_json(kinesis_model, operation, body)) == output


def test_timestamps_accept_naive_and_numbers(kinesis: ServiceCodec) -> None:
    naive = dt.datetime(2024, 1, 1, 0, 0, 1)
    out: dict[str, Any] = {"Records": [], "NextShardIterator": None, "MillisBehindLatest": 1}
    assert json.loads(kinesis.encode_json("GetRecords", out)) == {
        "Records": [],
        "MillisBehindLatest": 1,
    }
    record = {
        "Records": [
            {
                "SequenceNumber": "1",
                "Data": b"",
                "PartitionKey": "k",
                "ApproximateArrivalTimestamp": naive,
            }
        ]
    }
    encoded = json.loads(kinesis.encode_json("GetRecords", record))
    assert encoded["Records"][0]["ApproximateArrivalTimestamp"] == 1704067201
    iso = kinesis.decode_json("GetShardIterator", b'{"Timestamp": "2024-01-01T00:00:01Z"}')[
        "Timestamp"
    ]
    assert iso == naive.replace(tzinfo=UTC)
    assert parse_timestamp("Mon, 01 Jan 2024 00:00:01 GMT") == naive.replace(tzinfo=UTC)
    with pytest.raises(errors.SerializationException, match="Timestamp"):
        kinesis.decode_json("GetShardIterator", b'{"Timestamp": "yesterday"}')
    assert b64decode("QUI") == b"AB"


# --- real botocore clients against the codec ------------------------------------------


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _fake_sqs(sqs: ServiceCodec, handlers: dict[str, Handler], seen: list[Any]) -> Any:
    """A ``before-send`` hook answering like the server would, with ``sqs``."""

    def before_send(request: Any, **_: Any) -> Any:
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        target = request.headers.get("X-Amz-Target")
        status, headers = 200, {}
        if target is not None:
            operation = sqs.operation_for_target(
                target.decode() if isinstance(target, bytes) else target
            ).name
            params = sqs.decode_json(operation, body)
        else:
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
            operation = form["Action"]
            params = sqs.decode_query(operation, form)
        seen.append((operation, params))
        try:
            result = handlers[operation](params)
        except errors.BrokerError as exc:
            status = exc.http_status
            if target is not None:
                payload = sqs.encode_json_error(exc.code, exc.message, "com.amazonaws.sqs")
                headers = {"x-amzn-query-error": query_error_header(exc.wire_code(), True)}
            else:
                payload = sqs.encode_query_error(exc.wire_code(), exc.message, True, "rid")
        else:
            payload = (
                sqs.encode_json(operation, result)
                if target is not None
                else sqs.encode_query_response(operation, result, "rid")
            )
        return botocore_awsrequest.AWSResponse(request.url, status, headers, _Raw(payload))

    return before_send


def _handlers() -> dict[str, Handler]:
    def send(params: dict[str, Any]) -> dict[str, Any]:
        return {
            "MessageId": "id-1",
            "MD5OfMessageBody": hashlib.md5(params["MessageBody"].encode()).hexdigest(),
        }

    def receive(params: dict[str, Any]) -> dict[str, Any]:
        return {
            "Messages": [
                {
                    "MessageId": "id-1",
                    "ReceiptHandle": "rh",
                    "Body": TEXT,
                    "Attributes": {"SentTimestamp": SENT},
                    "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\x00"}},
                }
            ]
        }

    def get_url(params: dict[str, Any]) -> dict[str, Any]:
        raise errors.QueueDoesNotExist("The specified queue does not exist.")

    return {"SendMessage": send, "ReceiveMessage": receive, "GetQueueUrl": get_url}


def _exercise(client: Any) -> None:
    sent = client.send_message(
        QueueUrl=URL,
        MessageBody=TEXT,
        MessageAttributes={"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
    )
    assert sent["MessageId"] == "id-1"
    received = client.receive_message(QueueUrl=URL, AttributeNames=["All"])
    message = received["Messages"][0]
    assert message["Body"] == TEXT
    assert message["Attributes"] == {"SentTimestamp": SENT}
    assert message["MessageAttributes"]["b"]["BinaryValue"] == b"\x00"
    with pytest.raises(client.exceptions.QueueDoesNotExist) as caught:
        client.get_queue_url(QueueName="nope")
    assert caught.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def _client(session: Any) -> Any:
    return session.create_client(
        "sqs",
        region_name="us-east-1",
        endpoint_url="http://localhost:4566",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=botocore_config.Config(retries={"max_attempts": 1}),
    )


def test_a_json_client_talks_to_the_codec(sqs: ServiceCodec) -> None:
    seen: list[Any] = []
    session = botocore_session.Session()
    session.register("before-send.sqs", _fake_sqs(sqs, _handlers(), seen))
    _exercise(_client(session))
    assert seen[0] == (
        "SendMessage",
        {
            "QueueUrl": URL,
            "MessageBody": TEXT,
            "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
        },
    )


def test_a_query_client_talks_to_the_codec(
    sqs: ServiceCodec, sqs_query_description: dict[str, Any], tmp_path: Path
) -> None:
    """A botocore that speaks SQS's query protocol, as SDKs before the JSON switch did."""
    model_dir = tmp_path / "sqs" / "2012-11-05"
    model_dir.mkdir(parents=True)
    (model_dir / "service-2.json").write_text(json.dumps(sqs_query_description))
    seen: list[Any] = []
    session = botocore_session.Session()
    session.get_component("data_loader").search_paths.insert(0, str(tmp_path))
    session.register("before-send.sqs", _fake_sqs(sqs, _handlers(), seen))
    client = _client(session)
    assert client.meta.service_model.protocol == "query"
    _exercise(client)
    assert [operation for operation, _ in seen] == ["SendMessage", "ReceiveMessage", "GetQueueUrl"]
    assert seen[1][1] == {"QueueUrl": URL, "AttributeNames": ["All"]}
