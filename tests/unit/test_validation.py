"""SQS request validation: every rule with a valid and an invalid case."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from broker import errors
from broker.engine import validation as v

ARN = "arn:aws:sqs:us-east-1:000000000000:dlq"
FIFO_ARN = "arn:aws:sqs:eu-west-1:123456789012:dlq.fifo"


def _raises(cls: type[errors.BrokerError], text: str) -> pytest.RaisesExc[Any]:
    """Expect ``cls`` with ``text`` somewhere in its message."""
    return pytest.raises(cls, match=re.escape(text))


# --- queue names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fifo"),
    [
        ("a", False),
        ("Orders_2-x", False),
        ("q" * 80, False),
        ("q.fifo", True),
        ("q" * 75 + ".fifo", True),
    ],
)
def test_valid_queue_names(name: str, fifo: bool) -> None:
    v.validate_queue_name(name, fifo)


@pytest.mark.parametrize(
    "name", ["", "q" * 81, "has space", "dot.ted", "slash/", "é", "q.fifo", ".fifo"]
)
def test_invalid_standard_queue_names(name: str) -> None:
    with _raises(errors.InvalidParameterValue, "Can only include alphanumeric characters"):
        v.validate_queue_name(name, False)


@pytest.mark.parametrize("name", ["q", ".fifo", "q" * 76 + ".fifo", "a b.fifo", "q.FIFO"])
def test_invalid_fifo_queue_names(name: str) -> None:
    with _raises(errors.InvalidParameterValue, "must end with .fifo suffix"):
        v.validate_queue_name(name, True)


# --- queue attributes ---------------------------------------------------------------------


def test_defaults() -> None:
    assert dict(v.DEFAULT_QUEUE_ATTRIBUTES) == {
        "VisibilityTimeout": "30",
        "MessageRetentionPeriod": "345600",
        "DelaySeconds": "0",
        "ReceiveMessageWaitTimeSeconds": "0",
        "MaximumMessageSize": "1048576",
    }
    assert "QueueArn" in v.READ_ONLY_ATTRIBUTES
    assert "All" not in v.ALL_ATTRIBUTE_NAMES
    assert len(v.ALL_ATTRIBUTE_NAMES) == 21


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("DelaySeconds", 0, 900),
        ("MaximumMessageSize", 1024, 1_048_576),
        ("MessageRetentionPeriod", 60, 1_209_600),
        ("ReceiveMessageWaitTimeSeconds", 0, 20),
        ("VisibilityTimeout", 0, 43_200),
        ("KmsDataKeyReusePeriodSeconds", 60, 86_400),
    ],
)
def test_integer_attribute_ranges(name: str, low: int, high: int) -> None:
    for good in (low, high):
        got = v.validate_queue_attributes({name: str(good)}, creating=False, fifo=False)
        assert got == {name: str(good)}
    for bad in (str(low - 1), str(high + 1), "1.5", " 5", "+5", "", "0x10", "9" * 40, "٣"):
        with _raises(errors.InvalidAttributeValue, f"Invalid value for the parameter {name}."):
            v.validate_queue_attributes({name: bad}, creating=False, fifo=False)


def test_integer_attributes_are_stored_canonically() -> None:
    got = v.validate_queue_attributes({"VisibilityTimeout": "030"}, creating=True, fifo=False)
    assert got == {"VisibilityTimeout": "30"}


def test_non_string_attribute_value_is_invalid() -> None:
    with _raises(errors.InvalidAttributeValue, "VisibilityTimeout"):
        v.validate_queue_attributes({"VisibilityTimeout": 30}, creating=True, fifo=False)  # type: ignore[dict-item]


def test_unknown_attribute_name() -> None:
    with _raises(errors.InvalidAttributeName, "Unknown Attribute Bogus."):
        v.validate_queue_attributes({"Bogus": "1"}, creating=True, fifo=False)


@pytest.mark.parametrize("name", sorted(v.READ_ONLY_ATTRIBUTES | {"All"}))
@pytest.mark.parametrize("creating", [True, False])
def test_read_only_attributes_cannot_be_set(name: str, creating: bool) -> None:
    with _raises(errors.InvalidAttributeName, f"Unknown Attribute {name}."):
        v.validate_queue_attributes({name: "1"}, creating=creating, fifo=False)


def test_fifo_flag_on_create() -> None:
    got = v.validate_queue_attributes({"FifoQueue": "TRUE"}, creating=True, fifo=True)
    assert got == {"FifoQueue": "true"}
    assert v.validate_queue_attributes({}, creating=True, fifo=True) == {"FifoQueue": "true"}
    assert v.validate_queue_attributes({"FifoQueue": "false"}, creating=True, fifo=False) == {}
    with _raises(errors.InvalidAttributeValue, "FifoQueue"):
        v.validate_queue_attributes({"FifoQueue": "yes"}, creating=True, fifo=True)
    with _raises(errors.InvalidAttributeValue, "FifoQueue"):
        v.validate_queue_attributes({"FifoQueue": "true"}, creating=True, fifo=False)


def test_fifo_flag_cannot_be_changed_by_set() -> None:
    with _raises(errors.InvalidAttributeName, "Unknown Attribute FifoQueue."):
        v.validate_queue_attributes({"FifoQueue": "true"}, creating=False, fifo=True)


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("ContentBasedDeduplication", "True", "maybe"),
        ("DeduplicationScope", "messageGroup", "MessageGroup"),
        ("FifoThroughputLimit", "perMessageGroupId", "perGroup"),
    ],
)
def test_fifo_only_attributes(name: str, good: str, bad: str) -> None:
    got = v.validate_queue_attributes({name: good}, creating=True, fifo=True)
    assert got[name] == (good.lower() if name == "ContentBasedDeduplication" else good)
    with _raises(errors.InvalidAttributeValue, f"Invalid value for the parameter {name}."):
        v.validate_queue_attributes({name: bad}, creating=False, fifo=True)
    with _raises(errors.InvalidAttributeName, f"Unknown Attribute {name}."):
        v.validate_queue_attributes({name: good}, creating=True, fifo=False)


def test_sse_attributes_are_stored() -> None:
    attrs = {"KmsMasterKeyId": "alias/aws/sqs", "SqsManagedSseEnabled": "FALSE"}
    got = v.validate_queue_attributes(attrs, creating=True, fifo=False)
    assert got == {"KmsMasterKeyId": "alias/aws/sqs", "SqsManagedSseEnabled": "false"}
    with _raises(errors.InvalidAttributeValue, "SqsManagedSseEnabled"):
        v.validate_queue_attributes({"SqsManagedSseEnabled": "1"}, creating=True, fifo=False)
    with _raises(errors.InvalidAttributeValue, "KmsMasterKeyId"):
        v.validate_queue_attributes({"KmsMasterKeyId": "a\x00"}, creating=True, fifo=False)


def test_policy_is_any_json_object() -> None:
    policy = '{"Version": "2012-10-17", "Statement": []}'
    got = v.validate_queue_attributes({"Policy": policy}, creating=True, fifo=False)
    assert got == {"Policy": policy}
    assert v.validate_queue_attributes({"Policy": ""}, creating=False, fifo=False) == {"Policy": ""}
    for bad in ("[1]", "{", "null", "[" * 100_000):
        with _raises(errors.InvalidAttributeValue, "Invalid value for the parameter Policy."):
            v.validate_queue_attributes({"Policy": bad}, creating=True, fifo=False)


def _redrive(policy: Any) -> dict[str, str]:
    text = policy if isinstance(policy, str) else json.dumps(policy)
    return v.validate_queue_attributes({"RedrivePolicy": text}, creating=True, fifo=False)


def test_redrive_policy_valid_is_normalized() -> None:
    got = _redrive({"deadLetterTargetArn": ARN, "maxReceiveCount": "5"})
    assert json.loads(got["RedrivePolicy"]) == {"deadLetterTargetArn": ARN, "maxReceiveCount": 5}
    got = _redrive({"maxReceiveCount": 1000, "deadLetterTargetArn": FIFO_ARN})
    assert json.loads(got["RedrivePolicy"])["maxReceiveCount"] == 1000
    assert _redrive("") == {"RedrivePolicy": ""}


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ("not json", "not a valid JSON map"),
        ([ARN, 3], "not a valid JSON map"),
        ({"deadLetterTargetArn": ARN}, "mandatory attribute: maxReceiveCount"),
        ({"maxReceiveCount": 3}, "mandatory attribute: deadLetterTargetArn"),
        ({"deadLetterTargetArn": ARN, "maxReceiveCount": 3, "x": 1}, "Only following attributes"),
        ({"deadLetterTargetArn": ARN, "maxReceiveCount": 0}, "maxReceiveCount: 0"),
        ({"deadLetterTargetArn": ARN, "maxReceiveCount": 1001}, "maxReceiveCount: 1001"),
        ({"deadLetterTargetArn": ARN, "maxReceiveCount": True}, "maxReceiveCount: True"),
        ({"deadLetterTargetArn": ARN, "maxReceiveCount": "3.0"}, "maxReceiveCount: 3.0"),
        ({"deadLetterTargetArn": "dlq", "maxReceiveCount": 3}, "deadLetterTargetArn."),
        (
            {"deadLetterTargetArn": "arn:aws:sns:us-east-1:000000000000:t", "maxReceiveCount": 3},
            "deadLetterTargetArn.",
        ),
        (
            {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:0:bad name", "maxReceiveCount": 3},
            "deadLetterTargetArn.",
        ),
        ({"deadLetterTargetArn": 7, "maxReceiveCount": 3}, "deadLetterTargetArn."),
    ],
)
def test_redrive_policy_invalid(policy: Any, reason: str) -> None:
    with _raises(errors.InvalidParameterValue, reason):
        _redrive(policy)


def _allow(policy: Any) -> dict[str, str]:
    text = policy if isinstance(policy, str) else json.dumps(policy)
    return v.validate_queue_attributes({"RedriveAllowPolicy": text}, creating=True, fifo=False)


@pytest.mark.parametrize(
    "policy",
    [
        {"redrivePermission": "allowAll"},
        {"redrivePermission": "denyAll"},
        {"redrivePermission": "byQueue", "sourceQueueArns": [ARN]},
        {"redrivePermission": "byQueue", "sourceQueueArns": [ARN] * 10},
    ],
)
def test_redrive_allow_policy_valid(policy: dict[str, Any]) -> None:
    assert json.loads(_allow(policy)["RedriveAllowPolicy"]) == policy


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ("{", "unsupported format"),
        ({"redrivePermission": "allowSome"}, "unsupported format"),
        ({}, "unsupported format"),
        ({"redrivePermission": "allowAll", "sourceQueueArns": [ARN]}, "only be specified with"),
        ({"redrivePermission": "byQueue"}, "must list 1 to 10"),
        ({"redrivePermission": "byQueue", "sourceQueueArns": []}, "must list 1 to 10"),
        ({"redrivePermission": "byQueue", "sourceQueueArns": [ARN] * 11}, "must list 1 to 10"),
        ({"redrivePermission": "byQueue", "sourceQueueArns": ["nope"]}, "sourceQueueArns."),
        ({"redrivePermission": "denyAll", "other": 1}, "Only following attributes"),
    ],
)
def test_redrive_allow_policy_invalid(policy: Any, reason: str) -> None:
    with _raises(errors.InvalidParameterValue, reason):
        _allow(policy)


def test_attribute_names_request() -> None:
    assert v.validate_attribute_names_request(["VisibilityTimeout", "QueueArn"]) == [
        "VisibilityTimeout",
        "QueueArn",
    ]
    assert v.validate_attribute_names_request(["All"]) == list(v.ALL_ATTRIBUTE_NAMES)
    assert v.validate_attribute_names_request(["QueueArn", "All"])[0] == "QueueArn"
    assert len(v.validate_attribute_names_request(["QueueArn", "All"])) == 21
    assert v.validate_attribute_names_request([]) == []
    with _raises(errors.InvalidAttributeName, "Unknown Attribute all."):
        v.validate_attribute_names_request(["all"])


# --- bodies and sizes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["x", "\t\n\r", " \x7f", "\ud7ff\ue000\ufffd", "😀\U0010ffff", "é" * 1000, "a" * 1_048_576],
)
def test_valid_bodies(body: str) -> None:
    v.validate_body(body)


def test_empty_body() -> None:
    with _raises(errors.MissingParameter, "The request must contain the parameter MessageBody."):
        v.validate_body("")


@pytest.mark.parametrize(
    "body",
    [
        "\x00",
        "a\x08",
        "\x0b",
        "\x1f",
        "é\x01",
        "\ud800",
        "x\udfff",
        "\ufffe",
        "\uffff",
        "a" * 9999 + "\x0c",
    ],
)
def test_invalid_bodies(body: str) -> None:
    with _raises(errors.InvalidMessageContents, "Invalid characters found. Valid unicode"):
        v.validate_body(body)


def test_message_size() -> None:
    attrs = {"a": {"DataType": "String", "StringValue": "é"}}  # 1 + 6 + 2 bytes
    assert v.message_attributes_size(attrs) == 9
    assert v.validate_message_size("é" * 5, attrs, 19) == 19
    assert v.validate_message_size("x", None, 1) == 1
    with _raises(errors.InvalidParameterValue, "Message must be shorter than 18 bytes."):
        v.validate_message_size("é" * 5, attrs, 18)


def test_batch_size() -> None:
    v.validate_batch_size(1_048_576)
    with _raises(errors.BatchRequestTooLong, "You have sent 1048577 bytes."):
        v.validate_batch_size(1_048_577)


# --- message attributes -------------------------------------------------------------------


def _attr(data_type: str = "String", **value: Any) -> dict[str, Any]:
    if not value:
        value = {"BinaryValue": b"\x00"} if data_type.startswith("Binary") else {"StringValue": "1"}
    return {"DataType": data_type, **value}


def test_valid_message_attributes() -> None:
    attrs = {
        "s": _attr("String", StringValue="héllo\n"),
        "n": _attr("Number", StringValue="-1.5e3"),
        "b": _attr("Binary", BinaryValue=b"\x00\x01"),
        "Custom.Name_1-x": _attr("Number.int", StringValue="42"),
        "c2": _attr("String.JSON", StringValue="{}"),
        "c3": _attr("Binary.gif", BinaryValue=bytearray(b"G")),
        "n" * 256: _attr(),
    }
    v.validate_message_attributes(attrs)
    v.validate_message_attributes({})


def test_message_attribute_sizes() -> None:
    attrs = {"bin": _attr("Binary.x", BinaryValue=b"\x00\x01\x02"), "n": _attr("Number")}
    assert v.message_attributes_size(attrs) == (3 + 8 + 3) + (1 + 6 + 1)


def test_too_many_message_attributes() -> None:
    v.validate_message_attributes({f"a{i}": _attr() for i in range(10)})
    with _raises(
        errors.InvalidParameterValue,
        "Number of message attributes [11] exceeds the allowed maximum [10].",
    ):
        v.validate_message_attributes({f"a{i}": _attr() for i in range(11)})


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("", "null or empty"),
        ("n" * 257, "at most 256"),
        ("bad name", "can only contain"),
        ("ümlaut", "can only contain"),
        ("AWS.x", "beginning with 'AWS.' or 'Amazon.'"),
        ("aws.x", "beginning with 'AWS.' or 'Amazon.'"),
        ("amazon.x", "beginning with 'AWS.' or 'Amazon.'"),
        (".x", "start or end with a period"),
        ("x.", "start or end with a period"),
        ("a..b", "consecutive periods"),
    ],
)
def test_invalid_message_attribute_names(name: str, text: str) -> None:
    with _raises(errors.InvalidParameterValue, text):
        v.validate_message_attributes({name: _attr()})


def test_aws_like_names_without_reserved_prefix_are_valid() -> None:
    v.validate_message_attributes({"AWSx": _attr(), "Amazonian": _attr(), "x.AWS.y": _attr()})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"StringValue": "x"}, "must contain a non-empty message attribute type"),
        ({"DataType": "", "StringValue": "x"}, "must contain a non-empty message attribute type"),
        (_attr("string"), "supported type prefixes: Binary, Number, String"),
        (_attr("Strings", StringValue="x"), "supported type prefixes"),
        (_attr("String.", StringValue="x"), "supported type prefixes"),
        (_attr("String." + "x" * 250, StringValue="x"), "at most 256"),
        (
            _attr("String", StringValue=""),
            "non-empty message attribute value for message attribute type 'String'",
        ),
        (
            {"DataType": "Number"},
            "non-empty message attribute value for message attribute type 'Number'",
        ),
        (
            _attr("Binary", BinaryValue=b""),
            "non-empty message attribute value for message attribute type 'Binary'",
        ),
        (_attr("Binary", BinaryValue="text"), "type 'Binary'"),
        (_attr("Binary", StringValue="x"), "with type 'Binary' must use field 'Binary'"),
        (_attr("String", BinaryValue=b"x"), "with type 'String' must use field 'String'"),
        (_attr("String", StringValue="a\x00"), "Invalid characters found"),
        (_attr("String", StringValue="\ud800"), "Invalid characters found"),
        (_attr("String", StringListValues=["a"]), "list values"),
        (_attr("Binary", BinaryListValues=[b"a"]), "list values"),
        ("not a mapping", "malformed"),
    ],
)
def test_invalid_message_attribute_values(value: Any, text: str) -> None:
    with _raises(errors.InvalidParameterValue, text):
        v.validate_message_attributes({"a": value})


@pytest.mark.parametrize(
    "number",
    [
        "0",
        "-0",
        "+7",
        "1.",
        ".5",
        "00012",
        "1e126",
        "-1E+126",
        "1e-128",
        "0.000e999999",
        "1" * 38,
        "1" * 38 + "0" * 50,
        "0." + "0" * 100 + "1",
        "12345678901234567890123456789012345678e-100",
    ],
)
def test_valid_numbers(number: str) -> None:
    v.validate_message_attributes({"n": _attr("Number", StringValue=number)})


@pytest.mark.parametrize(
    "number", ["abc", "1,5", "1e", "--1", " 1", "NaN", "Infinity", "0x1F", "1_000"]
)
def test_non_numbers(number: str) -> None:
    with _raises(errors.InvalidParameterValue, "to a number"):
        v.validate_message_attributes({"n": _attr("Number", StringValue=number)})


@pytest.mark.parametrize(
    "number",
    [
        "1" * 39,
        "1.00000000000000000000000000000000000001",
        "1.1e126",
        "2e126",
        "9e-129",
        "1e99999999999999999999999",
    ],
)
def test_numbers_out_of_range(number: str) -> None:
    with _raises(errors.InvalidParameterValue, "out of range"):
        v.validate_message_attributes({"n": _attr("Number", StringValue=number)})


def test_system_attributes_for_send() -> None:
    v.validate_system_attributes_for_send({})
    v.validate_system_attributes_for_send(
        {"AWSTraceHeader": _attr("String", StringValue="Root=1-5759e988-bd862e3fe1be46a994272793")}
    )
    with _raises(
        errors.InvalidParameterValue, "Message system attribute name 'SenderId' is invalid"
    ):
        v.validate_system_attributes_for_send({"SenderId": _attr()})
    with _raises(errors.InvalidParameterValue, "must be of type 'String'"):
        v.validate_system_attributes_for_send({"AWSTraceHeader": _attr("Number")})
    with _raises(errors.InvalidParameterValue, "must be of type 'String'"):
        v.validate_system_attributes_for_send({"AWSTraceHeader": _attr("String.x")})
    with _raises(errors.InvalidParameterValue, "non-empty message attribute value"):
        v.validate_system_attributes_for_send({"AWSTraceHeader": _attr("String", StringValue="")})


# --- request parameters -------------------------------------------------------------------


def test_delay() -> None:
    for good in (0, 900):
        v.validate_delay(good, False)
    v.validate_delay(0, True)
    for bad in (-1, 901):
        with _raises(
            errors.InvalidParameterValue, f"Value {bad} for parameter DelaySeconds is invalid."
        ):
            v.validate_delay(bad, False)
    with _raises(errors.InvalidParameterValue, "not valid for this queue type"):
        v.validate_delay(5, True)


def test_visibility_timeout() -> None:
    for good in (0, 43_200):
        v.validate_visibility_timeout(good)
    for bad in (-1, 43_201, True):
        with _raises(errors.InvalidParameterValue, "parameter VisibilityTimeout is invalid"):
            v.validate_visibility_timeout(bad)


def test_receive_params() -> None:
    v.validate_receive_params(1, None, None)
    v.validate_receive_params(10, 0, 0)
    v.validate_receive_params(5, 20, 43_200)
    with _raises(
        errors.InvalidParameterValue,
        "Value 11 for parameter MaxNumberOfMessages is invalid."
        " Reason: Must be between 1 and 10, if provided.",
    ):
        v.validate_receive_params(11, None, None)
    with _raises(errors.InvalidParameterValue, "Value 0 for parameter MaxNumberOfMessages"):
        v.validate_receive_params(0, None, None)
    with _raises(
        errors.InvalidParameterValue,
        "Value 21 for parameter WaitTimeSeconds is invalid."
        " Reason: Must be >= 0 and <= 20, if provided.",
    ):
        v.validate_receive_params(1, 21, None)
    with _raises(errors.InvalidParameterValue, "Value -1 for parameter WaitTimeSeconds"):
        v.validate_receive_params(1, -1, None)
    with _raises(errors.InvalidParameterValue, "Value 43201 for parameter VisibilityTimeout"):
        v.validate_receive_params(1, None, 43_201)


def test_batch_entry_ids() -> None:
    v.validate_batch_entry_ids(["a"])
    v.validate_batch_entry_ids(["A-b_c" + "x" * 75, *map(str, range(9))])
    with _raises(errors.EmptyBatchRequest, "at least one entry"):
        v.validate_batch_entry_ids([])
    with _raises(
        errors.TooManyEntriesInBatchRequest,
        "Maximum number of entries per request are 10. You have sent 11.",
    ):
        v.validate_batch_entry_ids([str(i) for i in range(11)])
    for bad in ("", "x" * 81, "a.b", "a b", "é"):
        with _raises(errors.InvalidBatchEntryId, "A batch entry id can only contain alphanumeric"):
            v.validate_batch_entry_ids(["ok", bad])
    with _raises(errors.BatchEntryIdsNotDistinct, "Id a repeated."):
        v.validate_batch_entry_ids(["a", "b", "a"])


# --- tags ---------------------------------------------------------------------------------


def test_valid_tags() -> None:
    v.validate_tags({})
    v.validate_tags({"k" * 128: "v" * 256, "team": "", "a b.c:d/e=f+g-h@i_j": "Ünïcode 1"})
    v.validate_tags({f"k{i}": "v" for i in range(50)})


@pytest.mark.parametrize(
    ("tags", "text"),
    [
        ({"": "v"}, "between 1 and 128"),
        ({"k" * 129: "v"}, "between 1 and 128"),
        ({"aws:team": "v"}, "can't start with 'aws:'"),
        ({"AWS:team": "v"}, "can't start with 'aws:'"),
        ({"k#": "v"}, "Tag keys can only contain"),
        ({"k": "v" * 257}, "at most 256"),
        ({"k": "v\x00"}, "can only contain"),
        ({f"k{i}": "v" for i in range(51)}, "at most 50 tags"),
    ],
)
def test_invalid_tags(tags: dict[str, str], text: str) -> None:
    with _raises(errors.InvalidParameterValue, text):
        v.validate_tags(tags)


def test_tag_count() -> None:
    v.check_tag_count(0)
    v.check_tag_count(50)
    with _raises(errors.InvalidParameterValue, "Too many tags added for queue"):
        v.check_tag_count(51)


# --- helpers ------------------------------------------------------------------------------


def test_queue_arn_shape() -> None:
    assert v.is_valid_queue_arn(ARN)
    assert v.is_valid_queue_arn(FIFO_ARN)
    assert v.is_valid_queue_arn("arn:aws-cn:sqs:cn-north-1:123456789012:q")
    for bad in (
        "",
        "arn:aws:sqs:us-east-1:000000000000",
        "arn:aws:sqs::000000000000:q",
        "arn:aws:sqs:r:a:q:x",
        None,
    ):
        assert not v.is_valid_queue_arn(bad)


def test_contains_invalid_characters() -> None:
    assert not v.contains_invalid_characters("")
    assert not v.contains_invalid_characters("plain ascii\t\r\n")
    assert v.contains_invalid_characters("é\x00")
    assert v.contains_invalid_characters("\x1b[0m")
