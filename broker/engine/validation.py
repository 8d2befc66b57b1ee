"""Request validation with SQS's limits, error classes and (modelled) error messages.

Every check raises a ``broker.errors`` class carrying the code SQS would send. Numbers and
texts follow the botocore SQS model and the SQS developer guide; see
``/work/shared/reference/aws-semantics.md`` section 1 and ``reliability.md`` section 4.

The functions are pure and synchronous: they take already-decoded request values (the boto3
shapes) and either return normally (or a normalized value) or raise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final

from broker.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidBatchEntryId,
    InvalidMessageContents,
    InvalidParameterValue,
    MissingParameter,
    TooManyEntriesInBatchRequest,
)

__all__ = [
    "ALL_ATTRIBUTE_NAMES",
    "DEFAULT_FIFO_QUEUE_ATTRIBUTES",
    "DEFAULT_QUEUE_ATTRIBUTES",
    "FIFO_ONLY_ATTRIBUTES",
    "INVALID_CHARACTERS_MESSAGE",
    "READ_ONLY_ATTRIBUTES",
    "SETTABLE_ATTRIBUTES",
    "check_tag_count",
    "contains_invalid_characters",
    "is_valid_queue_arn",
    "message_attributes_size",
    "validate_attribute_names_request",
    "validate_batch_entry_ids",
    "validate_batch_size",
    "validate_body",
    "validate_delay",
    "validate_fifo_id",
    "validate_fifo_send",
    "validate_fifo_throughput",
    "validate_message_attributes",
    "validate_message_size",
    "validate_queue_attributes",
    "validate_queue_name",
    "validate_receive_params",
    "validate_system_attributes_for_send",
    "validate_tags",
    "validate_visibility_timeout",
]

# ---------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------

# Longest queue name, the ".fifo" suffix included.
MAX_QUEUE_NAME_LENGTH: Final = 80
# Suffix every FIFO queue name must carry (and no standard queue name may).
FIFO_SUFFIX: Final = ".fifo"
# Largest DelaySeconds, per queue or per message (15 minutes).
MAX_DELAY_SECONDS: Final = 900
# Smallest MaximumMessageSize a queue may be given.
MIN_MAXIMUM_MESSAGE_SIZE: Final = 1024
# Largest message (body plus message attributes) and largest batch payload: 1 MiB.
MAX_MESSAGE_SIZE: Final = 1_048_576
# Shortest MessageRetentionPeriod (1 minute).
MIN_RETENTION_SECONDS: Final = 60
# Longest MessageRetentionPeriod (14 days).
MAX_RETENTION_SECONDS: Final = 1_209_600
# Longest long-poll wait (ReceiveMessageWaitTimeSeconds / WaitTimeSeconds).
MAX_WAIT_TIME_SECONDS: Final = 20
# Longest visibility timeout (12 hours).
MAX_VISIBILITY_TIMEOUT: Final = 43_200
# Shortest KmsDataKeyReusePeriodSeconds (1 minute).
MIN_KMS_REUSE_SECONDS: Final = 60
# Longest KmsDataKeyReusePeriodSeconds (24 hours).
MAX_KMS_REUSE_SECONDS: Final = 86_400
# Smallest maxReceiveCount of a RedrivePolicy.
MIN_MAX_RECEIVE_COUNT: Final = 1
# Largest maxReceiveCount of a RedrivePolicy.
MAX_MAX_RECEIVE_COUNT: Final = 1000
# Most sourceQueueArns a byQueue RedriveAllowPolicy may list.
MAX_SOURCE_QUEUE_ARNS: Final = 10
# Most digits an integer queue-attribute string may have (guards int() on huge input).
MAX_INT_ATTRIBUTE_DIGITS: Final = 12
# Most message attributes per message.
MAX_MESSAGE_ATTRIBUTES: Final = 10
# Longest message-attribute name.
MAX_ATTRIBUTE_NAME_LENGTH: Final = 256
# Longest message-attribute data type, custom suffix included.
MAX_ATTRIBUTE_TYPE_LENGTH: Final = 256
# Most significant digits of a Number attribute.
MAX_NUMBER_DIGITS: Final = 38
# Smallest non-zero magnitude of a Number attribute (10^-128).
MIN_NUMBER_MAGNITUDE: Final = Decimal("1E-128")
# Largest magnitude of a Number attribute (10^+126).
MAX_NUMBER_MAGNITUDE: Final = Decimal("1E+126")
# Most entries in one batch request.
MAX_BATCH_ENTRIES: Final = 10
# Longest batch entry Id.
MAX_BATCH_ID_LENGTH: Final = 80
# Most messages one ReceiveMessage may return.
MAX_RECEIVE_MESSAGES: Final = 10
# Longest tag key.
MAX_TAG_KEY_LENGTH: Final = 128
# Longest tag value.
MAX_TAG_VALUE_LENGTH: Final = 256
# Most tags one queue may hold.
MAX_TAGS_PER_QUEUE: Final = 50
# Reserved tag-key prefix (compared case-insensitively).
RESERVED_TAG_PREFIX: Final = "aws:"
# The only message system attribute a sender may set.
TRACE_HEADER_ATTRIBUTE: Final = "AWSTraceHeader"

# ---------------------------------------------------------------------------------------------
# Queue attribute names and defaults
# ---------------------------------------------------------------------------------------------

# Attributes SQS computes; they may be read but never set.
READ_ONLY_ATTRIBUTES: Final = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "CreatedTimestamp",
        "LastModifiedTimestamp",
        "QueueArn",
    }
)
# Attributes that exist only on FIFO queues.
FIFO_ONLY_ATTRIBUTES: Final = frozenset(
    {"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
)
# Every attribute GetQueueAttributes knows, in the botocore enum's order ("All" excluded).
ALL_ATTRIBUTE_NAMES: Final = (
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
)
# Attributes CreateQueue/SetQueueAttributes accept (FifoQueue only on create).
SETTABLE_ATTRIBUTES: Final = frozenset(ALL_ATTRIBUTE_NAMES) - READ_ONLY_ATTRIBUTES
# Attribute values every new queue starts with.
DEFAULT_QUEUE_ATTRIBUTES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "VisibilityTimeout": "30",
        "MessageRetentionPeriod": "345600",
        "DelaySeconds": "0",
        "ReceiveMessageWaitTimeSeconds": "0",
        "MaximumMessageSize": str(MAX_MESSAGE_SIZE),
    }
)
# Extra attribute values every new FIFO queue starts with.
DEFAULT_FIFO_QUEUE_ATTRIBUTES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "DeduplicationScope": "queue",
        "FifoThroughputLimit": "perQueue",
    }
)
# Special value of GetQueueAttributes' AttributeNames that stands for every attribute.
ALL_ATTRIBUTES_KEYWORD: Final = "All"

# ---------------------------------------------------------------------------------------------
# Messages and patterns
# ---------------------------------------------------------------------------------------------

# SQS's text for characters outside the XML 1.0 character set.
INVALID_CHARACTERS_MESSAGE: Final = (
    "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF"
    " | #xE000 to #xFFFD | #x10000 to #x10FFFF"
)
_QUEUE_NAME_MESSAGE: Final = (
    "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
)
_FIFO_QUEUE_NAME_MESSAGE: Final = (
    "The name of a FIFO queue can only include alphanumeric characters, hyphens, or"
    " underscores, must end with .fifo suffix and be 1 to 80 in length."
)
_BATCH_ID_MESSAGE: Final = (
    "A batch entry id can only contain alphanumeric characters, hyphens and underscores."
    " It can be at most 80 letters long."
)

# Any one character SQS refuses in bodies and string values (lone surrogates included).
_INVALID_CHAR_RE: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Every ASCII byte SQS accepts: tab, LF, CR and 0x20-0x7F (deleted to find the rest).
_VALID_ASCII_BYTES: Final = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x80)])
_QUEUE_NAME_BASE_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_QUEUE_ARN_RE: Final = re.compile(
    r"arn:aws(?:-[a-z]+)*:sqs:(?P<region>[a-z0-9-]+):(?P<account>[A-Za-z0-9_-]+):(?P<name>[^:]+)"
)
_ATTRIBUTE_NAME_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")
_RESERVED_ATTRIBUTE_PREFIXES: Final = ("aws.", "amazon.")
_BASE_DATA_TYPES: Final = frozenset({"String", "Number", "Binary"})
_NUMBER_RE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PLAIN_INT_RE: Final = re.compile(r"-?[0-9]+")
_BATCH_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")
_TAG_TEXT_RE: Final = re.compile(r"[\w\s.:/=+\-@]*")
_BOOLEAN_VALUES: Final = frozenset({"true", "false"})

# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def _invalid_parameter(parameter: str, value: object, reason: str) -> InvalidParameterValue:
    """Build SQS's ``Value X for parameter P is invalid. Reason: R`` error."""
    return InvalidParameterValue(
        f"Value {value} for parameter {parameter} is invalid. Reason: {reason}"
    )


def _check_int_range(parameter: str, value: object, low: int, high: int, reason: str) -> None:
    """Raise InvalidParameterValue unless ``value`` is an int (not bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid_parameter(parameter, value, reason)


#: most results of one ListQueues / ListDeadLetterSourceQueues page
MAX_LIST_RESULTS = 1000


def validate_max_results(max_results: int | None) -> None:
    """Check a list call's optional MaxResults (1-1000)."""
    if max_results is not None:
        _check_int_range("MaxResults", max_results, 1, MAX_LIST_RESULTS,
                         f"Must be between 1 and {MAX_LIST_RESULTS}, if provided.")


def contains_invalid_characters(text: str) -> bool:
    """Tell whether ``text`` holds a character outside SQS's allowed set.

    Allowed: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF; lone surrogates are not.
    ASCII text (the common case) is checked with one C-speed ``bytes.translate``.
    """
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _VALID_ASCII_BYTES))
    return _INVALID_CHAR_RE.search(text) is not None


# ---------------------------------------------------------------------------------------------
# Queue names
# ---------------------------------------------------------------------------------------------


def _is_valid_queue_name(name: str, fifo: bool) -> bool:
    """Tell whether ``name`` is a valid standard (``fifo=False``) or FIFO queue name."""
    if not isinstance(name, str) or len(name) > MAX_QUEUE_NAME_LENGTH:
        return False
    if name.endswith(FIFO_SUFFIX) != fifo:
        return False
    base = name[: -len(FIFO_SUFFIX)] if fifo else name
    return _QUEUE_NAME_BASE_RE.fullmatch(base) is not None


def validate_queue_name(name: str, fifo: bool) -> None:
    """Check a queue name: 1-80 of ``[A-Za-z0-9_-]``, ``.fifo`` suffix (counted) iff FIFO.

    Raises:
        InvalidParameterValue: the name is invalid for the queue type.
    """
    if not _is_valid_queue_name(name, fifo):
        raise InvalidParameterValue(_FIFO_QUEUE_NAME_MESSAGE if fifo else _QUEUE_NAME_MESSAGE)


def is_valid_queue_arn(arn: object) -> bool:
    """Tell whether ``arn`` has the shape ``arn:aws:sqs:<region>:<account>:<queue-name>``.

    The account is not limited to AWS's 12 digits, so locally configured ids work too.
    """
    if not isinstance(arn, str):
        return False
    match = _QUEUE_ARN_RE.fullmatch(arn)
    if match is None:
        return False
    name = match["name"]
    return _is_valid_queue_name(name, name.endswith(FIFO_SUFFIX))


# ---------------------------------------------------------------------------------------------
# Queue attributes
# ---------------------------------------------------------------------------------------------

_AttributeValidator = Callable[[str, str], str]


def _bad_attribute(name: str) -> InvalidAttributeValue:
    """Build SQS's error for a queue attribute with an invalid value."""
    return InvalidAttributeValue(f"Invalid value for the parameter {name}.")


def _bad_policy(name: str, reason: str) -> InvalidParameterValue:
    """Build SQS's error for a malformed redrive policy, with the reason (SQS answers
    InvalidParameterValue here, not InvalidAttributeValue)."""
    return InvalidParameterValue(f"Value for parameter {name} is invalid. Reason: {reason}")


def _int_attribute(low: int, high: int) -> _AttributeValidator:
    """Make a validator for an integer attribute given as a plain decimal string."""

    def validate(name: str, value: str) -> str:
        if len(value) > MAX_INT_ATTRIBUTE_DIGITS or not _PLAIN_INT_RE.fullmatch(value):
            raise _bad_attribute(name)
        number = int(value)
        if not low <= number <= high:
            raise _bad_attribute(name)
        return str(number)

    return validate


def _bool_attribute(name: str, value: str) -> str:
    """Validate a ``true``/``false`` attribute (any case); store it lower-cased."""
    lowered = value.lower()
    if lowered not in _BOOLEAN_VALUES:
        raise _bad_attribute(name)
    return lowered


def _enum_attribute(*choices: str) -> _AttributeValidator:
    """Make a validator for an attribute restricted to ``choices`` (case-sensitive)."""

    def validate(name: str, value: str) -> str:
        if value not in choices:
            raise _bad_attribute(name)
        return value

    return validate


def _text_attribute(name: str, value: str) -> str:
    """Validate a free-text attribute (KmsMasterKeyId): any valid characters, stored as given."""
    if contains_invalid_characters(value):
        raise _bad_attribute(name)
    return value


def _load_json_object(text: str) -> dict[str, Any] | None:
    """Parse ``text`` as a JSON object; return ``None`` if it is not one."""
    try:
        loaded = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _dump_json(obj: Mapping[str, Any]) -> str:
    """Serialize a policy compactly, the way it is stored and returned."""
    return json.dumps(obj, separators=(",", ":"))


def _policy_attribute(name: str, value: str) -> str:
    """Validate Policy: any JSON object (stored as given); ``""`` clears it."""
    if value and _load_json_object(value) is None:
        raise _bad_attribute(name)
    return value


def _parse_receive_count(raw: object) -> int | None:
    """Return maxReceiveCount as an int (JSON number or decimal string), or ``None``."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if (
        isinstance(raw, str)
        and len(raw) <= MAX_INT_ATTRIBUTE_DIGITS
        and _PLAIN_INT_RE.fullmatch(raw)
    ):
        return int(raw)
    return None


def _check_policy_keys(name: str, policy: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """Reject keys outside ``allowed`` in a JSON policy attribute."""
    unknown = sorted(set(policy) - set(allowed))
    if unknown:
        reason = f"Only following attributes are supported: [{', '.join(allowed)}]."
        raise _bad_policy(name, reason)


def _redrive_policy_attribute(name: str, value: str) -> str:
    """Validate RedrivePolicy (``deadLetterTargetArn`` + ``maxReceiveCount`` 1-1000).

    ``""`` clears the policy. The result is compact JSON with an integer count.
    """
    if not value:
        return value
    policy = _load_json_object(value)
    if policy is None:
        raise _bad_policy(name, "Redrive policy is not a valid JSON map.")
    keys = ("deadLetterTargetArn", "maxReceiveCount")
    _check_policy_keys(name, policy, keys)
    for key in keys:
        if key not in policy:
            reason = f"Redrive policy does not contain mandatory attribute: {key}."
            raise _bad_policy(name, reason)
    arn = policy["deadLetterTargetArn"]
    if not is_valid_queue_arn(arn):
        raise _bad_policy(name, "Invalid value for deadLetterTargetArn.")
    count = _parse_receive_count(policy["maxReceiveCount"])
    if count is None or not MIN_MAX_RECEIVE_COUNT <= count <= MAX_MAX_RECEIVE_COUNT:
        reason = (
            f"Invalid value for maxReceiveCount: {policy['maxReceiveCount']}, valid values are"
            f" from {MIN_MAX_RECEIVE_COUNT} to {MAX_MAX_RECEIVE_COUNT} both inclusive."
        )
        raise _bad_policy(name, reason)
    return _dump_json({"deadLetterTargetArn": arn, "maxReceiveCount": count})


def _check_source_queue_arns(name: str, permission: str, arns: object) -> None:
    """Check sourceQueueArns: 1-10 queue ARNs with byQueue, absent otherwise."""
    if permission != "byQueue":
        if arns is not None:
            reason = "sourceQueueArns may only be specified with redrivePermission byQueue."
            raise _bad_policy(name, reason)
        return
    if not isinstance(arns, list) or not 1 <= len(arns) <= MAX_SOURCE_QUEUE_ARNS:
        reason = f"sourceQueueArns must list 1 to {MAX_SOURCE_QUEUE_ARNS} queue ARNs for byQueue."
        raise _bad_policy(name, reason)
    if not all(is_valid_queue_arn(arn) for arn in arns):
        raise _bad_policy(name, "Invalid value for sourceQueueArns.")


def _redrive_allow_policy_attribute(name: str, value: str) -> str:
    """Validate RedriveAllowPolicy (allowAll | denyAll | byQueue + sourceQueueArns).

    ``""`` clears the policy (back to allowAll). The result is compact JSON.
    """
    if not value:
        return value
    policy = _load_json_object(value)
    unsupported = (
        "Amazon SQS can't create the redrive allow policy, as it's in an unsupported format."
    )
    if policy is None:
        raise _bad_policy(name, unsupported)
    _check_policy_keys(name, policy, ("redrivePermission", "sourceQueueArns"))
    permission = policy.get("redrivePermission")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise _bad_policy(name, unsupported)
    arns = policy.get("sourceQueueArns")
    _check_source_queue_arns(name, permission, arns)
    normalized: dict[str, Any] = {"redrivePermission": permission}
    if arns is not None:
        normalized["sourceQueueArns"] = arns
    return _dump_json(normalized)


_ATTRIBUTE_VALIDATORS: Final[Mapping[str, _AttributeValidator]] = MappingProxyType(
    {
        "DelaySeconds": _int_attribute(0, MAX_DELAY_SECONDS),
        "MaximumMessageSize": _int_attribute(MIN_MAXIMUM_MESSAGE_SIZE, MAX_MESSAGE_SIZE),
        "MessageRetentionPeriod": _int_attribute(MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS),
        "ReceiveMessageWaitTimeSeconds": _int_attribute(0, MAX_WAIT_TIME_SECONDS),
        "VisibilityTimeout": _int_attribute(0, MAX_VISIBILITY_TIMEOUT),
        "RedrivePolicy": _redrive_policy_attribute,
        "RedriveAllowPolicy": _redrive_allow_policy_attribute,
        "Policy": _policy_attribute,
        "FifoQueue": _bool_attribute,
        "ContentBasedDeduplication": _bool_attribute,
        "DeduplicationScope": _enum_attribute("queue", "messageGroup"),
        "FifoThroughputLimit": _enum_attribute("perQueue", "perMessageGroupId"),
        "KmsMasterKeyId": _text_attribute,
        "KmsDataKeyReusePeriodSeconds": _int_attribute(
            MIN_KMS_REUSE_SECONDS, MAX_KMS_REUSE_SECONDS
        ),
        "SqsManagedSseEnabled": _bool_attribute,
    }
)


def _check_settable(name: str, *, creating: bool, fifo: bool) -> None:
    """Raise InvalidAttributeName unless ``name`` may be set in this request on this queue."""
    known = name in _ATTRIBUTE_VALIDATORS
    fifo_flag_on_set = name == "FifoQueue" and not creating
    fifo_only_on_standard = name in FIFO_ONLY_ATTRIBUTES and not fifo
    if not known or fifo_flag_on_set or fifo_only_on_standard:
        raise InvalidAttributeName(f"Unknown Attribute {name}.")


def validate_queue_attributes(
    attrs: Mapping[str, str], *, creating: bool, fifo: bool
) -> dict[str, str]:
    """Validate CreateQueue (``creating=True``) or SetQueueAttributes attributes.

    ``fifo`` says whether the queue is (or is being created as) a FIFO queue. Returns the
    attributes as SQS stores them: integers canonical (``"030"`` -> ``"30"``), booleans
    lower-case, redrive policies as compact JSON. An empty string for Policy, RedrivePolicy or
    RedriveAllowPolicy means "remove it" and is returned as ``""``. On create, the result holds
    ``FifoQueue: "true"`` for a FIFO queue and no FifoQueue key for a standard one.

    Raises:
        InvalidAttributeName: unknown or read-only name; FifoQueue on a set; a FIFO-only
            attribute on a standard queue.
        InvalidAttributeValue: a value out of range or of the wrong form (malformed
            RedrivePolicy/RedriveAllowPolicy included); a FifoQueue value that contradicts
            ``fifo``.
    """
    normalized: dict[str, str] = {}
    for name, value in attrs.items():
        _check_settable(name, creating=creating, fifo=fifo)
        if not isinstance(value, str):
            raise _bad_attribute(name)
        normalized[name] = _ATTRIBUTE_VALIDATORS[name](name, value)
    return _apply_fifo_flag(normalized, creating=creating, fifo=fifo)


def _apply_fifo_flag(attrs: dict[str, str], *, creating: bool, fifo: bool) -> dict[str, str]:
    """Check a create request's FifoQueue against ``fifo`` and store the flag canonically."""
    if not creating:
        return attrs
    expected = "true" if fifo else "false"
    if attrs.get("FifoQueue", expected) != expected:
        raise _bad_attribute("FifoQueue")
    attrs.pop("FifoQueue", None)
    if fifo:
        attrs["FifoQueue"] = "true"
    return attrs


def validate_attribute_names_request(names: Sequence[str]) -> list[str]:
    """Resolve GetQueueAttributes' AttributeNames: ``All`` expands; duplicates are dropped.

    Raises:
        InvalidAttributeName: a name SQS does not know.
    """
    resolved: dict[str, None] = {}
    for name in names:
        if name == ALL_ATTRIBUTES_KEYWORD:
            resolved.update(dict.fromkeys(ALL_ATTRIBUTE_NAMES))
        elif name in ALL_ATTRIBUTE_NAMES:
            resolved[name] = None
        else:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
    return list(resolved)


# ---------------------------------------------------------------------------------------------
# Message body and size
# ---------------------------------------------------------------------------------------------


def validate_body(body: str) -> None:
    """Check a message body is non-empty and holds only characters SQS accepts.

    Raises:
        MissingParameter: the body is empty.
        InvalidMessageContents: the body holds a disallowed character or a lone surrogate.
    """
    if not body:
        raise MissingParameter("The request must contain the parameter MessageBody.")
    if contains_invalid_characters(body):
        raise InvalidMessageContents(INVALID_CHARACTERS_MESSAGE)


def validated_body_bytes(body: str) -> bytes:
    """``validate_body``, then return the body encoded as UTF-8 (one pass for ASCII)."""
    if body and body.isascii():
        raw = body.encode("ascii")
        if raw.translate(None, _VALID_ASCII_BYTES):
            raise InvalidMessageContents(INVALID_CHARACTERS_MESSAGE)
        return raw
    validate_body(body)
    return body.encode()


def validate_message_size(
    body: str, attrs: Mapping[str, Mapping[str, Any]] | None, max_size: int
) -> int:
    """Check body bytes plus message-attribute bytes against the queue's MaximumMessageSize.

    Call after ``validate_body`` and ``validate_message_attributes``. Returns the size.

    Raises:
        InvalidParameterValue: the message is larger than ``max_size`` bytes.
    """
    size = len(body.encode("utf-8")) + message_attributes_size(attrs or {})
    if size > max_size:
        raise InvalidParameterValue(
            "One or more parameters are invalid. "
            f"Reason: Message must be shorter than {max_size} bytes."
        )
    return size


def validate_batch_size(total_size: int, max_size: int = MAX_MESSAGE_SIZE) -> None:
    """Check the summed size of a SendMessageBatch's messages.

    Raises:
        BatchRequestTooLong: the batch carries more than ``max_size`` bytes.
    """
    if total_size > max_size:
        raise BatchRequestTooLong(
            f"Batch requests cannot be longer than {max_size} bytes."
            f" You have sent {total_size} bytes."
        )


# ---------------------------------------------------------------------------------------------
# Message attributes
# ---------------------------------------------------------------------------------------------


def _validate_attribute_name(name: object) -> None:
    """Check one message-attribute name (length, characters, reserved prefixes, periods)."""
    if not isinstance(name, str) or not name:
        raise InvalidParameterValue("Message attribute name can not be null or empty.")
    if len(name) > MAX_ATTRIBUTE_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Message (user) attribute names must be at most {MAX_ATTRIBUTE_NAME_LENGTH}"
            " characters long."
        )
    if not _ATTRIBUTE_NAME_RE.fullmatch(name):
        raise InvalidParameterValue(
            "Message (user) attribute names can only contain alphanumeric characters,"
            " hyphens (-), underscores (_) and periods (.)."
        )
    if name.lower().startswith(_RESERVED_ATTRIBUTE_PREFIXES):
        raise InvalidParameterValue(
            f"Message (user) attribute name '{name}' is invalid. You can't use message"
            " attribute names beginning with 'AWS.' or 'Amazon.'. These strings are reserved"
            " for internal use."
        )
    if name.startswith(".") or name.endswith(".") or ".." in name:
        raise InvalidParameterValue(
            f"Message (user) attribute name '{name}' is invalid. Attribute names can't start"
            " or end with a period (.) or contain consecutive periods (..)."
        )


def _base_data_type(name: str, data_type: object) -> str:
    """Check a DataType (``String|Number|Binary`` + optional ``.custom``); return its base."""
    if not isinstance(data_type, str) or not data_type:
        raise InvalidParameterValue(
            f"The message attribute '{name}' must contain a non-empty message attribute type."
        )
    if len(data_type) > MAX_ATTRIBUTE_TYPE_LENGTH:
        raise InvalidParameterValue(
            f"The type of message (user) attribute '{name}' must be at most"
            f" {MAX_ATTRIBUTE_TYPE_LENGTH} characters long."
        )
    base, dot, custom = data_type.partition(".")
    bad_custom = bool(dot) and (not custom or contains_invalid_characters(custom))
    if base not in _BASE_DATA_TYPES or bad_custom:
        raise InvalidParameterValue(
            f"The type of message (user) attribute '{name}' is invalid. You must use only the"
            " following supported type prefixes: Binary, Number, String."
        )
    return base


def _number_in_range(text: str) -> bool:
    """Tell whether a decimal string fits SQS's Number: 38 digits, 10^-128..10^+126."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        return False
    if number.is_zero():
        return True
    significant = "".join(map(str, number.as_tuple().digits)).rstrip("0")
    magnitude = number.copy_abs()
    in_range = MIN_NUMBER_MAGNITUDE <= magnitude <= MAX_NUMBER_MAGNITUDE
    return in_range and len(significant) <= MAX_NUMBER_DIGITS


def _validate_number(name: str, text: str) -> None:
    """Check the StringValue of a Number attribute."""
    if not _NUMBER_RE.fullmatch(text):
        raise InvalidParameterValue(
            f"Can't convert value '{text}' of message attribute '{name}' to a number."
        )
    if not _number_in_range(text):
        raise InvalidParameterValue(
            f"Value {text} of message attribute '{name}' is out of range: a Number has at most"
            f" {MAX_NUMBER_DIGITS} significant digits and lies between 10^-128 and 10^+126."
        )


def _empty_value_error(name: str, base: str) -> InvalidParameterValue:
    """Build SQS's error for a missing or empty attribute value."""
    return InvalidParameterValue(
        f"The message attribute '{name}' must contain a non-empty message attribute value"
        f" for message attribute type '{base}'."
    )


def _wrong_field_error(name: str, base: str) -> InvalidParameterValue:
    """Build SQS's error for a value given in the field of another transport type."""
    field = "Binary" if base == "Binary" else "String"
    return InvalidParameterValue(
        f"The message attribute '{name}' with type '{base}' must use field '{field}'."
    )


def _validate_binary_value(name: str, value: Mapping[str, Any]) -> None:
    """Check a Binary attribute carries non-empty bytes in BinaryValue only."""
    if value.get("StringValue") is not None:
        raise _wrong_field_error(name, "Binary")
    raw = value.get("BinaryValue")
    if not isinstance(raw, bytes | bytearray | memoryview) or len(raw) == 0:
        raise _empty_value_error(name, "Binary")


def _validate_string_value(name: str, base: str, value: Mapping[str, Any]) -> None:
    """Check a String/Number attribute carries a valid non-empty StringValue only."""
    if value.get("BinaryValue") is not None:
        raise _wrong_field_error(name, base)
    text = value.get("StringValue")
    if not isinstance(text, str) or not text:
        raise _empty_value_error(name, base)
    if contains_invalid_characters(text):
        raise InvalidParameterValue(INVALID_CHARACTERS_MESSAGE)
    if base == "Number":
        _validate_number(name, text)


def _validate_attribute_value(name: str, value: object) -> None:
    """Check one message attribute's value structure (type, transport field, content)."""
    if not isinstance(value, Mapping):
        raise InvalidParameterValue(f"The message attribute '{name}' is malformed.")
    if value.get("StringListValues") or value.get("BinaryListValues"):
        raise InvalidParameterValue(
            "Message attribute list values in SendMessage operation are not supported."
        )
    base = _base_data_type(name, value.get("DataType"))
    if base == "Binary":
        _validate_binary_value(name, value)
    else:
        _validate_string_value(name, base, value)


def validate_message_attributes(attrs: Mapping[str, Mapping[str, Any]]) -> None:
    """Check user message attributes (boto3 shape) against every SQS rule.

    At most 10; names ``[A-Za-z0-9_.-]{1,256}`` without ``AWS.``/``Amazon.`` prefix (any
    case) or leading/trailing/doubled periods; DataType ``String|Number|Binary[.custom]`` of
    at most 256 characters; a non-empty value in the matching field; String values limited to
    the body's character set; Number values numeric within SQS's range.

    Raises:
        InvalidParameterValue: any rule is broken.
    """
    if len(attrs) > MAX_MESSAGE_ATTRIBUTES:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(attrs)}] exceeds the allowed maximum"
            f" [{MAX_MESSAGE_ATTRIBUTES}]."
        )
    for name, value in attrs.items():
        _validate_attribute_name(name)
        _validate_attribute_value(name, value)


def _attribute_value_size(value: Mapping[str, Any]) -> int:
    """Return the byte length of an attribute's value (BinaryValue or UTF-8 StringValue)."""
    raw = value.get("BinaryValue")
    if raw is not None:
        return len(bytes(raw))
    text: str = value.get("StringValue") or ""
    return len(text.encode("utf-8"))


def message_attributes_size(attrs: Mapping[str, Mapping[str, Any]]) -> int:
    """Return the bytes message attributes add to the message size.

    Name (UTF-8) + DataType (UTF-8) + value bytes, summed over all attributes.
    """
    total = 0
    for name, value in attrs.items():
        data_type: str = value.get("DataType") or ""
        total += len(name.encode("utf-8")) + len(data_type.encode("utf-8"))
        total += _attribute_value_size(value)
    return total


def validate_system_attributes_for_send(sys_attrs: Mapping[str, Mapping[str, Any]]) -> None:
    """Check MessageSystemAttributes of a send: only ``AWSTraceHeader``, of type String.

    Raises:
        InvalidParameterValue: another name, another type or an empty/invalid value.
    """
    for name, value in sys_attrs.items():
        if name != TRACE_HEADER_ATTRIBUTE:
            raise InvalidParameterValue(
                f"Message system attribute name '{name}' is invalid. Only"
                f" {TRACE_HEADER_ATTRIBUTE} can be set."
            )
        if not isinstance(value, Mapping) or value.get("DataType") != "String":
            raise InvalidParameterValue(
                f"The message system attribute '{name}' must be of type 'String'."
            )
        _validate_string_value(name, "String", value)


# ---------------------------------------------------------------------------------------------
# Request parameters
# ---------------------------------------------------------------------------------------------


def validate_delay(value: int, queue_fifo: bool) -> None:
    """Check a per-message DelaySeconds: 0-900, and only 0 on a FIFO queue.

    Raises:
        InvalidParameterValue: out of range, or a positive delay on a FIFO queue.
    """
    _check_int_range(
        "DelaySeconds",
        value,
        0,
        MAX_DELAY_SECONDS,
        f"DelaySeconds must be >= 0 and <= {MAX_DELAY_SECONDS}.",
    )
    if queue_fifo and value != 0:
        raise _invalid_parameter(
            "DelaySeconds",
            value,
            "The request include parameter that is not valid for this queue type.",
        )


def validate_visibility_timeout(v: int) -> None:
    """Check a VisibilityTimeout: 0-43200 seconds.

    Raises:
        InvalidParameterValue: out of range.
    """
    _check_int_range(
        "VisibilityTimeout",
        v,
        0,
        MAX_VISIBILITY_TIMEOUT,
        f"VisibilityTimeout must be an integer between 0 and {MAX_VISIBILITY_TIMEOUT}.",
    )


def validate_receive_params(
    max_messages: int, wait_time_s: int | None, visibility_timeout_s: int | None
) -> None:
    """Check ReceiveMessage's MaxNumberOfMessages (1-10), WaitTimeSeconds (0-20, optional)
    and VisibilityTimeout (0-43200, optional).

    Raises:
        InvalidParameterValue: a value out of range.
    """
    _check_int_range(
        "MaxNumberOfMessages",
        max_messages,
        1,
        MAX_RECEIVE_MESSAGES,
        f"Must be between 1 and {MAX_RECEIVE_MESSAGES}, if provided.",
    )
    if wait_time_s is not None:
        _check_int_range(
            "WaitTimeSeconds",
            wait_time_s,
            0,
            MAX_WAIT_TIME_SECONDS,
            f"Must be >= 0 and <= {MAX_WAIT_TIME_SECONDS}, if provided.",
        )
    if visibility_timeout_s is not None:
        validate_visibility_timeout(visibility_timeout_s)


def validate_batch_entry_ids(ids: Sequence[str]) -> None:
    """Check a batch's entry Ids: 1-10 entries, each ``[A-Za-z0-9_-]{1,80}``, all distinct.

    Raises:
        EmptyBatchRequest: no entries.
        TooManyEntriesInBatchRequest: more than 10 entries.
        InvalidBatchEntryId: an Id of the wrong form.
        BatchEntryIdsNotDistinct: an Id used twice.
    """
    if not ids:
        raise EmptyBatchRequest("There should be at least one entry in the request.")
    if len(ids) > MAX_BATCH_ENTRIES:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}."
            f" You have sent {len(ids)}."
        )
    seen: set[str] = set()
    for entry_id in ids:
        if not isinstance(entry_id, str) or not _BATCH_ID_RE.fullmatch(entry_id):
            raise InvalidBatchEntryId(_BATCH_ID_MESSAGE)
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)


# ---------------------------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------------------------


def check_tag_count(n: int) -> None:
    """Check a queue would hold at most 50 tags after a request.

    Raises:
        InvalidParameterValue: more than 50 tags.
    """
    if n > MAX_TAGS_PER_QUEUE:
        raise InvalidParameterValue(
            f"Too many tags added for queue. A queue can have at most {MAX_TAGS_PER_QUEUE}"
            f" tags; the request would leave it with {n}."
        )


def _validate_tag_key(key: object) -> None:
    """Check a tag key: 1-128 allowed characters, no ``aws:`` prefix."""
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
        raise InvalidParameterValue(
            f"Tag keys must be between 1 and {MAX_TAG_KEY_LENGTH} characters long."
        )
    if key.lower().startswith(RESERVED_TAG_PREFIX):
        raise InvalidParameterValue(
            f"Tag key '{key}' is invalid. Tag keys can't start with '{RESERVED_TAG_PREFIX}',"
            " which is reserved for AWS use."
        )
    if not _TAG_TEXT_RE.fullmatch(key):
        raise InvalidParameterValue(
            "Tag keys can only contain Unicode letters, digits, white space and _ . : / = + - @."
        )


def _validate_tag_value(key: str, value: object) -> None:
    """Check a tag value: at most 256 allowed characters."""
    if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameterValue(
            f"The value of tag '{key}' must be at most {MAX_TAG_VALUE_LENGTH} characters long."
        )
    if not _TAG_TEXT_RE.fullmatch(value):
        raise InvalidParameterValue(
            f"The value of tag '{key}' can only contain Unicode letters, digits, white space"
            " and _ . : / = + - @."
        )


def validate_tags(tags: Mapping[str, str]) -> None:
    """Check tags of a CreateQueue or TagQueue request (keys, values and count).

    Raises:
        InvalidParameterValue: a bad key or value, or more than 50 tags.
    """
    check_tag_count(len(tags))
    for key, value in tags.items():
        _validate_tag_key(key)
        _validate_tag_value(key, value)


# ---------------------------------------------------------------------------------------------
# FIFO queues
# ---------------------------------------------------------------------------------------------

# Longest MessageGroupId, MessageDeduplicationId and ReceiveRequestAttemptId.
MAX_FIFO_ID_LENGTH: Final = 128
# Alphanumerics and ASCII punctuation: what those three ids may hold.
_FIFO_ID_RE: Final = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")


def validate_fifo_id(parameter: str, value: object) -> None:
    """Check a MessageGroupId, MessageDeduplicationId or ReceiveRequestAttemptId: 1-128
    alphanumeric or punctuation characters.

    Raises:
        InvalidParameterValue: empty, too long, or another character.
    """
    if not isinstance(value, str) or not _FIFO_ID_RE.fullmatch(value):
        raise _invalid_parameter(
            parameter, value,
            f"{parameter} can only include alphanumeric and punctuation characters. 1 to "
            f"{MAX_FIFO_ID_LENGTH} in length.")


def validate_fifo_send(
    group_id: str | None, deduplication_id: str | None, delay_seconds: int | None, *,
    fifo: bool,
) -> None:
    """Check the FIFO parameters of one message sent to a FIFO (``fifo=True``) or a
    standard queue: a FIFO queue needs a MessageGroupId and takes no per-message delay; a
    standard queue takes a MessageGroupId (fair queues) but no MessageDeduplicationId.

    Raises:
        MissingParameter: no MessageGroupId for a FIFO queue.
        InvalidParameterValue: a malformed id; a deduplication id on a standard queue; a
            positive DelaySeconds on a FIFO queue.
    """
    if fifo:
        if group_id is None:
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        if delay_seconds is not None:
            validate_delay(delay_seconds, True)
    elif deduplication_id is not None:
        raise InvalidParameterValue(
            "The request include parameter MessageDeduplicationId which is not valid for "
            "this queue type")
    if group_id is not None:
        validate_fifo_id("MessageGroupId", group_id)
    if deduplication_id is not None:
        validate_fifo_id("MessageDeduplicationId", deduplication_id)


def validate_fifo_throughput(scope: str, limit: str) -> None:
    """Check a FIFO queue's DeduplicationScope / FifoThroughputLimit pair: high-throughput
    mode (``perMessageGroupId``) needs ``messageGroup`` deduplication.

    Raises:
        InvalidAttributeValue: ``perMessageGroupId`` with ``queue`` scope.
    """
    if limit == "perMessageGroupId" and scope != "messageGroup":
        raise InvalidAttributeValue(
            "Invalid value for the parameter FifoThroughputLimit. Reason: "
            "FifoThroughputLimit perMessageGroupId can be set only when "
            "DeduplicationScope is messageGroup.")
