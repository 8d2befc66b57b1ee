"""Helpers for the broker-server suites: boto3 clients, raw HTTP, XML and error reading.

Raw requests go through ``http.client`` (blocking, one connection per request) so a test
controls every header and byte; the servers they talk to run in their own thread
(``tests.broker_servers.serving_in_thread``).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import struct
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from broker.engine.settings import DEFAULT_ACCOUNT_ID

#: the account an unauthenticated server acts as
ACCOUNT = DEFAULT_ACCOUNT_ID
REGION = "us-east-1"
#: the SQS query protocol's API version and XML namespace
VERSION = "2012-11-05"
XMLNS = "http://queue.amazonaws.com/doc/2012-11-05/"
FORM = "application/x-www-form-urlencoded"
AMZ_JSON = "application/x-amz-json-1.0"


def sqs_client(endpoint_url: str, *, key: str = "test", secret: str = "test",
               **session_kw: Any) -> BaseClient:
    """A boto3 SQS client for a broker server; errors are never retried."""
    session = boto3.Session(**session_kw)
    return session.client(
        "sqs", endpoint_url=endpoint_url, region_name=REGION, aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                      connect_timeout=5, read_timeout=40))


def unique_name(prefix: str = "q") -> str:
    """A queue name no other test uses (so tests need not flush Redis)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- errors as boto3 reports them ---------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What a boto3 user learns from a failed call."""

    code: str
    status: int
    message: str
    query_error_code: str | None
    exception: str


def seen(exc: ClientError) -> Seen:
    error = exc.response["Error"]
    return Seen(code=error["Code"], status=exc.response["ResponseMetadata"]["HTTPStatusCode"],
                message=error.get("Message", ""), query_error_code=error.get("QueryErrorCode"),
                exception=type(exc).__name__)


# -- MD5 digests, computed independently of the broker (SQS developer guide) -----------


def _length_prefixed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """MD5OfMessageAttributes: sorted by name; name, type, transport byte, value."""
    buf = bytearray()
    for name in sorted(attributes):
        value = attributes[name]
        buf += _length_prefixed(name.encode())
        buf += _length_prefixed(str(value["DataType"]).encode())
        if "StringValue" in value:
            buf += b"\x01" + _length_prefixed(str(value["StringValue"]).encode())
        else:
            buf += b"\x02" + _length_prefixed(bytes(value["BinaryValue"]))
    return hashlib.md5(bytes(buf)).hexdigest()


def md5_text(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


# -- raw HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip()

    def json(self) -> Any:
        return json.loads(self.body)

    def xml(self) -> ET.Element:
        return parse_xml(self.body)


def http_request(base_url: str, method: str, path: str, body: bytes = b"",
                 headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> Reply:
    """One request on a fresh connection; the reply is read in full."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, dict(response.getheaders()), data)
    finally:
        conn.close()


def post_form(base_url: str, fields: Mapping[str, str] | bytes, path: str = "/",
              headers: Mapping[str, str] | None = None) -> Reply:
    """A query-protocol POST: ``Version`` is added to a mapping unless given."""
    if isinstance(fields, bytes):
        body = fields
    else:
        body = urlencode({"Version": VERSION, **fields}).encode()
    return http_request(base_url, "POST", path, body, {"Content-Type": FORM, **(headers or {})})


def post_json(base_url: str, operation: str, payload: Any | bytes,
              headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON-protocol POST (``X-Amz-Target: AmazonSQS.<operation>``)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return http_request(base_url, "POST", "/", body, {
        "Content-Type": AMZ_JSON, "X-Amz-Target": f"AmazonSQS.{operation}", **(headers or {})})


# -- XML --------------------------------------------------------------------------------------


def parse_xml(body: bytes) -> ET.Element:
    """Parse a query-protocol reply; the root keeps its ``{namespace}`` in ``.tag``, the
    namespace is stripped from every element below it."""
    root = ET.fromstring(body)
    for element in root.iter():
        if element is not root and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    return root


def local_name(element: ET.Element) -> str:
    return element.tag.split("}", 1)[-1]


def text(element: ET.Element, path: str) -> str:
    found = element.find(path)
    assert found is not None, f"no {path} in {ET.tostring(element)!r}"
    return found.text or ""


def xml_error(reply: Reply) -> tuple[str, str, str]:
    """``(Type, Code, Message)`` of an ``<ErrorResponse>``, checking its shape."""
    root = reply.xml()
    assert reply.content_type == "text/xml", reply.headers
    assert root.tag == f"{{{XMLNS}}}ErrorResponse", root.tag
    assert text(root, "RequestId") == reply.header("x-amzn-RequestId")
    return text(root, "Error/Type"), text(root, "Error/Code"), text(root, "Error/Message")


def json_error(reply: Reply) -> tuple[str, str, str | None]:
    """``(__type, message, x-amzn-query-error)`` of an awsJson error, checking its shape."""
    assert reply.content_type == AMZ_JSON, reply.headers
    payload = reply.json()
    assert set(payload) == {"__type", "message"}, payload
    return payload["__type"], payload["message"], reply.header("x-amzn-query-error")
