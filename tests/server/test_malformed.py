"""Bad input and hostile clients: every malformed request gets a 4xx in AWS's shape (never a
500) and the server keeps serving; connection limits, the header deadline, oversize bodies,
the operations endpoints, metrics, and what the access log may not contain."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from botocore.client import BaseClient

import broker.server.app
from broker.server.access_log import LOGGER as ACCESS_LOGGER
from broker.server.app import BrokerServer
from tests.broker_servers import serving
from tests.server.helpers import (
    ACCOUNT,
    AMZ_JSON,
    FORM,
    Reply,
    http_request,
    json_error,
    post_form,
    post_json,
    unique_name,
    xml_error,
)

# (id, method, path, body, headers, status, shape of the error, error code)
Case = tuple[str, str, str, bytes, dict[str, str], int, str, str]


def _target(operation: str, content_type: str = AMZ_JSON) -> dict[str, str]:
    return {"Content-Type": content_type, "X-Amz-Target": f"AmazonSQS.{operation}"}


_FORM = {"Content-Type": FORM}
_MANY_FIELDS = b"Action=ListQueues&" + b"&".join(b"f%d=1" % i for i in range(10_001))
_NESTED = b"[" * 100_000 + b"]" * 100_000

CASES: list[Case] = [
    # awsJson
    ("json-syntax", "POST", "/", b"{not json", _target("ListQueues"), 400, "json",
     "SerializationException"),
    ("json-truncated", "POST", "/", b'{"QueueName": "a', _target("GetQueueUrl"), 400, "json",
     "SerializationException"),
    ("json-not-an-object", "POST", "/", b"[]", _target("ListQueues"), 400, "json",
     "SerializationException"),
    ("json-wrong-type", "POST", "/", b'{"QueueName": 5}', _target("GetQueueUrl"), 400, "json",
     "SerializationException"),
    ("json-int-overflow", "POST", "/", b'{"MaxResults": 100000000000000000000000}',
     _target("ListQueues"), 400, "json", "SerializationException"),
    ("json-bad-base64", "POST", "/", json.dumps({
        "QueueUrl": f"http://h/{ACCOUNT}/q", "MessageBody": "x",
        "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "!!not base64!!"}}},
    ).encode(), _target("SendMessage"), 400, "json", "SerializationException"),
    ("json-not-utf8", "POST", "/", b'{"QueueName": "\xff"}', _target("GetQueueUrl"), 400,
     "json", "SerializationException"),
    ("json-nested-too-deep", "POST", "/", _NESTED, _target("ListQueues"), 400, "json",
     "SerializationException"),
    ("json-int-too-long", "POST", "/", b'{"MaxResults": ' + b"9" * 5000 + b"}",
     _target("ListQueues"), 400, "json", "SerializationException"),
    ("json-unknown-operation", "POST", "/", b"{}", _target("Frobnicate"), 400, "json",
     "UnknownOperationException"),
    ("json-unknown-service", "POST", "/", b"{}",
     {"Content-Type": AMZ_JSON, "X-Amz-Target": "DynamoDB_20120810.ListTables"}, 400, "json",
     "UnknownOperationException"),
    ("json-missing-parameter", "POST", "/", b"{}", _target("GetQueueUrl"), 400, "json",
     "MissingParameter"),
    ("json-null-parameter", "POST", "/", b'{"QueueName": null}', _target("GetQueueUrl"), 400,
     "json", "MissingParameter"),
    ("json-wrong-content-type", "POST", "/", b"{}", _target("ListQueues", "text/plain"), 400,
     "json", "SerializationException"),
    # query
    ("form-bad-percent", "POST", "/", b"Action=ListQueues&QueueNamePrefix=%zz", _FORM, 404,
     "xml", "MalformedQueryString"),
    ("form-truncated-percent", "POST", "/", b"Action=ListQueues&QueueNamePrefix=%4", _FORM,
     404, "xml", "MalformedQueryString"),
    ("form-escaped-non-utf8", "POST", "/", b"Action=ListQueues&QueueNamePrefix=%ff", _FORM,
     404, "xml", "MalformedQueryString"),
    ("form-raw-non-utf8", "POST", "/", b"Action=ListQueues&QueueNamePrefix=\xff\xfe", _FORM,
     404, "xml", "MalformedQueryString"),
    ("form-too-many-fields", "POST", "/", _MANY_FIELDS, _FORM, 404, "xml",
     "MalformedQueryString"),
    ("query-string-bad-percent", "GET", "/?Action=ListQueues&QueueNamePrefix=%zz", b"", {},
     404, "xml", "MalformedQueryString"),
    ("unknown-action", "POST", "/", b"Action=Frobnicate&Version=2012-11-05", _FORM, 400, "xml",
     "InvalidAction"),
    ("missing-action", "POST", "/", b"Version=2012-11-05&QueueName=x", _FORM, 400, "xml",
     "MissingAction"),
    ("missing-parameter", "POST", "/", b"Action=GetQueueUrl", _FORM, 400, "xml",
     "MissingParameter"),
    ("not-an-integer", "POST", "/", b"Action=ListQueues&MaxResults=99999999999999999999",
     _FORM, 400, "xml", "InvalidParameterValue"),
    ("text-without-target", "POST", "/", b"hello", {"Content-Type": "text/plain"}, 400, "xml",
     "MissingAction"),
    ("json-without-target", "POST", "/", b'{"Action": "ListQueues"}',
     {"Content-Type": "application/json"}, 400, "xml", "MissingAction"),
    ("get-root", "GET", "/", b"", {}, 400, "xml", "MissingAction"),
    ("delete-root", "DELETE", "/", b"", {}, 400, "xml", "MissingAction"),
    ("deep-path", "GET", "/a/b/c/d", b"", {}, 400, "xml", "MissingAction"),
]


#: codes SQS's model leaves out: AWS's own JSON ``__type`` for them may differ
#: (``MissingRequiredParameterException``...); SDKs show the x-amzn-query-error code
UNMODELLED = frozenset({"MissingParameter", "InvalidParameterValue"})


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "shape", "code"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_request(sqs_server: BrokerServer, method: str, path: str, body: bytes,
                           headers: dict[str, str], status: int, shape: str,
                           code: str) -> None:
    reply = http_request(sqs_server.url, method, path, body, headers)
    assert reply.status == status, reply.body[:300]
    assert reply.header("x-amzn-RequestId")
    if shape == "json":
        kind, message, query_error = json_error(reply)
        assert query_error == f"{code};Sender"  # the code boto3 reports
        if code in UNMODELLED:
            assert kind.startswith("com.amazonaws.sqs#")
        else:
            assert kind == f"com.amazonaws.sqs#{code}"
    else:
        kind, got_code, message = xml_error(reply)
        assert (kind, got_code) == ("Sender", code)
    assert message
    # and the server keeps serving
    assert post_form(sqs_server.url, {"Action": "ListQueues"}).status == 200


def test_missing_parameter_message(sqs_server: BrokerServer) -> None:
    reply = post_json(sqs_server.url, "SendMessage", {"MessageBody": "x"})
    _, message, query_error = json_error(reply)
    assert (message, query_error) == ("The request must contain the parameter QueueUrl.",
                                      "MissingParameter;Sender")
    form = post_form(sqs_server.url, {"Action": "SendMessage", "MessageBody": "x"})
    assert xml_error(form) == ("Sender", "MissingParameter",
                               "The request must contain the parameter QueueUrl.")


def _exchange(url: str, data: bytes, read_timeout: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection; everything the server sends back until it closes
    (or ``read_timeout`` passes)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80),
                                  timeout=read_timeout) as sock:
        sock.sendall(data)
        out = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                out += chunk
        return out


@pytest.mark.parametrize("data", [
    pytest.param(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode() +
                 b"\r\nContent-Length: 17\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"11\r\nAction=ListQueues\r\n0\r\n\r\n", id="content-length-and-chunked"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
                 id="header-too-long"),
    pytest.param(b"FROB / HTTP/1.1\r\nHost: x\r\n\r\n", id="bad-method"),
    pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64, id="tls"),
    pytest.param(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", id="bad-version"),
])
def test_broken_http_is_refused_and_closed(sqs_server: BrokerServer, data: bytes) -> None:
    logging.getLogger("aiohttp.server").disabled = True  # it logs these with a traceback
    try:
        answer = _exchange(sqs_server.url, data)
    finally:
        logging.getLogger("aiohttp.server").disabled = False
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:200]
    assert http_request(sqs_server.url, "GET", "/healthz").status == 200


# -- the operations endpoints --------------------------------------------------------------


def test_health_and_readiness(sqs_server: BrokerServer) -> None:
    health = http_request(sqs_server.url, "GET", "/healthz")
    assert (health.status, health.body) == (200, b"ok\n")
    ready = http_request(sqs_server.url, "GET", "/readyz")
    assert (ready.status, ready.body) == (200, b"ready\n")


def _metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics(sqs_server: BrokerServer, sqs: BaseClient) -> None:
    name = unique_name("metrics")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": "x"} for i in range(3)])
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=300)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=300)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=unique_name())

    reply = http_request(sqs_server.url, "GET", "/metrics")
    assert reply.status == 200
    assert reply.content_type == "text/plain"
    text = reply.body.decode()
    assert "# TYPE redcurrent_requests_total counter" in text
    sends = _metric(text, "redcurrent_requests_total", service="sqs",
                    action="SendMessageBatch", code="OK")
    assert sends is not None and sends >= 1
    missing = _metric(text, "redcurrent_requests_total", service="sqs", action="GetQueueUrl",
                      code="AWS.SimpleQueueService.NonExistentQueue")
    assert missing is not None and missing >= 1
    assert _metric(text, "redcurrent_request_seconds_count", service="sqs",
                   action="ReceiveMessage") is not None

    queue = {"account": ACCOUNT, "queue": name}
    assert _metric(text, "redcurrent_queue_visible_messages", **queue) == 2
    assert _metric(text, "redcurrent_queue_in_flight_messages", **queue) == 1
    assert _metric(text, "redcurrent_queue_delayed_messages", **queue) == 1
    age = _metric(text, "redcurrent_queue_oldest_message_age_seconds", **queue)
    assert age is not None and age >= 0
    assert _metric(text, "redcurrent_queue_dead_letter_sources", **queue) == 0

    sqs.delete_queue(QueueUrl=url)
    after = http_request(sqs_server.url, "GET", "/metrics").body.decode()
    assert _metric(after, "redcurrent_queue_visible_messages", **queue) is None


# -- the access log ----------------------------------------------------------------------------


def test_access_log_has_no_bodies_or_receipt_handles(sqs_server: BrokerServer, sqs: BaseClient,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    secret_body = f"secret-body-{unique_name()}"
    secret_attribute = f"secret-attribute-{unique_name()}"
    url = sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=secret_body, MessageAttributes={
        "a": {"DataType": "String", "StringValue": secret_attribute}})
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    handle = message["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    [again] = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": again["ReceiptHandle"]},
        {"Id": "b", "ReceiptHandle": "forged-handle-in-a-batch"}])
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):  # echoed in the error message
        sqs.delete_message(QueueUrl=url, ReceiptHandle="forged-handle-alone")
    post_form(sqs_server.url, {"Action": "SendMessage", "QueueUrl": url,
                               "MessageBody": secret_body})
    post_json(sqs_server.url, "SendMessage", b'{"MessageBody": "' + secret_body.encode())

    # the server writes its access log in batches (every 0.2 s): wait for ours (bounded)
    entries: list[dict[str, Any]] = []
    for _ in range(100):
        entries = [json.loads(line) for r in caplog.records if r.name == ACCESS_LOGGER
                   for line in r.getMessage().splitlines()]
        if [e for e in entries if e["action"] == "SendMessage" and e["protocol"] == "json"
                and e["status"] == 400]:
            break
        time.sleep(0.05)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER)
    for secret in (secret_body, secret_attribute, handle, again["ReceiptHandle"],
                   "forged-handle-in-a-batch", "forged-handle-alone"):
        assert secret not in logged
    actions = [e["action"] for e in entries]
    for action in ("CreateQueue", "SendMessage", "ReceiveMessage", "ChangeMessageVisibility",
                   "DeleteMessageBatch", "DeleteMessage"):
        assert action in actions
    refused = [e for e in entries if e["action"] == "DeleteMessage"]
    assert refused[-1]["status"] == 400 and refused[-1]["code"] == "ReceiptHandleIsInvalid"
    assert {e["protocol"] for e in entries} >= {"json", "query"}
    assert all(e["account"] in (ACCOUNT, "-") and e["request_id"] for e in entries)


# -- limits (servers of their own) --------------------------------------------------------


async def _read_all(reader: asyncio.StreamReader, bound: float = 5.0) -> bytes:
    """What the server sends until it closes the connection (bounded)."""
    return await asyncio.wait_for(reader.read(), bound)


async def _healthy(url: str) -> bool:
    async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as resp:
        return resp.status == 200


async def test_connection_limit(plain_url: str) -> None:
    async with serving(plain_url, max_connections=2) as server:
        host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
        held = [await asyncio.open_connection(host, port) for _ in range(2)]
        # make sure the server has accepted both before the third arrives
        for reader, writer in held:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert (await asyncio.wait_for(reader.readuntil(b"ok\n"), 5)).startswith(
                b"HTTP/1.1 200")

        reader, writer = await asyncio.open_connection(host, port)
        answer = await _read_all(reader)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert b"\r\nConnection: close\r\n" in answer
        assert server.http.refused >= 1

        # the two held connections still work, and a freed slot is usable again
        reader0, writer0 = held[0]
        writer0.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer0.drain()
        assert (await asyncio.wait_for(reader0.readuntil(b"ready\n"), 5)).startswith(
            b"HTTP/1.1 200")
        for _, w in held:
            w.close()
            await w.wait_closed()
        for _ in range(100):  # until the server has noticed the closes (bounded)
            if server.http.open_connections == 0:
                break
            await asyncio.sleep(0.05)
        assert await _healthy(server.url)


@contextlib.asynccontextmanager
async def _connection(url: str) -> AsyncIterator[tuple[asyncio.StreamReader,
                                                       asyncio.StreamWriter]]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_header_deadline(plain_url: str) -> None:
    async with serving(plain_url, header_timeout_s=0.3) as server:
        # a partial request line, then nothing: closed without an answer
        async with _connection(server.url) as (reader, writer):
            writer.write(b"GET /hea")
            await writer.drain()
            assert await _read_all(reader) == b""

        # connected, silent
        async with _connection(server.url) as (reader, _):
            assert await _read_all(reader) == b""

        # a slow-loris client dribbling its headers is cut off before it finishes
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"
        async with _connection(server.url) as (reader, writer):
            with contextlib.suppress(ConnectionError):
                for byte in request:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.02)
                    if reader.at_eof():
                        break
            assert await _read_all(reader) == b""
        assert server.http.timed_out >= 3

        # prompt clients are served, also several requests on one connection
        async with _connection(server.url) as (reader, writer):
            for _ in range(2):
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                answer = await asyncio.wait_for(reader.readuntil(b"ok\n"), 5)
                assert answer.startswith(b"HTTP/1.1 200")


async def test_body_deadline(plain_url: str) -> None:
    async with serving(plain_url, header_timeout_s=0.3) as server, \
            _connection(server.url) as (reader, writer):
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode() +
                     b"\r\nContent-Length: 100\r\n\r\nAction=")
        await writer.drain()
        # 6x the header deadline: a generous bound
        await asyncio.wait_for(reader.read(), 2.0)


async def _post(session: aiohttp.ClientSession, url: str, data: Any,
                headers: dict[str, str]) -> Reply:
    async with session.post(url + "/", data=data, headers=headers) as resp:
        return Reply(resp.status, dict(resp.headers), await resp.read())


async def test_oversize_bodies(plain_url: str) -> None:
    async with serving(plain_url, max_body_bytes=1024) as server, \
            aiohttp.ClientSession() as session:
        padding = "x" * 2000
        form = await _post(session, server.url, f"Action=ListQueues&QueueNamePrefix={padding}",
                           {"Content-Type": FORM})
        assert form.status == 413
        assert xml_error(form)[:2] == ("Sender", "RequestEntityTooLarge")

        body = json.dumps({"QueueNamePrefix": padding}).encode()
        as_json = await _post(session, server.url, body, _target("ListQueues"))
        assert as_json.status == 413
        assert json_error(as_json)[0] == "com.amazonaws.sqs#RequestEntityTooLarge"
        assert as_json.header("x-amzn-query-error") == "RequestEntityTooLarge;Sender"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
            yield b"Action=ListQueues&QueueNamePrefix="
            for _ in range(10):
                yield b"y" * 500

        chunked = await _post(session, server.url, chunks(), {"Content-Type": FORM})
        assert chunked.status == 413
        assert xml_error(chunked)[1] == "RequestEntityTooLarge"

        # at the limit is fine, and the server keeps serving
        fits = "Action=ListQueues&QueueNamePrefix="
        fits += "z" * (1024 - len(fits))
        ok = await _post(session, server.url, fits, {"Content-Type": FORM})
        assert ok.status == 200, ok.body


async def test_disconnect_mid_body_is_not_an_internal_error(
        plain_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    async with serving(plain_url) as server:
        async with _connection(server.url) as (_, writer):
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode() +
                         b"\r\nContent-Length: 100\r\n\r\nAction=")
            await writer.drain()
            await asyncio.sleep(0.2)  # let the server start reading the body
        for _ in range(100):  # until the server has noticed (bounded)
            if server.http.open_connections == 0:
                break
            await asyncio.sleep(0.05)
        assert await _healthy(server.url)
        metrics = server.metrics.render().decode()
    assert "InternalFailure" not in metrics, _broken(metrics)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records]


def _broken(metrics: str) -> str:
    return "\n".join(line for line in metrics.splitlines() if "InternalFailure" in line)


async def test_close_does_not_wait_for_idle_keep_alive_connections(
        plain_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker.server.app, "SHUTDOWN_GRACE_S", 2.0)
    closed = asyncio.Event()

    async def run() -> None:
        async with serving(plain_url) as server:
            ready.set_result(server)
            await stop.wait()
        closed.set()

    loop = asyncio.get_running_loop()
    ready: asyncio.Future[BrokerServer] = loop.create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(run())
    server = await ready
    async with _connection(server.url) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await asyncio.wait_for(reader.readuntil(b"ok\n"), 5)
        stop.set()  # the connection is idle, kept alive
        try:
            # a prompt close takes milliseconds; the grace period is 2 s
            await asyncio.wait_for(asyncio.shield(closed.wait()), 1.5)
        finally:
            await task
