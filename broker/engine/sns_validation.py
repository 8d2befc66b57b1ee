"""SNS input validation: topic names and attributes, subscriptions, publish parameters,
with the error codes and messages SNS answers (``InvalidParameter``,
``ParameterValueInvalid``)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from broker.engine import delivery_policy, validation
from broker.errors import InvalidParameter, ParameterValueInvalid

#: the largest message, in bytes (body plus message attributes)
MAX_MESSAGE_BYTES: Final = 262_144
MAX_SUBJECT_CHARS: Final = 99
MAX_TOPIC_NAME: Final = 256
#: subscription protocols this broker delivers to
PROTOCOLS: Final = ("sqs", "http", "https")
#: every protocol SNS knows (others are refused as unknown)
KNOWN_PROTOCOLS: Final = frozenset(
    {"http", "https", "email", "email-json", "sms", "sqs", "application", "lambda",
     "firehose"})

_TOPIC_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FIFO_TOPIC_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,251}\.fifo")

TOPIC_ATTRIBUTES: Final = frozenset({
    "DeliveryPolicy", "DisplayName", "Policy", "SignatureVersion", "TracingConfig",
    "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "FifoThroughputScope",
    "ArchivePolicy", "DataProtectionPolicy",
    *(f"{p}{k}FeedbackRoleArn" for p in ("HTTP", "Firehose", "Lambda", "Application", "SQS")
      for k in ("Success", "Failure")),
    *(f"{p}SuccessFeedbackSampleRate"
      for p in ("HTTP", "Firehose", "Lambda", "Application", "SQS")),
})
#: attributes only a FIFO topic has
FIFO_TOPIC_ATTRIBUTES: Final = frozenset(
    {"ContentBasedDeduplication", "FifoThroughputScope", "ArchivePolicy"})
SUBSCRIPTION_ATTRIBUTES: Final = frozenset({
    "DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
    "RedrivePolicy", "SubscriptionRoleArn", "ReplayPolicy"})

DEFAULT_EFFECTIVE_DELIVERY_POLICY: Final = json.dumps({"http": {
    "defaultHealthyRetryPolicy": {
        "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3,
        "numMaxDelayRetries": 0, "numNoDelayRetries": 0, "numMinDelayRetries": 0,
        "backoffFunction": "linear"},
    "disableSubscriptionOverrides": False,
    "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}},
    separators=(",", ":"))


def default_topic_policy(topic_arn: str, account: str) -> str:
    """The access policy SNS gives a new topic (its owner may do everything)."""
    return json.dumps({
        "Version": "2008-10-17", "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes",
                       "SNS:AddPermission", "SNS:RemovePermission", "SNS:DeleteTopic",
                       "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}}}]},
        separators=(",", ":"))


def _invalid(what: str, reason: str | None = None) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter: {what}" + (f" Reason: {reason}"
                                                             if reason else ""))


# -- topics ------------------------------------------------------------------------------


def validate_topic_name(name: str, fifo: bool) -> None:
    """1-256 of ``[A-Za-z0-9_-]``; a FIFO topic's name ends in ``.fifo`` (counted)."""
    if fifo:
        if not _FIFO_TOPIC_NAME.fullmatch(name):
            raise InvalidParameter(
                "Fifo Topic names must end with .fifo and must be made up of only uppercase "
                "and lowercase ASCII letters, numbers, underscores, and hyphens, and must be "
                "between 1 and 256 characters long.")
    elif not _TOPIC_NAME.fullmatch(name):
        raise _invalid("Topic Name")


def _bool(name: str, value: str) -> str:
    if value.lower() not in ("true", "false"):
        raise _invalid(f"Attributes Reason: {name} must be true or false")
    return value.lower()


def _json_object(name: str, value: str) -> str:
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        raise _invalid(name, "failed to parse JSON") from None
    if not isinstance(parsed, dict):
        raise _invalid(name, "must be a JSON object")
    return value


def validate_topic_attributes(attrs: Mapping[str, str], *, creating: bool,
                              topic_name: str) -> dict[str, str]:
    """CreateTopic / SetTopicAttributes attributes, normalised."""
    fifo = topic_name.endswith(".fifo")
    out: dict[str, str] = {}
    for name, value in attrs.items():
        if name not in TOPIC_ATTRIBUTES or not isinstance(value, str):
            raise _invalid("AttributeName")
        if name == "FifoTopic":
            if not creating:
                raise _invalid("AttributeName")
            value = _bool(name, value)
            if (value == "true") != fifo:
                raise InvalidParameter(
                    "Fifo Topic names must end with .fifo and must be made up of only "
                    "uppercase and lowercase ASCII letters, numbers, underscores, and "
                    "hyphens, and must be between 1 and 256 characters long." if value ==
                    "true" else "Invalid parameter: Topic Name")
        elif name in FIFO_TOPIC_ATTRIBUTES and not fifo:
            raise _invalid(f"Attributes Reason: {name} is only valid for FIFO topics")
        elif name == "ContentBasedDeduplication":
            value = _bool(name, value)
        elif name == "FifoThroughputScope" and value not in ("Topic", "MessageGroup"):
            raise _invalid("Attributes Reason: FifoThroughputScope must be Topic or "
                           "MessageGroup")
        elif name == "SignatureVersion" and value not in ("1", "2"):
            raise _invalid("SignatureVersion")
        elif name == "DisplayName" and len(value) > 100:
            raise _invalid("DisplayName")
        elif name == "DeliveryPolicy" and value:
            delivery_policy.validate_topic_policy(value)
        elif name == "Policy" and value:
            _json_object(name, value)
        out[name] = value
    if creating and fifo and out.get("FifoTopic") != "true":
        raise _invalid("Topic Name")
    return out


def validate_tags(tags: Mapping[str, str], limit: int) -> None:
    if len(tags) > limit:
        raise _invalid("Tags", f"Could not complete request: tag quota of per resource "
                               f"exceeded ({limit})")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise _invalid("Tags", "Tag keys must be 1-128 characters long")
        if not isinstance(value, str) or len(value) > 256:
            raise _invalid("Tags", "Tag values must be 0-256 characters long")


# -- subscriptions -----------------------------------------------------------------------


def validate_subscription(fifo_topic: bool, protocol: str, endpoint: str | None,
                          attrs: Mapping[str, str]) -> dict[str, str]:
    """Subscribe's protocol, endpoint and attributes (or the attributes after
    SetSubscriptionAttributes changed one); returns them normalised."""
    if protocol not in KNOWN_PROTOCOLS:
        raise _invalid(f"Amazon SNS does not support this protocol string: {protocol}")
    if protocol not in PROTOCOLS:
        raise _invalid("Protocol", f"{protocol} subscriptions are not supported by this "
                                   f"broker (sqs, http and https are)")
    if not endpoint:
        raise _invalid("Endpoint")
    if protocol == "sqs":
        parts = endpoint.split(":")
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"]:
            raise _invalid("SQS endpoint ARN")
        if parts[5].endswith(".fifo") and not fifo_topic:
            raise _invalid("Invalid parameter: Endpoint", "FIFO SQS Queues can not be "
                                                         "subscribed to standard SNS topics")
    elif not endpoint.lower().startswith(f"{protocol}://"):
        raise _invalid("Endpoint must match the specified protocol")
    elif fifo_topic:
        raise _invalid("Invalid protocol type: " + protocol)
    out: dict[str, str] = {}
    for name, value in attrs.items():
        if name not in SUBSCRIPTION_ATTRIBUTES or not isinstance(value, str):
            raise _invalid("AttributeName")
        if name == "RawMessageDelivery":
            value = _bool(name, value)
        elif name == "FilterPolicyScope" and value not in ("MessageAttributes",
                                                           "MessageBody"):
            raise _invalid(f"FilterPolicyScope: Invalid value [{value}]. Please use either "
                           f"MessageBody or MessageAttributes")
        elif name == "DeliveryPolicy" and value:
            delivery_policy.validate_subscription_policy(value)
        elif name == "RedrivePolicy" and value:
            _redrive_policy(value, fifo_topic)
        out[name] = value
    return out


def _redrive_policy(value: str, fifo_topic: bool) -> None:
    """A subscription's RedrivePolicy: ``{"deadLetterTargetArn": <SQS queue ARN>}``, a FIFO
    queue for a FIFO topic and a standard queue for a standard one (the dead letters
    are the topic's messages, which a queue of the other kind cannot take)."""
    policy = json.loads(_json_object("RedrivePolicy", value))
    for key in policy:
        if key != "deadLetterTargetArn":
            raise _invalid("RedrivePolicy", f"invalid JSON. Attribute {key} is unknown.")
    target = policy.get("deadLetterTargetArn")
    if not isinstance(target, str) or not validation.is_valid_queue_arn(target):
        raise _invalid("RedrivePolicy", "deadLetterTargetArn is not a valid SQS queue ARN")
    if target.endswith(".fifo") != fifo_topic:
        raise _invalid("RedrivePolicy", "must use a FIFO queue as DLQ for a FIFO "
                                        "Subscription to a FIFO Topic." if fifo_topic else
                       "must use a standard queue as DLQ for a standard Subscription "
                       "to a standard Topic.")


# -- publish -----------------------------------------------------------------------------


def validate_subject(subject: str | None) -> None:
    if subject is None:
        return
    if not subject or len(subject) > MAX_SUBJECT_CHARS or not subject.isascii() or any(
            c in subject for c in "\r\n") or not subject[0].isprintable():
        raise _invalid("Subject")


def message_for(message: str, structure: str | None, protocol: str) -> str:
    """The body one protocol's subscribers get: with ``MessageStructure=json`` the
    protocol's own entry or ``default``."""
    if structure != "json":
        return message
    bodies = json.loads(message)
    value = bodies.get(protocol, bodies["default"])
    return value if isinstance(value, str) else json.dumps(value)


def validate_message(message: str | None, structure: str | None,
                     attributes: Mapping[str, Mapping[str, Any]] | None) -> None:
    """Publish's Message, MessageStructure and MessageAttributes."""
    if message is None or message == "":
        raise _invalid("Empty message")
    if structure is not None and structure != "json":
        raise _invalid("MessageStructure")
    if structure == "json":
        try:
            bodies = json.loads(message)
        except (ValueError, RecursionError):
            raise _invalid("Message Structure - JSON message body failed to parse") from None
        if not isinstance(bodies, dict) or "default" not in bodies:
            raise _invalid("Message Structure - No default entry in JSON message body")
    size = len(message.encode())
    if attributes:
        validate_message_attributes(attributes)
        size += validation.message_attributes_size(attributes)
    if size > MAX_MESSAGE_BYTES:
        raise _invalid("Message too long")
    if validation.contains_invalid_characters(message):
        raise _invalid("Message", "Invalid characters found")


def validate_message_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> None:
    for name, value in attributes.items():
        data_type = value.get("DataType") if isinstance(value, Mapping) else None
        if not isinstance(data_type, str) or not data_type:
            raise ParameterValueInvalid(
                f"The message attribute '{name}' must contain non-empty message attribute "
                f"type.")
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise ParameterValueInvalid(
                f"The message attribute '{name}' has an invalid message attribute type, the "
                f"set of supported type prefixes is Binary, Number, and String.")
        if base == "Binary":
            if not value.get("BinaryValue"):
                raise ParameterValueInvalid(
                    f"The message attribute '{name}' must contain non-empty message "
                    f"attribute value for message attribute type '{data_type}'.")
            continue
        text = value.get("StringValue")
        if not isinstance(text, str) or text == "":
            raise ParameterValueInvalid(
                f"The message attribute '{name}' must contain non-empty message attribute "
                f"value for message attribute type '{data_type}'.")
        if base == "Number":
            try:
                float(text)
            except ValueError:
                raise ParameterValueInvalid(
                    f"Could not cast message attribute '{name}' value to number.") from None
        if data_type == "String.Array":
            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):
                parsed = None
            if not isinstance(parsed, list):
                raise ParameterValueInvalid(
                    f"The message attribute '{name}' with type 'String.Array' must use a "
                    f"JSON array.")
    if len(attributes) > 10:
        raise _invalid("MessageAttributes", f"Number of message attributes "
                                            f"[{len(attributes)}] exceeds the allowed "
                                            f"maximum [10].")


def validate_fifo_publish(fifo_topic: bool, group_id: str | None,
                          dedup_id: str | None) -> None:
    if fifo_topic:
        if group_id is None:
            raise _invalid("The MessageGroupId parameter is required for FIFO topics")
    elif dedup_id is not None:
        raise _invalid("MessageDeduplicationId", "The request includes "
                       "MessageDeduplicationId parameter that is not valid for this topic "
                       "type")
    for name, value in (("MessageGroupId", group_id), ("MessageDeduplicationId", dedup_id)):
        if value is not None and not re.fullmatch(r"[\x21-\x7e]{1,128}", value):
            raise _invalid(name, f"{name} can only include alphanumeric and punctuation "
                                 f"characters. 1 to 128 in length.")
