"""Wire codecs: AWS JSON, CBOR and query requests/responses <-> the dicts boto3 users see.

The server's service adapters work on plain dicts shaped like the service's JSON
input/output (``{"QueueUrl": ..., "Entries": [{"Id": "a", "MessageAttributes": {"n":
{"DataType": "Binary", "BinaryValue": b"..."}}}]}``: ints as ``int``, blobs as ``bytes``,
timestamps as ``datetime``). A ``ServiceCodec`` translates between those dicts and both
wire protocols, driven by the botocore service model it is built with::

    import botocore.session

    codec = ServiceCodec(botocore.session.get_session().get_service_model("sqs"))
    params = codec.decode_json("SendMessage", body)            # awsJson request
    params = codec.decode_cbor("PutRecord", body)              # x-amz-cbor-1.1 request
    params = codec.decode_query("SendMessage", form)           # query request
    body = codec.encode_json("SendMessage", result)            # awsJson response
    body = codec.encode_cbor("GetRecords", result)             # x-amz-cbor-1.1 response
    body = codec.encode_query_response("SendMessage", result, request_id)

Build one codec per service at start-up and share it: it holds no request state, and
compiles each shape's decoder/encoder once, on first use. SQS's query names (which the
JSON-era botocore model no longer carries) come from ``codec_common.SQS_QUERY_COMPAT``.

**CBOR** (``application/x-amz-cbor-1.1``, the Java SDKs' default for Kinesis) is the JSON
protocol with CBOR bodies (:mod:`broker.server.cbor`): same operations, members and error
map (``__type``, ``message``), but blobs travel as byte strings and timestamps as tag 1
around epoch *milliseconds* (what the Java SDKs write and parse, against RFC 8949's
seconds). Decoding also takes tag-1 seconds, bare numbers (a magnitude above
``CBOR_MS_THRESHOLD`` counts milliseconds, anything less seconds), timestamp text, and
base64 text for blobs.

Errors (all from ``broker.errors``):

* unknown operation: ``UnknownOperationException`` (JSON), ``InvalidAction`` (query),
  ``MissingAction`` (query, no ``Action`` at all);
* JSON or CBOR body that does not parse or does not fit the input shape (including bad
  base64): ``SerializationException``;
* query field that does not parse (integer, boolean, number, base64, timestamp):
  ``InvalidParameterValue``; a map entry without its key or value: ``MissingParameter``.

Required members are not checked here: the action layer answers ``MissingParameter``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from broker import errors
from broker.server import cbor
from broker.server.codec_common import (
    QUERY_COMPAT,
    SQS_QUERY_COMPAT,
    OperationModel,
    QueryCompat,
    QueryNames,
    ServiceModel,
    Shape,
    apply_query_compat,
    b64decode,
    parse_timestamp,
    to_datetime,
)
from broker.server.json_codec import (
    BadJsonValue,
    JsonCompiler,
    JsonDecoder,
    JsonEncoder,
    mismatch,
)
from broker.server.json_codec import decode_body as _decode_json_body
from broker.server.json_codec import encode_body as _encode_json_body
from broker.server.query_codec import QueryCompiler, QueryDecoder, xml_text

__all__ = [
    "CBOR_CONTENT_TYPE",
    "QUERY_COMPAT",
    "SQS_QUERY_COMPAT",
    "XML_CONTENT_TYPE",
    "QueryCompat",
    "ServiceCodec",
    "apply_query_compat",
    "query_error_header",
]

Protocol = Literal["json", "query"]

XML_CONTENT_TYPE: Final = "text/xml"
"""``Content-Type`` of query-protocol responses (what SQS and SNS send)."""
CBOR_CONTENT_TYPE: Final = "application/x-amz-cbor-1.1"
"""``Content-Type`` of CBOR requests and responses."""
CBOR_MS_THRESHOLD: Final = 100_000_000_000
"""A CBOR timestamp of a larger magnitude counts milliseconds (1e11 ms is March 1973,
1e11 s the year 5138)."""

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND: Final = dt.timedelta(milliseconds=1)


def _no_input(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise BadJsonValue("Start of structure or map expected.")
    return {}


# --- CBOR leaves (the rest of the shape walk is the JSON codec's) ------------------------


def _cbor_blob(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) is str:  # base64 text, as in JSON (lenient: AWS sends byte strings)
        try:
            return b64decode(value)
        except ValueError:
            raise BadJsonValue("Base64 encoded value is not valid.") from None
    raise _cbor_mismatch(value, "a Blob")


def _cbor_timestamp(value: Any) -> dt.datetime:
    raw = value
    if type(value) is cbor.Tag:
        if value.number not in (0, 1):  # 0: date/time text, 1: epoch-based
            raise _cbor_mismatch(value, "a Timestamp")
        value = value.value
    kind = type(value)
    try:
        if kind is int or kind is float:
            if abs(value) > CBOR_MS_THRESHOLD:
                return _EPOCH + dt.timedelta(milliseconds=value)
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if kind is str:
            return parse_timestamp(value)
    except (ValueError, OverflowError, OSError):
        raise BadJsonValue(f"Timestamp value {raw!r} is not valid.") from None
    raise _cbor_mismatch(value, "a Timestamp")


def _cbor_mismatch(value: Any, expected: str) -> BadJsonValue:
    """The JSON codec's wording, with CBOR's byte strings and tags."""
    if isinstance(value, cbor.Tag):
        return BadJsonValue(f"CBOR tag {value.number} can not be converted to {expected}")
    if isinstance(value, bytes):
        return BadJsonValue(f"BYTE_STRING_VALUE can not be converted to {expected}")
    return mismatch(value, expected)


def _cbor_blob_out(value: bytes | bytearray | memoryview | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _cbor_timestamp_out(value: Any) -> cbor.Tag:
    """Tag 1 around integer epoch milliseconds: the Java SDKs parse it with
    ``Long.parseLong`` (a fraction or seconds would not do)."""
    return cbor.Tag(1, (to_datetime(value) - _EPOCH) // _MILLISECOND)


class _CborCompiler(JsonCompiler):
    """The JSON codec's compiled shape walk with CBOR's blob, timestamp and float leaves."""

    __slots__ = ()

    def _build_decoder(self, shape: Shape, key: object) -> JsonDecoder:
        if shape.type_name == "blob":
            return _cbor_blob
        if shape.type_name == "timestamp":
            return _cbor_timestamp
        return super()._build_decoder(shape, key)

    def _build_encoder(self, shape: Shape, key: object) -> JsonEncoder:
        type_name = shape.type_name
        if type_name == "blob":
            return _cbor_blob_out
        if type_name == "timestamp":
            return _cbor_timestamp_out
        if type_name in ("float", "double"):
            return float  # CBOR has NaN and the infinities
        return super()._build_encoder(shape, key)


def query_error_header(code: str, sender_fault: bool) -> str:
    """``x-amzn-query-error`` for an ``awsQueryCompatible`` JSON error (``Code;Sender``).

    botocore reports this code instead of the JSON ``__type`` (e.g. SQS's
    ``AWS.SimpleQueueService.NonExistentQueue`` for ``QueueDoesNotExist``).
    """
    return f"{code};{'Sender' if sender_fault else 'Receiver'}"


class ServiceCodec:
    """Both wire protocols of one service, driven by its botocore ``ServiceModel``.

    ``query_compat``: the query traits to lay over an ``awsQueryCompatible`` JSON model;
    by default the known ones for the service (``QUERY_COMPAT``, i.e. SQS), ``None`` for
    the model as it is.
    """

    __slots__ = (
        "_cbor",
        "_cbor_in",
        "_cbor_out",
        "_json",
        "_json_in",
        "_json_out",
        "_model",
        "_names",
        "_operation_names",
        "_operations",
        "_query",
        "_query_in",
        "json_content_type",
        "protocol",
        "service_id",
        "target_prefix",
        "xml_namespace",
    )

    def __init__(
        self,
        service_model: ServiceModel,
        *,
        query_compat: QueryCompat | None | Literal["auto"] = "auto",
    ) -> None:
        metadata = service_model.metadata
        self._model = service_model
        self.service_id: str = str(metadata.get("serviceId") or metadata.get("endpointPrefix"))
        self.protocol: Protocol = "query" if metadata.get("protocol") == "query" else "json"
        """The service's own protocol (the one ``operation()`` reports errors for by default)."""
        self.target_prefix: str | None = metadata.get("targetPrefix")
        """``X-Amz-Target`` prefix of the JSON protocol (``AmazonSQS``); ``None`` without one."""
        version = metadata.get("jsonVersion")
        self.json_content_type: str | None = (
            f"application/x-amz-json-{version}" if version else None
        )
        if query_compat == "auto":
            query_compat = (
                QUERY_COMPAT.get(self.service_id) if "awsQueryCompatible" in metadata else None
            )
        self._names = QueryNames(metadata.get("xmlNamespace"), query_compat)
        self.xml_namespace: str | None = self._names.xml_namespace
        self._operation_names = frozenset(service_model.operation_names)
        self._operations: dict[str, OperationModel] = {}
        self._json = JsonCompiler()
        self._query = QueryCompiler(self._names)
        self._json_in: dict[str, JsonDecoder] = {}
        self._json_out: dict[str, JsonEncoder | None] = {}
        self._cbor = _CborCompiler()
        self._cbor_in: dict[str, JsonDecoder] = {}
        self._cbor_out: dict[str, JsonEncoder | None] = {}
        self._query_in: dict[str, QueryDecoder] = {}

    @property
    def service_model(self) -> ServiceModel:
        return self._model

    # --- operations --------------------------------------------------------------------

    def operation(self, name: str, protocol: Protocol | None = None) -> OperationModel:
        """The operation called ``name``; the protocol's error when there is none."""
        found = self._operations.get(name)
        if found is not None:
            return found
        if name in self._operation_names:
            found = self._operations[name] = self._model.operation_model(name)
            return found
        if (protocol or self.protocol) == "query":
            if not name:
                raise errors.MissingAction("The request must contain the parameter Action.")
            raise errors.InvalidAction(f"The action {name} is not valid for this web service.")
        raise errors.UnknownOperationException(
            f"The operation {name!r} is not known to {self.service_id}."
            if name
            else f"The request names no {self.service_id} operation."
        )

    def operation_for_target(self, target: str | None) -> OperationModel:
        """The operation an ``X-Amz-Target`` header names (``AmazonSQS.SendMessage``)."""
        prefix, dot, name = (target or "").rpartition(".")
        if not dot or prefix != self.target_prefix:
            raise errors.UnknownOperationException(
                f"X-Amz-Target {target!r} names no {self.service_id} operation."
            )
        return self.operation(name, "json")

    # --- JSON protocol -----------------------------------------------------------------

    def decode_json(
        self, operation_name: str, body: bytes | bytearray | memoryview
    ) -> dict[str, Any]:
        """A JSON request body -> the operation's input dict (``SerializationException``)."""
        decoder = self._json_in.get(operation_name)
        if decoder is None:
            shape = self.operation(operation_name, "json").input_shape
            decoder = self._json.decoder(shape) if shape is not None else _no_input
            self._json_in[operation_name] = decoder
        return _decode_json_body(decoder, body)

    def encode_json(self, operation_name: str, output: Mapping[str, Any] | None) -> bytes:
        """The operation's output dict -> a JSON response body (``None`` values omitted)."""
        try:
            encoder = self._json_out[operation_name]
        except KeyError:
            shape = self.operation(operation_name, "json").output_shape
            encoder = self._json.encoder(shape) if shape is not None else None
            self._json_out[operation_name] = encoder
        return _encode_json_body(encoder, output)

    @staticmethod
    def encode_json_error(shape_code: str, message: str, service_prefix: str = "") -> bytes:
        """``{"__type": "<prefix>#<code>", "message": ...}`` as JSON services answer errors.

        botocore keeps the part after ``#`` as the error code (SQS: prefix
        ``com.amazonaws.sqs``; Kinesis sends bare codes, so no prefix). For
        ``awsQueryCompatible`` services send ``query_error_header()`` alongside.
        """
        code = f"{service_prefix}#{shape_code}" if service_prefix else shape_code
        return json.dumps({"__type": code, "message": message}).encode()

    # --- CBOR (awsJson with CBOR bodies) ----------------------------------------------

    def decode_cbor(
        self, operation_name: str, body: bytes | bytearray | memoryview
    ) -> dict[str, Any]:
        """A CBOR request body -> the operation's input dict (``SerializationException``).

        An empty body reads as an empty map, as in JSON.
        """
        decoder = self._cbor_in.get(operation_name)
        if decoder is None:
            shape = self.operation(operation_name, "json").input_shape
            decoder = self._cbor.decoder(shape) if shape is not None else _no_input
            self._cbor_in[operation_name] = decoder
        value: Any = {}
        if body:
            try:
                value = cbor.loads(body, text_keys=True)
            except cbor.CborError as exc:
                raise errors.SerializationException(
                    f"Malformed CBOR request body: {exc}.") from None
        try:
            result: dict[str, Any] = decoder(value)
        except BadJsonValue as exc:
            raise errors.SerializationException(exc.message()) from None
        return result

    def encode_cbor(self, operation_name: str, output: Mapping[str, Any] | None) -> bytes:
        """The operation's output dict -> a CBOR response body (``None`` values omitted)."""
        try:
            encoder = self._cbor_out[operation_name]
        except KeyError:
            shape = self.operation(operation_name, "json").output_shape
            encoder = self._cbor.encoder(shape) if shape is not None else None
            self._cbor_out[operation_name] = encoder
        if encoder is None:
            if output:
                raise ValueError(f"the operation has no output, got {sorted(output)}")
            return cbor.dumps({})
        return cbor.dumps(encoder(output) if output else {})

    @staticmethod
    def encode_cbor_error(shape_code: str, message: str, service_prefix: str = "") -> bytes:
        """``encode_json_error``'s map (``__type``, ``message``) as a CBOR body."""
        code = f"{service_prefix}#{shape_code}" if service_prefix else shape_code
        return cbor.dumps({"__type": code, "message": message})

    # --- query protocol ----------------------------------------------------------------

    def decode_query(self, operation_name: str, form: Mapping[str, str]) -> dict[str, Any]:
        """Form fields (``Action=...&Version=...&...``) -> the operation's input dict."""
        decoder = self._query_in.get(operation_name)
        if decoder is None:
            decoder = self._query.request_decoder(self.operation(operation_name, "query"))
            self._query_in[operation_name] = decoder
        return self._query.decode_request(decoder, form)

    def encode_query_response(
        self, operation_name: str, output: Mapping[str, Any] | None, request_id: str
    ) -> bytes:
        """The operation's output dict -> ``<{Op}Response>`` XML (UTF-8)."""
        operation = self.operation(operation_name, "query")
        return self._query.encode_response(operation, output, request_id)

    def encode_query_error(
        self, code: str, message: str, sender_fault: bool, request_id: str
    ) -> bytes:
        """``<ErrorResponse>`` XML as query services answer errors (UTF-8)."""
        namespace = self.xml_namespace
        xmlns = f' xmlns="{xml_text(namespace).replace(chr(34), "&quot;")}"' if namespace else ""
        return (
            f'<?xml version="1.0"?><ErrorResponse{xmlns}><Error>'
            f"<Type>{'Sender' if sender_fault else 'Receiver'}</Type>"
            f"<Code>{xml_text(code)}</Code><Message>{xml_text(message)}</Message><Detail/>"
            f"</Error><RequestId>{xml_text(request_id)}</RequestId></ErrorResponse>"
        ).encode()
