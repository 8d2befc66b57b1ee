"""SigV4 on a server with credentials: boto3, raw signed requests, the SDK, and every way a
request can fail authentication, each answered as AWS answers it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import urlencode, urlsplit

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from broker import errors
from broker.sdk import Client
from broker.server.app import BrokerServer
from broker.server.credentials import Credential, CredentialStore
from tests.broker_servers import serving_in_thread
from tests.conftest import TEST_LIMITS
from tests.server.helpers import (
    AMZ_JSON,
    FORM,
    REGION,
    VERSION,
    Reply,
    http_request,
    json_error,
    seen,
    sqs_client,
    unique_name,
    xml_error,
)

KEY_A, SECRET_A, ACCOUNT_A = "AKIDALPHA0000001", "alpha/Secret+Key0000000000000000000001", \
    "111111111111"
KEY_B, SECRET_B, ACCOUNT_B = "AKIDBRAVO0000002", "bravo/Secret+Key0000000000000000000002", \
    "222222222222"
STORE = CredentialStore([
    Credential(access_key_id=KEY_A, secret_access_key=SECRET_A, account_id=ACCOUNT_A),
    Credential(access_key_id=KEY_B, secret_access_key=SECRET_B, account_id=ACCOUNT_B),
])
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.")


@pytest.fixture(scope="module")
def auth_server(standalone_url: str) -> Iterator[BrokerServer]:
    with serving_in_thread(standalone_url, limits=TEST_LIMITS, credentials=STORE) as server:
        yield server


@pytest.fixture(scope="module")
def sqs_a(auth_server: BrokerServer) -> Iterator[BaseClient]:
    client = sqs_client(auth_server.url, key=KEY_A, secret=SECRET_A)
    yield client
    client.close()


@pytest.fixture(scope="module")
def sqs_b(auth_server: BrokerServer) -> Iterator[BaseClient]:
    client = sqs_client(auth_server.url, key=KEY_B, secret=SECRET_B)
    yield client
    client.close()


def signed(server: BrokerServer, method: str, path: str, body: bytes = b"",
           headers: Mapping[str, str] | None = None, *, key: str = KEY_A,
           secret: str = SECRET_A) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a request botocore signed (the caller may tamper with them)."""
    request = AWSRequest(method=method, url=server.url + path, data=body,
                         headers=dict(headers or {}))
    SigV4Auth(Credentials(key, secret), "sqs", REGION).add_auth(request)
    prepared = request.prepare()
    raw = prepared.body or b""
    return (raw.encode() if isinstance(raw, str) else bytes(raw)), dict(prepared.headers)


def json_headers(operation: str) -> dict[str, str]:
    return {"Content-Type": AMZ_JSON, "X-Amz-Target": f"AmazonSQS.{operation}"}


# -- requests that pass ---------------------------------------------------------------------


def test_boto3_signed_requests_act_as_the_credentials_account(
        sqs_a: BaseClient, auth_server: BrokerServer) -> None:
    name = unique_name()
    url = sqs_a.create_queue(QueueName=name)["QueueUrl"]
    assert url == f"{auth_server.url}/{ACCOUNT_A}/{name}"
    assert sqs_a.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert sqs_a.list_queues(QueueNamePrefix=name)["QueueUrls"] == [url]
    arn = sqs_a.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    assert arn["Attributes"]["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:{name}"

    sqs_a.send_message(QueueUrl=url, MessageBody="signed")
    [message] = sqs_a.receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == "signed"
    sqs_a.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_accounts_have_separate_queues(sqs_a: BaseClient, sqs_b: BaseClient,
                                       auth_server: BrokerServer) -> None:
    name = unique_name()
    url_a = sqs_a.create_queue(QueueName=name)["QueueUrl"]
    assert "QueueUrls" not in sqs_b.list_queues(QueueNamePrefix=name)
    with pytest.raises(sqs_b.exceptions.QueueDoesNotExist):
        sqs_b.get_queue_url(QueueName=name)
    url_b = sqs_b.create_queue(QueueName=name, Attributes={"DelaySeconds": "5"})["QueueUrl"]
    assert url_b == f"{auth_server.url}/{ACCOUNT_B}/{name}" != url_a
    delay = sqs_a.get_queue_attributes(QueueUrl=url_a, AttributeNames=["DelaySeconds"])
    assert delay["Attributes"]["DelaySeconds"] == "0"


def test_skew_within_fifteen_minutes_is_accepted(sqs_a: BaseClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for minutes in (-14, 14):
        sign_at(monkeypatch, dt.timedelta(minutes=minutes))
        assert sqs_a.list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_signed_query_request_to_queue_path(sqs_a: BaseClient,
                                            auth_server: BrokerServer) -> None:
    url = sqs_a.create_queue(QueueName=unique_name())["QueueUrl"]
    path = urlsplit(url).path
    body = urlencode({"Action": "SendMessage", "MessageBody": "form é+&=",
                      "Version": VERSION}).encode()
    raw, headers = signed(auth_server, "POST", path, body, {"Content-Type": FORM})
    reply = http_request(auth_server.url, "POST", path, raw, headers)
    assert reply.status == 200, reply.body
    [message] = sqs_a.receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == "form é+&="


def test_presigned_url(auth_server: BrokerServer, sqs_a: BaseClient) -> None:
    name = unique_name()
    sqs_a.create_queue(QueueName=name)
    request = AWSRequest(method="GET", url=f"{auth_server.url}/?Action=ListQueues"
                         f"&Version={VERSION}&QueueNamePrefix={name}")
    SigV4QueryAuth(Credentials(KEY_A, SECRET_A), "sqs", REGION, expires=60).add_auth(request)
    prepared = request.prepare()
    assert "X-Amz-Signature=" in prepared.url and "Authorization" not in prepared.headers
    parts = urlsplit(prepared.url)
    reply = http_request(auth_server.url, "GET", f"{parts.path}?{parts.query}")
    assert reply.status == 200, reply.body
    assert f"/{ACCOUNT_A}/{name}</QueueUrl>".encode() in reply.body


def test_operations_endpoints_need_no_signature(auth_server: BrokerServer) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert http_request(auth_server.url, "GET", path).status == 200


# -- requests that fail ---------------------------------------------------------------------


def test_wrong_secret(auth_server: BrokerServer) -> None:
    client = sqs_client(auth_server.url, key=KEY_A, secret="not-the-secret")
    try:
        with pytest.raises(ClientError) as exc:
            client.list_queues()
    finally:
        client.close()
    s = seen(exc.value)
    assert (s.code, s.status, s.message) == ("SignatureDoesNotMatch", 403, MISMATCH)


def test_unknown_access_key(auth_server: BrokerServer) -> None:
    client = sqs_client(auth_server.url, key="AKIDUNKNOWN00000", secret=SECRET_A)
    try:
        with pytest.raises(ClientError) as exc:
            client.create_queue(QueueName=unique_name())
    finally:
        client.close()
    s = seen(exc.value)
    assert (s.code, s.status, s.message) == (
        "InvalidClientTokenId", 403, "The security token included in the request is invalid.")


def sign_at(monkeypatch: pytest.MonkeyPatch, offset: dt.timedelta) -> None:
    """Make botocore sign requests as if its clock were ``offset`` off."""
    real: Callable[..., dt.datetime] = botocore.auth.get_current_datetime

    def skewed(remove_tzinfo: bool = True) -> dt.datetime:
        return real(remove_tzinfo) + offset

    monkeypatch.setattr(botocore.auth, "get_current_datetime", skewed)


@pytest.mark.parametrize("minutes", [-16, 16])
def test_request_signed_more_than_fifteen_minutes_off(
        sqs_a: BaseClient, monkeypatch: pytest.MonkeyPatch, minutes: int) -> None:
    sign_at(monkeypatch, dt.timedelta(minutes=minutes))
    with pytest.raises(ClientError) as exc:
        sqs_a.list_queues()
    s = seen(exc.value)
    assert (s.code, s.status) == ("RequestExpired", 400)


def test_raw_request_with_old_x_amz_date(auth_server: BrokerServer,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sign_at(monkeypatch, -dt.timedelta(minutes=16))
    body, headers = signed(auth_server, "POST", "/", b"{}", json_headers("ListQueues"))
    sent_at = dt.datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=dt.UTC)
    assert dt.datetime.now(dt.UTC) - sent_at > dt.timedelta(minutes=15)
    reply = http_request(auth_server.url, "POST", "/", body, headers)
    assert reply.status == 400
    assert json_error(reply) == ("com.amazonaws.sqs#RequestExpired", "Request has expired.",
                                 "RequestExpired;Sender")


def test_body_tampered_after_signing(auth_server: BrokerServer, sqs_a: BaseClient) -> None:
    name = unique_name()
    body, headers = signed(auth_server, "POST", "/", json.dumps({"QueueName": name}).encode(),
                           json_headers("CreateQueue"))
    tampered = body.replace(name.encode(), b"evil-" + name[5:].encode())
    headers["Content-Length"] = str(len(tampered))
    reply = http_request(auth_server.url, "POST", "/", tampered, headers)
    assert reply.status == 403
    assert json_error(reply) == ("com.amazonaws.sqs#SignatureDoesNotMatch", MISMATCH,
                                 "SignatureDoesNotMatch;Sender")
    assert "QueueUrls" not in sqs_a.list_queues(QueueNamePrefix=f"evil-{name[5:]}")
    # the untouched request is fine
    assert http_request(auth_server.url, "POST", "/", body, headers).status == 200


def test_operation_tampered_after_signing(auth_server: BrokerServer,
                                          sqs_a: BaseClient) -> None:
    url = sqs_a.create_queue(QueueName=unique_name())["QueueUrl"]
    sqs_a.send_message(QueueUrl=url, MessageBody="keep me")
    body, headers = signed(auth_server, "POST", "/", json.dumps({"QueueUrl": url}).encode(),
                           json_headers("GetQueueAttributes"))
    headers["X-Amz-Target"] = "AmazonSQS.PurgeQueue"
    reply = http_request(auth_server.url, "POST", "/", body, headers)
    assert reply.status == 403
    assert json_error(reply)[0] == "com.amazonaws.sqs#SignatureDoesNotMatch"
    assert [m["Body"] for m in sqs_a.receive_message(QueueUrl=url)["Messages"]] == ["keep me"]


def test_form_tampered_after_signing(auth_server: BrokerServer) -> None:
    body = urlencode({"Action": "ListQueues", "Version": VERSION}).encode()
    raw, headers = signed(auth_server, "POST", "/", body, {"Content-Type": FORM})
    tampered = raw + b"&QueueNamePrefix=x"
    headers["Content-Length"] = str(len(tampered))
    reply = http_request(auth_server.url, "POST", "/", tampered, headers)
    assert reply.status == 403
    assert xml_error(reply) == ("Sender", "SignatureDoesNotMatch", MISMATCH)


def test_missing_authorization(auth_server: BrokerServer) -> None:
    json_reply = http_request(auth_server.url, "POST", "/", b"{}", json_headers("ListQueues"))
    assert json_reply.status == 403
    assert json_error(json_reply) == ("com.amazonaws.sqs#MissingAuthenticationToken",
                                      "Request is missing Authentication Token",
                                      "MissingAuthenticationToken;Sender")
    form_reply = http_request(auth_server.url, "POST", "/",
                              urlencode({"Action": "ListQueues", "Version": VERSION}).encode(),
                              {"Content-Type": FORM})
    assert form_reply.status == 403
    assert xml_error(form_reply)[:2] == ("Sender", "MissingAuthenticationToken")


def test_incomplete_authorization_header(auth_server: BrokerServer) -> None:
    body, headers = signed(auth_server, "POST", "/", b"{}", json_headers("ListQueues"))
    headers["Authorization"] = headers["Authorization"].split(", Signature=")[0]
    reply = http_request(auth_server.url, "POST", "/", body, headers)
    assert reply.status == 400
    assert json_error(reply)[0] == "com.amazonaws.sqs#IncompleteSignature"


def test_failures_do_not_break_the_server(auth_server: BrokerServer, sqs_a: BaseClient) -> None:
    for _ in range(3):
        bad = http_request(auth_server.url, "POST", "/", b"{}", json_headers("ListQueues"))
        assert bad.status == 403
    assert sqs_a.list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_other_accounts_queues_are_off_limits(sqs_a: BaseClient, sqs_b: BaseClient) -> None:
    url_a = sqs_a.create_queue(QueueName=unique_name())["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs_b.send_message(QueueUrl=url_a, MessageBody="from another account")
    s = seen(exc.value)
    assert (s.code, s.status) == ("AccessDenied", 403)


# -- the SDK --------------------------------------------------------------------------------


async def test_sdk_against_authenticated_server(auth_server: BrokerServer) -> None:
    async with Client(auth_server.url, access_key_id=KEY_A, secret_access_key=SECRET_A,
                      account_id=ACCOUNT_A) as client:
        name = unique_name()
        queue = await client.create_queue(name, visibility_timeout_s=60)
        assert queue.url == f"{auth_server.url}/{ACCOUNT_A}/{name}"
        await queue.send("via the sdk", attributes={"n": 1, "b": b"\x00\x01"})
        [message] = await queue.receive(max_messages=10)
        assert message.body == "via the sdk"
        assert message.message_attributes["b"] == {"DataType": "Binary",
                                                   "BinaryValue": b"\x00\x01"}
        await message.delete()
        assert [q.name for q in await client.list_queues(name)] == [name]
        await queue.delete_queue()


async def test_sdk_with_wrong_secret(auth_server: BrokerServer) -> None:
    async with Client(auth_server.url, access_key_id=KEY_A, secret_access_key="wrong",
                      account_id=ACCOUNT_A) as client:
        with pytest.raises(errors.SignatureDoesNotMatch):
            await client.list_queues()
    async with Client(auth_server.url, access_key_id="AKIDNOBODY000000",
                      secret_access_key=SECRET_A) as client:
        with pytest.raises(errors.InvalidClientTokenId):
            await client.create_queue(unique_name())


async def test_sdk_learns_its_account_from_the_server(auth_server: BrokerServer) -> None:
    async with Client(auth_server.url, access_key_id=KEY_A,
                      secret_access_key=SECRET_A) as client:
        queue = await client.create_queue(unique_name())
        assert f"/{ACCOUNT_A}/" in queue.url
        await queue.send("x")


def test_unsigned_get_gets_an_xml_error(auth_server: BrokerServer) -> None:
    reply: Reply = http_request(auth_server.url, "GET", f"/?Action=ListQueues&Version={VERSION}")
    assert reply.status == 403
    assert xml_error(reply)[1] == "MissingAuthenticationToken"
