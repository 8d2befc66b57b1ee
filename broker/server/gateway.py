"""One AWS API request, end to end: which service and protocol, authentication, decoding,
the call, and the answer (or the error) rendered as that service renders it.

Services plug in as :class:`Service` records (a codec and an async ``call``), so SQS,
SNS and Kinesis share one port. Dispatch:

* ``X-Amz-Target: <prefix>.<Operation>``: the JSON protocol of the service with that
  target prefix (``AmazonSQS``); with ``Content-Type: application/x-amz-cbor-1.1`` (the
  Java SDKs' default for Kinesis) the same protocol with CBOR bodies, errors included;
* otherwise the query protocol (form body or query string with ``Action=``): the service
  named in the SigV4 credential scope, else the first service that has the action.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from broker import errors
from broker.server.access_log import AccessLog
from broker.server.caller import Caller
from broker.server.codecs import (
    CBOR_CONTENT_TYPE,
    XML_CONTENT_TYPE,
    ServiceCodec,
    query_error_header,
)
from broker.server.http11 import Request
from broker.server.metrics import Metrics
from broker.server.sigv4 import Verifier, service_from_authorization

Params = dict[str, Any]
Result = dict[str, Any]
Call = Callable[[str, Params, Caller], Awaitable[Result]]

JSON_CONTENT_TYPES: Final = frozenset({"application/x-amz-json-1.0",
                                       "application/x-amz-json-1.1", "application/json"})
FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
_INTERNAL: Final = "We encountered an internal error. Please try again."

#: what the access log and metrics record for a client that disconnected (nginx's 499)
CLIENT_CLOSED_REQUEST: Final = 499
#: slowest body upload accepted, bytes per second, on top of the header timeout
MIN_BODY_RATE: Final = 64 * 1024

log = logging.getLogger(__name__)
#: a '%' that does not start a percent-escape (``parse_qsl`` would keep it literally)
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


class RequestIds:
    """UUID-shaped request ids, unique per server: a random prefix drawn at start-up and a
    counter (a fresh uuid4 per request costs more than the rest of the id handling)."""

    def __init__(self) -> None:
        self._prefix = str(uuid.uuid4())[:24]
        self._n = 0

    def next(self) -> str:
        self._n += 1
        return f"{self._prefix}{self._n & 0xFFFFFFFFFFFF:012x}"


@dataclass(frozen=True, slots=True)
class Service:
    """One AWS service the server speaks."""

    name: str
    """Its SigV4 signing name (``sqs``), also its label in metrics and logs."""
    codec: ServiceCodec
    call: Call
    """Runs one operation: ``await call("SendMessage", params, caller)``."""
    json_error_prefix: str = ""
    """Namespace of ``__type`` in JSON errors (``com.amazonaws.sqs``); empty: bare codes."""
    query_compatible: bool = False
    """Send ``x-amzn-query-error`` with JSON errors (SQS), so SDKs see the classic codes."""
    queue_url_from_path: bool = False
    """Query requests posted to a queue URL take their ``QueueUrl`` from the path."""
    classic_codes: bool = True
    """Render SQS's classic query codes (``AWS.SimpleQueueService.NonExistentQueue``);
    False: every error's own code (SNS: ``NotFound``, ``EmptyBatchRequest``)."""


@dataclass(slots=True)
class _Exchange:
    """What the access log and the metrics learn about one request."""

    request_id: str
    protocol: str = "query"
    """``query``, ``json`` or ``cbor`` (an ``X-Amz-Target`` request with a CBOR body)."""
    service: Service | None = None
    action: str = "-"
    account: str = "-"
    code: str = "OK"


class Gateway:
    """Turns HTTP requests into service calls; see the module docstring."""

    def __init__(
        self,
        services: Sequence[Service],
        *,
        default_account: str,
        verifier: Verifier | None,
        metrics: Metrics,
        max_body_bytes: int,
        body_timeout_s: float,
        access_log: AccessLog,
    ) -> None:
        if not services:
            raise ValueError("a gateway needs at least one service")
        self._services = list(services)
        self._by_target = {s.codec.target_prefix: s for s in services if s.codec.target_prefix}
        self._by_name = {s.name: s for s in services}
        self._default_account = default_account
        self._verifier = verifier
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._body_timeout_s = body_timeout_s
        self._access = access_log
        self._required: dict[tuple[str, str], tuple[str, ...]] = {}
        self._request_ids = RequestIds()
        self._anonymous: dict[str, Caller] = {}
        """Unauthenticated callers by base URL (immutable, so shared between requests)."""

    async def handle(self, request: Request) -> web.StreamResponse:
        started = time.perf_counter()
        ex = _Exchange(request_id=self._request_ids.next())
        try:
            response = await self._answer(request, ex)
        except errors.BrokerError as exc:
            ex.code = exc.wire_code()
            response = self._error(ex, exc)
            if isinstance(exc, errors.RequestTimeout | errors.RequestEntityTooLarge):
                response.force_close()  # the rest of the body is not worth reading
        except ConnectionError:  # the client went away mid-request: nobody to answer
            ex.code = "ClientDisconnected"
            response = web.Response(status=CLIENT_CLOSED_REQUEST)
        except Exception:
            log.exception("internal error (request %s)", ex.request_id)
            internal = errors.ServiceError(_INTERNAL)
            ex.code = internal.code
            response = self._error(ex, internal)
        elapsed = time.perf_counter() - started
        service = ex.service.name if ex.service else "-"
        self._metrics.observe(service, ex.action, ex.code, elapsed)
        if self._access.enabled:
            self._access.record(
                request_id=ex.request_id, remote=request.remote, service=service,
                protocol=ex.protocol, action=ex.action, account=ex.account,
                status=response.status, code=ex.code, seconds=elapsed)
        return response

    # --- one request --------------------------------------------------------------------

    async def _answer(self, request: Request, ex: _Exchange) -> web.Response:
        target = request.headers.get("X-Amz-Target")
        if target is not None:
            ex.protocol = "cbor" if request.content_type == CBOR_CONTENT_TYPE else "json"
        body = await self._body(request)
        if target is not None:
            return await self._json(request, ex, target, body)
        return await self._query(request, ex, body)

    async def _json(self, request: Request, ex: _Exchange, target: str,
                    body: bytes) -> web.Response:
        prefix = target.rpartition(".")[0]
        service = ex.service = self._by_target.get(prefix)
        if service is None:
            raise errors.UnknownOperationException(
                f"X-Amz-Target {target!r} names no operation of this endpoint.")
        codec = service.codec
        operation = codec.operation_for_target(target).name
        ex.action = operation
        if ex.protocol == "cbor":
            caller = self._authenticate(request, body, ex)
            params = codec.decode_cbor(operation, body)
            self._require(service, operation, params)
            result = await service.call(operation, params, caller)
            return web.Response(
                body=codec.encode_cbor(operation, result),
                headers={"Content-Type": CBOR_CONTENT_TYPE, "x-amzn-RequestId": ex.request_id})
        if request.content_type not in JSON_CONTENT_TYPES:
            raise errors.SerializationException(
                f"Content-Type {request.content_type or '(none)'!r} is not supported for "
                f"X-Amz-Target requests; use {codec.json_content_type}.")
        caller = self._authenticate(request, body, ex)
        params = codec.decode_json(operation, body)
        self._require(service, operation, params)
        result = await service.call(operation, params, caller)
        return web.Response(
            body=codec.encode_json(operation, result),
            headers={"Content-Type": codec.json_content_type or "application/json",
                     "x-amzn-RequestId": ex.request_id})

    async def _query(self, request: Request, ex: _Exchange, body: bytes) -> web.Response:
        form = self._form(request, body)
        action = form.get("Action", "")
        service = ex.service = self._service_for_action(request, action)
        operation = service.codec.operation(action, "query").name
        ex.action = operation
        caller = self._authenticate(request, body, ex)
        params = service.codec.decode_query(operation, form)
        if service.queue_url_from_path and "QueueUrl" not in params:
            parts = [p for p in request.path.split("/") if p]
            if len(parts) == 2:
                params["QueueUrl"] = f"{caller.base_url}/{parts[0]}/{parts[1]}"
        self._require(service, operation, params)
        result = await service.call(operation, params, caller)
        return web.Response(
            body=service.codec.encode_query_response(operation, result, ex.request_id),
            headers={"Content-Type": XML_CONTENT_TYPE, "x-amzn-RequestId": ex.request_id})

    async def _body(self, request: Request) -> bytes:
        length = request.content_length
        if length is not None and length > self._max_body_bytes:
            raise errors.RequestEntityTooLarge(
                f"Request body of {length} bytes exceeds the limit of "
                f"{self._max_body_bytes} bytes.")
        # a deadline for the body too: without one a client that sends less than its
        # Content-Length would hold the connection and a handler forever (most bodies
        # arrive with their headers: then there is nothing to wait for)
        deadline = self._body_timeout_s + (length or self._max_body_bytes) / MIN_BODY_RATE
        try:
            if request.content.is_eof():
                return await request.read()
            async with asyncio.timeout(deadline):
                return await request.read()
        except TimeoutError as exc:
            raise errors.RequestTimeout(
                f"The request body did not arrive within {deadline:.1f} seconds.") from exc
        except web.HTTPRequestEntityTooLarge as exc:
            raise errors.RequestEntityTooLarge(
                f"Request body exceeds the limit of {self._max_body_bytes} bytes.") from exc

    @staticmethod
    def _form(request: Request, body: bytes) -> dict[str, str]:
        """Query string and form body fields (the body wins), strictly parsed."""
        fields: dict[str, str] = {}
        sources = [request.rel_url.raw_query_string]
        if body and request.method == "POST":
            if request.content_type not in (FORM_CONTENT_TYPE, ""):
                raise errors.MissingAction(
                    f"The request has Content-Type {request.content_type!r} and no "
                    f"X-Amz-Target; send form fields ({FORM_CONTENT_TYPE}) with an Action.")
            try:
                sources.append(body.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise errors.MalformedQueryString(
                    "The request body is not UTF-8 encoded form data.") from exc
        for source in sources:
            if not source:
                continue
            if _BAD_ESCAPE.search(source) is not None:
                raise errors.MalformedQueryString(
                    "The query string or form body is malformed: '%' must start a "
                    "percent-escape of two hexadecimal digits.")
            try:
                pairs = parse_qsl(source, keep_blank_values=True, strict_parsing=True,
                                  errors="strict", max_num_fields=10_000)
            except (ValueError, UnicodeDecodeError) as exc:
                raise errors.MalformedQueryString(
                    f"The query string or form body is malformed: {exc}") from exc
            fields.update(pairs)
        return fields

    def _service_for_action(self, request: Request, action: str) -> Service:
        name = service_from_authorization(request.headers, request.rel_url.raw_query_string)
        if name is not None and name in self._by_name:
            return self._by_name[name]
        for service in self._services:
            if action in service.codec.service_model.operation_names:
                return service
        return self._services[0]  # renders MissingAction / InvalidAction

    def _authenticate(self, request: Request, body: bytes, ex: _Exchange) -> Caller:
        base_url = f"{request.scheme}://{request.host}"
        if self._verifier is None:
            ex.account = self._default_account
            caller = self._anonymous.get(base_url)
            if caller is None:
                if len(self._anonymous) >= 256:  # bounded: Host is the client's to choose
                    self._anonymous.clear()
                caller = self._anonymous[base_url] = Caller(
                    self._default_account, self._default_account, base_url)
            return caller
        raw_path = request.raw_path.partition("?")[0]
        credential = self._verifier.verify(
            request.method, raw_path, request.rel_url.raw_query_string, request.headers, body)
        ex.account = credential.account_id
        return Caller(credential.account_id, credential.access_key_id, base_url,
                      authenticated=True)

    def _require(self, service: Service, operation: str, params: Mapping[str, Any]) -> None:
        key = (service.name, operation)
        required = self._required.get(key)
        if required is None:
            shape = service.codec.operation(operation).input_shape
            required = self._required[key] = tuple(getattr(shape, "required_members", ()))
        for name in required:
            if params.get(name) is None:
                raise errors.MissingParameter(f"The request must contain the parameter {name}.")

    # --- errors -------------------------------------------------------------------------

    def _error(self, ex: _Exchange, exc: errors.BrokerError) -> web.Response:
        service = ex.service or self._services[0]
        headers = {"x-amzn-RequestId": ex.request_id}
        message = exc.message or exc.code
        if ex.protocol != "query":
            if service.query_compatible:
                headers["x-amzn-query-error"] = query_error_header(exc.wire_code(),
                                                                   exc.sender_fault)
            if ex.protocol == "cbor":
                headers["Content-Type"] = CBOR_CONTENT_TYPE
                body = ServiceCodec.encode_cbor_error(exc.code, message,
                                                      service.json_error_prefix)
            else:
                headers["Content-Type"] = (service.codec.json_content_type
                                           or "application/json")
                body = ServiceCodec.encode_json_error(exc.code, message,
                                                      service.json_error_prefix)
        else:
            headers["Content-Type"] = XML_CONTENT_TYPE
            code = exc.wire_code() if service.classic_codes else exc.code
            body = service.codec.encode_query_error(code, message, exc.sender_fault,
                                                    ex.request_id)
        return web.Response(status=exc.http_status, body=body, headers=headers)
