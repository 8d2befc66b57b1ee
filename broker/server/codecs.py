"""Wire codecs: AWS JSON and query requests/responses <-> the dicts boto3 users see.

The server's service adapters work on plain dicts shaped like the service's JSON
input/output (``{"QueueUrl": ..., "Entries": [{"Id": "a", "MessageAttributes": {"n":
{"DataType": "Binary", "BinaryValue": b"..."}}}]}``: ints as ``int``, blobs as ``bytes``,
timestamps as ``datetime``). A ``ServiceCodec`` translates between those dicts and both
wire protocols, driven by the botocore service model it is built with::

    import botocore.session

    codec = ServiceCodec(botocore.session.get_session().get_service_model("sqs"))
    params = codec.decode_json("SendMessage", body)            # awsJson request
    params = codec.decode_query("SendMessage", form)           # query request
    body = codec.encode_json("SendMessage", result)            # awsJson response
    body = codec.encode_query_response("SendMessage", result, request_id)

Build one codec per service at start-up and share it: it holds no request state, and
compiles each shape's decoder/encoder once, on first use. SQS's query names (which the
JSON-era botocore model no longer carries) come from ``codec_common.SQS_QUERY_COMPAT``.

Errors (all from ``broker.errors``):

* unknown operation: ``UnknownOperationException`` (JSON), ``InvalidAction`` (query),
  ``MissingAction`` (query, no ``Action`` at all);
* JSON body that does not parse or does not fit the input shape (including bad base64):
  ``SerializationException``;
* query field that does not parse (integer, boolean, number, base64, timestamp):
  ``InvalidParameterValue``; a map entry without its key or value: ``MissingParameter``.

Required members are not checked here: the action layer answers ``MissingParameter``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from broker import errors
from broker.server.codec_common import (
    QUERY_COMPAT,
    SQS_QUERY_COMPAT,
    OperationModel,
    QueryCompat,
    QueryNames,
    ServiceModel,
    apply_query_compat,
)
from broker.server.json_codec import BadJsonValue, JsonCompiler, JsonDecoder, JsonEncoder
from broker.server.json_codec import decode_body as _decode_json_body
from broker.server.json_codec import encode_body as _encode_json_body
from broker.server.query_codec import QueryCompiler, QueryDecoder, xml_text

__all__ = [
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


def _no_input(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise BadJsonValue("Start of structure or map expected.")
    return {}


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
