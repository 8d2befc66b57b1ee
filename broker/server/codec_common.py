"""What the wire codecs share: the slice of botocore's model they read, and SQS's query names.

The codecs never import botocore: they read a service model through the small protocols
below (botocore's ``ServiceModel`` / ``OperationModel`` / ``Shape`` satisfy them), so
importing ``broker.server`` loads no model and needs no botocore.

**SQS on the query protocol.** Since botocore 1.34.90 the SQS model is awsJson1_0 with
``awsQueryCompatible``: it keeps the ``flattened`` trait but dropped the query names
(``locationName``), the result wrappers, the query error codes and ``xmlNamespace`` that
the query wire still uses and that every SDK released before the switch sends and
expects. ``SQS_QUERY_COMPAT`` restores them from AWS's Smithy model of SQS
(``com.amazonaws.sqs``): the ``smithy.api#xmlName`` traits, which match the pre-1.34.90
botocore query model, and the ``awsQueryError`` codes (``QueueDoesNotExist`` is sent as
``AWS.SimpleQueueService.NonExistentQueue``). With it, ``CreateQueue`` attributes travel
as ``Attribute.1.Name`` / ``Attribute.1.Value``, batch entries as
``SendMessageBatchRequestEntry.1.Id`` and so on. ``apply_query_compat`` builds the
equivalent botocore description (useful to drive a real botocore query client).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import copy
import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from types import MappingProxyType
from typing import Any, Final, Protocol, cast

__all__ = [
    "QUERY_COMPAT",
    "SQS_QUERY_COMPAT",
    "ListShape",
    "MapShape",
    "OperationModel",
    "QueryCompat",
    "QueryNames",
    "ServiceModel",
    "Shape",
    "StructureShape",
    "apply_query_compat",
    "b64decode",
    "b64encode",
    "float_text",
    "format_timestamp",
    "json_float",
    "parse_timestamp",
    "shape_key",
    "to_datetime",
]


# --- the slice of botocore's model the codecs read -------------------------------------


class Shape(Protocol):
    """``botocore.model.Shape`` as the codecs see it."""

    @property
    def name(self) -> str: ...

    @property
    def type_name(self) -> str: ...

    @property
    def serialization(self) -> Mapping[str, Any]: ...


class StructureShape(Shape, Protocol):
    @property
    def members(self) -> Mapping[str, Shape]: ...

    @property
    def is_document_type(self) -> bool: ...


class ListShape(Shape, Protocol):
    @property
    def member(self) -> Shape: ...


class MapShape(Shape, Protocol):
    @property
    def key(self) -> Shape: ...

    @property
    def value(self) -> Shape: ...


class OperationModel(Protocol):
    """``botocore.model.OperationModel`` as the codecs see it."""

    @property
    def name(self) -> str: ...

    @property
    def input_shape(self) -> Shape | None: ...

    @property
    def output_shape(self) -> Shape | None: ...


class ServiceModel(Protocol):
    """``botocore.model.ServiceModel`` as the codecs see it."""

    @property
    def metadata(self) -> Mapping[str, Any]: ...

    @property
    def operation_names(self) -> Sequence[str]: ...

    def operation_model(self, operation_name: str) -> OperationModel: ...


def shape_key(shape: Shape) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """Identity of a shape *as referenced*: member traits (``flattened``, names) included."""
    traits = tuple(sorted((k, repr(v)) for k, v in shape.serialization.items()))
    return (shape.name, shape.type_name, traits)


# --- the query names SQS's JSON-era model lost ----------------------------------------


@dataclass(frozen=True, slots=True)
class QueryCompat:
    """Query-protocol traits to lay over a JSON model that is ``awsQueryCompatible``."""

    xml_namespace: str
    member_names: Mapping[tuple[str, str], str]
    """``(structure shape, member) -> wire name`` (Smithy ``xmlName`` on the member)."""
    list_member_names: Mapping[str, str]
    """``list shape -> element name`` (Smithy ``xmlName`` on the list's member)."""
    map_entry_names: Mapping[str, tuple[str, str]]
    """``map shape -> (key name, value name)``."""
    error_codes: Mapping[str, tuple[str, int]]
    """``error shape -> (query code, HTTP status)`` (Smithy ``awsQueryError``)."""
    wrap_results: bool = True
    """Every output sits in ``<{Operation}Result>`` (the query ``resultWrapper``)."""


_SQS_ATTR = ("Name", "Value")

SQS_QUERY_COMPAT: Final = QueryCompat(
    xml_namespace="http://queue.amazonaws.com/doc/2012-11-05/",
    member_names=MappingProxyType(
        {
            ("AddPermissionRequest", "AWSAccountIds"): "AWSAccountId",
            ("AddPermissionRequest", "Actions"): "ActionName",
            (
                "ChangeMessageVisibilityBatchRequest",
                "Entries",
            ): "ChangeMessageVisibilityBatchRequestEntry",
            ("ChangeMessageVisibilityBatchResult", "Successful"): (
                "ChangeMessageVisibilityBatchResultEntry"
            ),
            ("ChangeMessageVisibilityBatchResult", "Failed"): "BatchResultErrorEntry",
            ("CreateQueueRequest", "Attributes"): "Attribute",
            ("CreateQueueRequest", "tags"): "Tag",
            ("DeleteMessageBatchRequest", "Entries"): "DeleteMessageBatchRequestEntry",
            ("DeleteMessageBatchResult", "Successful"): "DeleteMessageBatchResultEntry",
            ("DeleteMessageBatchResult", "Failed"): "BatchResultErrorEntry",
            ("GetQueueAttributesRequest", "AttributeNames"): "AttributeName",
            ("GetQueueAttributesResult", "Attributes"): "Attribute",
            ("ListDeadLetterSourceQueuesResult", "queueUrls"): "QueueUrl",
            ("ListMessageMoveTasksResult", "Results"): "ListMessageMoveTasksResultEntry",
            ("ListQueueTagsResult", "Tags"): "Tag",
            ("ListQueuesResult", "QueueUrls"): "QueueUrl",
            ("Message", "Attributes"): "Attribute",
            ("Message", "MessageAttributes"): "MessageAttribute",
            ("MessageAttributeValue", "StringListValues"): "StringListValue",
            ("MessageAttributeValue", "BinaryListValues"): "BinaryListValue",
            ("MessageSystemAttributeValue", "StringListValues"): "StringListValue",
            ("MessageSystemAttributeValue", "BinaryListValues"): "BinaryListValue",
            ("ReceiveMessageRequest", "AttributeNames"): "AttributeName",
            # Smithy gives the newer member the same wire name: on the query protocol
            # both lists are ``AttributeName.N`` (decoded into ``AttributeNames``).
            ("ReceiveMessageRequest", "MessageSystemAttributeNames"): "AttributeName",
            ("ReceiveMessageRequest", "MessageAttributeNames"): "MessageAttributeName",
            ("ReceiveMessageResult", "Messages"): "Message",
            ("SendMessageBatchRequest", "Entries"): "SendMessageBatchRequestEntry",
            ("SendMessageBatchRequestEntry", "MessageAttributes"): "MessageAttribute",
            ("SendMessageBatchRequestEntry", "MessageSystemAttributes"): "MessageSystemAttribute",
            ("SendMessageBatchResult", "Successful"): "SendMessageBatchResultEntry",
            ("SendMessageBatchResult", "Failed"): "BatchResultErrorEntry",
            ("SendMessageRequest", "MessageAttributes"): "MessageAttribute",
            ("SendMessageRequest", "MessageSystemAttributes"): "MessageSystemAttribute",
            ("SetQueueAttributesRequest", "Attributes"): "Attribute",
            ("TagQueueRequest", "Tags"): "Tag",
            ("UntagQueueRequest", "TagKeys"): "TagKey",
        }
    ),
    list_member_names=MappingProxyType(
        {"StringList": "StringListValue", "BinaryList": "BinaryListValue"}
    ),
    map_entry_names=MappingProxyType(
        {
            "QueueAttributeMap": _SQS_ATTR,
            "MessageBodyAttributeMap": _SQS_ATTR,
            "MessageBodySystemAttributeMap": _SQS_ATTR,
            "MessageSystemAttributeMap": _SQS_ATTR,
            "TagMap": ("Key", "Value"),
        }
    ),
    error_codes=MappingProxyType(
        {
            "BatchEntryIdsNotDistinct": ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400),
            "BatchRequestTooLong": ("AWS.SimpleQueueService.BatchRequestTooLong", 400),
            "EmptyBatchRequest": ("AWS.SimpleQueueService.EmptyBatchRequest", 400),
            "InvalidAddress": ("InvalidAddress", 404),
            "InvalidBatchEntryId": ("AWS.SimpleQueueService.InvalidBatchEntryId", 400),
            "InvalidSecurity": ("InvalidSecurity", 403),
            "KmsAccessDenied": ("KMS.AccessDeniedException", 400),
            "KmsDisabled": ("KMS.DisabledException", 400),
            "KmsInvalidKeyUsage": ("KMS.InvalidKeyUsageException", 400),
            "KmsInvalidState": ("KMS.InvalidStateException", 400),
            "KmsNotFound": ("KMS.NotFoundException", 400),
            "KmsOptInRequired": ("KMS.OptInRequired", 403),
            "KmsThrottled": ("KMS.ThrottlingException", 400),
            "MessageNotInflight": ("AWS.SimpleQueueService.MessageNotInflight", 400),
            "OverLimit": ("OverLimit", 403),
            "PurgeQueueInProgress": ("AWS.SimpleQueueService.PurgeQueueInProgress", 403),
            "QueueDeletedRecently": ("AWS.SimpleQueueService.QueueDeletedRecently", 400),
            "QueueDoesNotExist": ("AWS.SimpleQueueService.NonExistentQueue", 400),
            "QueueNameExists": ("QueueAlreadyExists", 400),
            "ReceiptHandleIsInvalid": ("ReceiptHandleIsInvalid", 404),
            "RequestThrottled": ("RequestThrottled", 403),
            "ResourceNotFoundException": ("ResourceNotFoundException", 404),
            "TooManyEntriesInBatchRequest": (
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                400,
            ),
            "UnsupportedOperation": ("AWS.SimpleQueueService.UnsupportedOperation", 400),
        }
    ),
)

#: serviceId -> the query traits its JSON-era botocore model lacks
QUERY_COMPAT: Final[Mapping[str, QueryCompat]] = MappingProxyType({"SQS": SQS_QUERY_COMPAT})


def apply_query_compat(description: Mapping[str, Any], compat: QueryCompat) -> dict[str, Any]:
    """A copy of a botocore service description (``service-2.json``) with ``compat`` applied.

    ``botocore.model.ServiceModel(apply_query_compat(raw, SQS_QUERY_COMPAT))`` serializes
    and parses SQS's query wire exactly as the pre-JSON botocore did.
    """
    out: dict[str, Any] = copy.deepcopy(dict(description))
    out["metadata"] = {**out["metadata"], "protocol": "query", "protocols": ["query"]}
    out["metadata"]["xmlNamespace"] = compat.xml_namespace
    shapes = out["shapes"]
    for (structure, member), name in compat.member_names.items():
        shapes[structure]["members"][member]["locationName"] = name
    for list_name, name in compat.list_member_names.items():
        shapes[list_name]["member"]["locationName"] = name
    for map_name, (key, value) in compat.map_entry_names.items():
        shapes[map_name]["key"]["locationName"] = key
        shapes[map_name]["value"]["locationName"] = value
    for error, (code, status) in compat.error_codes.items():
        shapes[error]["error"] = {"code": code, "httpStatusCode": status, "senderFault": True}
    if compat.wrap_results:
        for op_name, op in out["operations"].items():
            if "output" in op:
                op["output"] = {**op["output"], "resultWrapper": f"{op_name}Result"}
    return out


class QueryNames:
    """Wire names on the query protocol, by botocore's ``QuerySerializer``/``QueryParser`` rules.

    * a structure member is named by its ``locationName``, else its member name;
    * a *flattened* list whose element has a ``locationName`` takes the element's name;
    * a non-flattened list nests its elements as ``member`` (or the element's name);
    * a map's entry holds ``key``/``value`` (or their ``locationName``s), non-flattened
      maps nest entries as ``entry``.

    ``compat`` names take precedence over the model's own.
    """

    __slots__ = ("_compat", "xml_namespace")

    def __init__(self, model_namespace: str | None, compat: QueryCompat | None) -> None:
        self._compat = compat
        self.xml_namespace = model_namespace or (compat.xml_namespace if compat else None)

    @staticmethod
    def flattened(shape: Shape) -> bool:
        return bool(shape.serialization.get("flattened"))

    def list_member(self, shape: ListShape) -> str | None:
        if self._compat is not None:
            name = self._compat.list_member_names.get(shape.name)
            if name is not None:
                return name
        explicit: str | None = shape.member.serialization.get("name")
        return explicit

    def member(self, parent: StructureShape, member_name: str, member: Shape) -> str:
        name: str | None = None
        if self._compat is not None:
            name = self._compat.member_names.get((parent.name, member_name))
        if name is None:
            name = member.serialization.get("name") or member_name
        if member.type_name == "list" and self.flattened(member):
            element = self.list_member(cast(ListShape, member))
            if element:
                name = element
        return name

    def map_entry(self, shape: MapShape) -> tuple[str, str]:
        if self._compat is not None:
            names = self._compat.map_entry_names.get(shape.name)
            if names is not None:
                return names
        key: str = shape.key.serialization.get("name") or "key"
        value: str = shape.value.serialization.get("name") or "value"
        return key, value

    def result_wrapper(self, operation_name: str, output: Shape) -> str | None:
        wrapper: str | None = output.serialization.get("resultWrapper")
        if wrapper is None and self._compat is not None and self._compat.wrap_results:
            wrapper = f"{operation_name}Result"
        return wrapper


# --- scalars ---------------------------------------------------------------------------

_UTC = dt.UTC


def b64encode(value: bytes | bytearray | memoryview | str) -> str:
    """Base64 text of a blob (``str`` blobs are UTF-8 encoded first, as botocore does)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict base64 (standard alphabet; missing ``=`` padding tolerated); ``ValueError``."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    missing = -len(text) % 4
    if missing == 3:
        raise ValueError("invalid length")
    try:
        return base64.b64decode(text + "=" * missing, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from None


def to_datetime(value: Any) -> dt.datetime:
    """A timestamp given as ``datetime`` (naive = UTC), epoch seconds, or ISO-8601 text."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, _UTC)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise TypeError(f"not a timestamp: {value!r}")


_EPOCH_TEXT = re.compile(r"[+-]?\d+(\.\d+)?")


def parse_timestamp(text: str) -> dt.datetime:
    """ISO-8601, epoch seconds or RFC 822 text -> aware ``datetime``; ``ValueError``."""
    text = text.strip()
    if _EPOCH_TEXT.fullmatch(text):
        return dt.datetime.fromtimestamp(float(text), _UTC)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"not a timestamp: {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


def _epoch(value: dt.datetime) -> int | float:
    seconds = calendar.timegm(value.utctimetuple())
    if value.microsecond:
        # one rounding only, as botocore does
        return (seconds * 10**6 + value.microsecond) / 10**6
    return seconds


def format_timestamp(value: Any, fmt: str) -> int | float | str:
    """A timestamp in ``fmt`` (``unixtimestamp`` -> number, ``iso8601``, ``rfc822``)."""
    when = to_datetime(value).astimezone(_UTC)
    fmt = fmt.lower()
    if fmt == "unixtimestamp":
        return _epoch(when)
    if fmt == "rfc822":
        return formatdate(calendar.timegm(when.utctimetuple()), usegmt=True)
    if when.microsecond:
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_float(value: float) -> float | str:
    """Non-finite floats as the JSON protocols send them (``"NaN"``, ``"Infinity"``)."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def float_text(value: float) -> str:
    converted = json_float(float(value))
    return converted if isinstance(converted, str) else repr(converted)
