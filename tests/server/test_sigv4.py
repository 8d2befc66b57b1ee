"""SigV4 verification against requests botocore really signs, and the credential store."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from multidict import CIMultiDict

from broker.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
)
from broker.server.credentials import Credential, CredentialStore
from broker.server.sigv4 import (
    SIGNATURE_MISMATCH_MESSAGE,
    Verifier,
    canonical_path,
    service_from_authorization,
    verify,
)

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ACCOUNT = "000000000000"
ENDPOINT = "http://localhost:4566"
#: the moment every request in this module is signed at
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

STORE = CredentialStore([Credential(AKID, SECRET, ACCOUNT)])


@dataclass
class Wire:
    """A request as the server receives it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def verify(self, now: datetime = T0, store: CredentialStore = STORE,
               **kw: Any) -> Credential:
        return verify(self.method, self.path, self.query, self.headers, self.body, store,
                      now, **kw)

    def with_headers(self, **changes: str | None) -> Wire:
        """A copy with headers replaced (matching names case-insensitively) or dropped."""
        headers = dict(self.headers)
        for name, value in changes.items():
            name = name.replace("_", "-")
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            if value is not None:
                headers[name] = value
        return Wire(self.method, self.path, self.query, headers, self.body)

    def with_authorization(self, value: str) -> Wire:
        return self.with_headers(Authorization=value)


def to_wire(prepared: AWSPreparedRequest) -> Wire:
    parts = urlsplit(prepared.url)
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in prepared.headers.items()}
    headers.setdefault("Host", parts.netloc)  # what urllib3 adds on the way out
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return Wire(prepared.method, parts.path, parts.query, headers, bytes(body))


@pytest.fixture
def frozen_botocore(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Make botocore sign at a chosen time (it reads the clock through this function)."""

    def freeze(when: datetime) -> None:
        monkeypatch.setattr(
            botocore.auth, "get_current_datetime",
            lambda remove_tzinfo=True: when.replace(tzinfo=None) if remove_tzinfo else when,
        )

    freeze(T0)
    return freeze


def sign(
    method: str,
    path_and_query: str,
    *,
    data: bytes | str | dict[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: dict[str, str] | None = None,
    key: str = AKID,
    secret: str = SECRET,
    service: str = "sqs",
    region: str = "us-east-1",
) -> Wire:
    request = AWSRequest(method=method, url=ENDPOINT + path_and_query, data=data,
                         headers=dict(headers or {}), params=params or {})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return to_wire(request.prepare())


def presign(
    method: str,
    path_and_query: str,
    *,
    data: dict[str, str] | None = None,
    expires: int = 300,
    key: str = AKID,
    secret: str = SECRET,
) -> Wire:
    request = AWSRequest(method=method, url=ENDPOINT + path_and_query, data=data)
    SigV4QueryAuth(Credentials(key, secret), "sqs", "us-east-1", expires=expires).add_auth(
        request
    )
    return to_wire(request.prepare())


def json_request(target: str = "AmazonSQS.SendMessage", body: bytes | None = None,
                 **kw: Any) -> Wire:
    payload = body if body is not None else json.dumps(
        {"QueueUrl": f"{ENDPOINT}/{ACCOUNT}/my-queue", "MessageBody": "hello"}
    ).encode()
    return sign(
        "POST", "/", data=payload,
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"},
        **kw,
    )


def form_request(**kw: Any) -> Wire:
    return sign(
        "POST", f"/{ACCOUNT}/my-queue",
        data={"Action": "SendMessage", "MessageBody": "a b+c&d=é", "Version": "2012-11-05"},
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        **kw,
    )


# -- requests that verify ------------------------------------------------------------------


def test_json_post_verifies(frozen_botocore: object) -> None:
    wire = json_request()
    assert wire.headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={AKID}/20260101/us-east-1/sqs/aws4_request, "
    )
    cred = wire.verify()
    assert cred == Credential(AKID, SECRET, ACCOUNT)


def test_form_post_to_queue_path_verifies(frozen_botocore: object) -> None:
    wire = form_request()
    assert wire.path == f"/{ACCOUNT}/my-queue" and b"MessageBody=" in wire.body
    assert wire.verify().account_id == ACCOUNT


def test_get_with_params_verifies(frozen_botocore: object) -> None:
    # params are urlencoded on the wire (space -> '+'), canonicalised with %20
    wire = sign("GET", "/", params={"Action": "ListQueues", "QueueNamePrefix": "a b+c/é~*"})
    assert "+" in wire.query
    wire.verify()


def test_get_with_query_in_url_verifies(frozen_botocore: object) -> None:
    wire = sign("GET", "/?Version=2012-11-05&Action=ListQueues&QueueNamePrefix=x%2Fy")
    wire.verify()


def test_query_botocore_signs_as_found_in_url(frozen_botocore: object) -> None:
    # botocore signs a URL's own query unencoded; the verifier accepts that form too
    wire = sign("GET", "/?Action=ListQueues&QueueNamePrefix=a,b&flag")
    wire.verify()


def test_presigned_url_verifies(frozen_botocore: object) -> None:
    wire = presign("GET", f"/{ACCOUNT}/my-queue?Action=ReceiveMessage")
    assert "Authorization" not in wire.headers
    assert "X-Amz-Signature=" in wire.query and "X-Amz-Expires=300" in wire.query
    assert wire.verify(now=T0 + timedelta(seconds=299)).access_key_id == AKID


def test_presigned_url_with_body_moved_to_query_verifies(frozen_botocore: object) -> None:
    wire = presign("POST", f"/{ACCOUNT}/my-queue",
                   data={"Action": "SendMessage", "MessageBody": "hi there+&=/"})
    assert wire.body == b""
    wire.verify()


@pytest.mark.parametrize(
    "path",
    [
        f"/{ACCOUNT}/my%20queue",  # an encoded space: signed as %2520
        f"/{ACCOUNT}/q%2Fwith%2Fslashes",
        f"/{ACCOUNT}/a:b@c!$'()*+,;=~d",  # legal raw, encoded in the canonical path
        f"/{ACCOUNT}/caf%C3%A9",
        f"//{ACCOUNT}/./x/../my-queue/",  # dot and empty segments are normalised away
        "",  # no path at all signs as "/"
    ],
)
def test_paths_needing_encoding_verify(frozen_botocore: object, path: str) -> None:
    wire = sign("POST", path, data=b"Action=GetQueueUrl",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    if path == "":
        wire.path = ""
    wire.verify()


def test_canonical_path_is_botocores() -> None:
    signer = SigV4Auth(Credentials(AKID, SECRET), "sqs", "us-east-1")
    for raw in ["/", "", "/a%20b/./c/../d//e/", "/a:b@c~d", "/caf%C3%A9", "/x/.."]:
        assert canonical_path(raw) == signer._normalize_url_path(raw)
    assert canonical_path("/a%20b") == "/a%2520b"


def test_date_header_instead_of_x_amz_date(frozen_botocore: object) -> None:
    date = formatdate(T0.timestamp(), usegmt=True)
    wire = sign("POST", "/", data=b"{}",
                headers={"Date": date, "X-Amz-Target": "AmazonSQS.ListQueues"})
    assert "X-Amz-Date" not in wire.headers
    wire.verify()
    with pytest.raises(RequestExpired):
        wire.verify(now=T0 + timedelta(minutes=16))


def test_multidict_headers_and_repeated_values(frozen_botocore: object) -> None:
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data=b"{}")
    request.headers["X-Amz-Target"] = "AmazonSQS.ListQueues"
    request.headers["X-Custom"] = "one"
    request.headers["X-Custom"] = "  two   words "  # HTTPHeaders appends a second value
    SigV4Auth(Credentials(AKID, SECRET), "sqs", "us-east-1").add_auth(request)
    prepared = request.prepare()
    assert "x-custom" in request.headers["Authorization"]
    headers: CIMultiDict[str] = CIMultiDict()
    headers["host"] = "localhost:4566"
    for name in ("X-Amz-Target", "X-Amz-Date", "Authorization"):
        headers[name.upper()] = request.headers[name]
    headers.add("x-custom", "one")
    headers.add("X-CUSTOM", "  two   words ")
    assert prepared.body == b"{}"
    verify("POST", "/", "", headers, b"{}", STORE, T0)
    headers.popall("x-custom")
    headers.add("x-custom", "one")
    with pytest.raises(SignatureDoesNotMatch):
        verify("POST", "/", "", headers, b"{}", STORE, T0)


def test_header_names_are_case_insensitive(frozen_botocore: object) -> None:
    wire = json_request()
    upper = Wire(wire.method, wire.path, wire.query,
                 {k.upper(): v for k, v in wire.headers.items()}, wire.body)
    upper.verify()
    lower = Wire(wire.method, wire.path, wire.query,
                 {k.lower(): v for k, v in wire.headers.items()}, wire.body)
    lower.verify()


def test_content_sha256_header_when_it_matches(frozen_botocore: object) -> None:
    import hashlib

    body = b'{"QueueNamePrefix": "x"}'
    wire = sign("POST", "/", data=body, headers={
        "X-Amz-Target": "AmazonSQS.ListQueues",
        "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(),
    })
    wire.verify()


def test_other_region_and_service(frozen_botocore: object) -> None:
    wire = json_request(target="Kinesis_20131202.ListStreams", service="kinesis",
                        region="eu-west-3")
    wire.verify()
    assert service_from_authorization(wire.headers) == "kinesis"


# -- real boto3 clients, captured before they hit the network --------------------------------


class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


def _capture(client: Any, call: Callable[[], object]) -> Wire:
    def stop(request: AWSPreparedRequest, **_: object) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send", stop)
    with pytest.raises(_Captured) as info:
        call()
    return to_wire(info.value.request)


def _client(service: str) -> Any:
    return boto3.session.Session().client(
        service, endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id=AKID, aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}),
    )


def test_boto3_sqs_client_request_verifies(frozen_botocore: object) -> None:
    sqs = _client("sqs")
    wire = _capture(sqs, lambda: sqs.send_message(
        QueueUrl=f"{ENDPOINT}/{ACCOUNT}/my-queue", MessageBody="héllo wörld",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v v"}},
    ))
    assert "x-amz-target" in wire.headers["Authorization"]
    wire.verify()
    assert service_from_authorization(wire.headers) == "sqs"


def test_boto3_query_protocol_client_request_verifies(frozen_botocore: object) -> None:
    sns = _client("sns")
    wire = _capture(sns, lambda: sns.publish(
        TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:t", Message="x & y = z + 1 ~ é",
    ))
    assert wire.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    wire.verify()
    assert service_from_authorization(wire.headers) == "sns"


def test_redcurrent_sdk_signer_request_verifies() -> None:
    from broker.sdk.signing import Signer  # the SDK's own, botocore-free signer

    body = b'{"QueueName": "q"}'
    base = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.CreateQueue"}
    added = Signer(AKID, SECRET, "us-east-1", "sqs").headers("POST", ENDPOINT + "/", base, body,
                                                             now=T0)
    Wire("POST", "/", "", {**base, **added}, body).verify()
    with pytest.raises(SignatureDoesNotMatch):
        Wire("POST", "/", "", {**base, **added}, body + b" ").verify()


# -- rejections -------------------------------------------------------------------------------


def test_wrong_secret(frozen_botocore: object) -> None:
    with pytest.raises(SignatureDoesNotMatch) as info:
        json_request(secret="not-the-secret").verify()
    assert info.value.message == SIGNATURE_MISMATCH_MESSAGE
    assert info.value.http_status == 403


def test_unknown_access_key(frozen_botocore: object) -> None:
    with pytest.raises(InvalidClientTokenId) as info:
        json_request(key="AKIDUNKNOWN").verify()
    assert info.value.message == "The security token included in the request is invalid."
    assert info.value.http_status == 403


def test_empty_store_knows_no_key(frozen_botocore: object) -> None:
    with pytest.raises(InvalidClientTokenId):
        json_request().verify(store=CredentialStore.empty())


@pytest.mark.parametrize("shift", [timedelta(minutes=16), timedelta(minutes=-16)])
def test_expired_either_side(frozen_botocore: Callable[[datetime], None],
                             shift: timedelta) -> None:
    # signed 16 minutes before (or after) the server's clock
    frozen_botocore(T0 - shift)
    wire = json_request()
    with pytest.raises(RequestExpired) as info:
        wire.verify(now=T0)
    assert info.value.message == "Request has expired."
    assert info.value.http_status == 400


@pytest.mark.parametrize("shift", [timedelta(minutes=15), timedelta(minutes=-15)])
def test_within_skew_either_side(frozen_botocore: object, shift: timedelta) -> None:
    json_request().verify(now=T0 + shift)


def test_custom_max_skew(frozen_botocore: object) -> None:
    wire = json_request()
    wire.verify(now=T0 + timedelta(seconds=30), max_skew=timedelta(seconds=30))
    with pytest.raises(RequestExpired):
        wire.verify(now=T0 + timedelta(seconds=31), max_skew=timedelta(seconds=30))


def test_presigned_expiry(frozen_botocore: object) -> None:
    wire = presign("GET", "/?Action=ListQueues", expires=60)
    wire.verify(now=T0 + timedelta(seconds=60))
    with pytest.raises(RequestExpired):
        wire.verify(now=T0 + timedelta(seconds=61))
    # dated too far in the future
    with pytest.raises(RequestExpired):
        wire.verify(now=T0 - timedelta(minutes=16))


def test_tampered_body(frozen_botocore: object) -> None:
    wire = json_request()
    wire.body = wire.body.replace(b"hello", b"HELLO")
    with pytest.raises(SignatureDoesNotMatch):
        wire.verify()


def test_tampered_form_body(frozen_botocore: object) -> None:
    wire = form_request()
    wire.body += b"&DelaySeconds=900"
    with pytest.raises(SignatureDoesNotMatch):
        wire.verify()


def test_tampered_signed_header(frozen_botocore: object) -> None:
    wire = json_request(target="AmazonSQS.ReceiveMessage")
    with pytest.raises(SignatureDoesNotMatch):
        wire.with_headers(X_Amz_Target="AmazonSQS.PurgeQueue").verify()
    with pytest.raises(SignatureDoesNotMatch):
        wire.with_headers(Host="evil.example:4566").verify()


def test_tampered_path_method_and_query(frozen_botocore: object) -> None:
    wire = form_request()
    for changed in (
        Wire(wire.method, f"/{ACCOUNT}/other-queue", wire.query, wire.headers, wire.body),
        Wire("PUT", wire.path, wire.query, wire.headers, wire.body),
        Wire(wire.method, wire.path, "Action=DeleteQueue", wire.headers, wire.body),
    ):
        with pytest.raises(SignatureDoesNotMatch):
            changed.verify()


def test_tampered_presigned_query(frozen_botocore: object) -> None:
    wire = presign("GET", f"/{ACCOUNT}/my-queue?Action=ReceiveMessage")
    wire.query = wire.query.replace("ReceiveMessage", "PurgeQueue")
    with pytest.raises(SignatureDoesNotMatch):
        wire.verify()
    longer = presign("GET", "/?Action=ListQueues", expires=60)
    longer.query = longer.query.replace("X-Amz-Expires=60", "X-Amz-Expires=3600")
    with pytest.raises(SignatureDoesNotMatch):
        longer.verify()


def test_missing_signed_header(frozen_botocore: object) -> None:
    wire = json_request()
    with pytest.raises(SignatureDoesNotMatch):
        wire.with_headers(X_Amz_Target=None).verify()
    with pytest.raises(SignatureDoesNotMatch):
        wire.with_headers(Content_Type=None).verify()


def test_missing_date(frozen_botocore: object) -> None:
    with pytest.raises(IncompleteSignature, match="X-Amz-Date"):
        json_request().with_headers(X_Amz_Date=None).verify()


@pytest.mark.parametrize("value", ["2026-01-01T12:00:00Z", "20260101T120000", "20261301T120000Z",
                                   "tomorrow", ""])
def test_unparseable_date(frozen_botocore: object, value: str) -> None:
    with pytest.raises(IncompleteSignature):
        json_request().with_headers(X_Amz_Date=value).verify()


def test_unparseable_date_header(frozen_botocore: object) -> None:
    wire = json_request().with_headers(X_Amz_Date=None, Date="not a date")
    with pytest.raises(IncompleteSignature):
        wire.verify()


def test_scope_date_must_match_request_date(frozen_botocore: object) -> None:
    wire = json_request()
    with pytest.raises(SignatureDoesNotMatch, match="Date in Credential scope"):
        wire.with_headers(X_Amz_Date="20260102T000100Z").verify(
            now=datetime(2026, 1, 2, tzinfo=UTC)
        )


def test_missing_authentication(frozen_botocore: object) -> None:
    wire = json_request().with_headers(Authorization=None)
    with pytest.raises(MissingAuthenticationToken) as info:
        wire.verify()
    assert info.value.message == "Request is missing Authentication Token"
    assert info.value.http_status == 403
    with pytest.raises(MissingAuthenticationToken):
        json_request().with_authorization("   ").verify()
    with pytest.raises(MissingAuthenticationToken):
        verify("GET", "/", "Action=ListQueues", {}, b"", STORE, T0)


def _authz(**parts: str | None) -> str:
    fields = {
        "Credential": f"{AKID}/20260101/us-east-1/sqs/aws4_request",
        "SignedHeaders": "content-type;host;x-amz-date;x-amz-target",
        "Signature": "0" * 64,
    }
    for k, v in parts.items():
        if v is None:
            fields.pop(k)
        else:
            fields[k] = v
    return "AWS4-HMAC-SHA256 " + ", ".join(f"{k}={v}" for k, v in fields.items())


@pytest.mark.parametrize(
    "authorization",
    [
        _authz(Credential=None),
        _authz(SignedHeaders=None),
        _authz(Signature=None),
        _authz(Credential=""),
        "AWS4-HMAC-SHA256",
        _authz().replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
        _authz().replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256,"),
        "Basic dXNlcjpwYXNz",
        f"AWS {AKID}:c2lnbmF0dXJl",
        _authz(Credential=f"{AKID}/20260101/us-east-1/sqs"),
        _authz(Credential=f"{AKID}/20260101/us-east-1/sqs/aws4_request/extra"),
        _authz(Credential=f"{AKID}/20260101/us-east-1/sqs/aws5_request"),
        _authz(Credential=f"{AKID}/2026-01-01/us-east-1/sqs/aws4_request"),
        _authz(Credential="/20260101/us-east-1/sqs/aws4_request"),
        _authz(Credential=f"{AKID}/20260101//sqs/aws4_request"),
        _authz(Credential=f"{AKID}/20260101/us-east-1/s q s/aws4_request"),
        _authz() + ", Signature=" + "1" * 64,
        _authz() + ", Garbage",
        _authz(SignedHeaders="content-type;;host"),
        _authz(SignedHeaders="content-type;x-amz-date;x-amz-target"),  # host unsigned
    ],
)
def test_malformed_authorization(frozen_botocore: object, authorization: str) -> None:
    with pytest.raises(IncompleteSignature) as info:
        json_request().with_authorization(authorization).verify()
    assert info.value.http_status == 400


def test_malformed_signature_value_does_not_match(frozen_botocore: object) -> None:
    good = json_request().headers["Authorization"]
    signature = good.rsplit("Signature=", 1)[1]
    for bad in ("zz" * 32, signature[:-1], signature + "0", "é" * 64):
        with pytest.raises(SignatureDoesNotMatch):
            json_request().with_authorization(good.replace(signature, bad)).verify()
    # upper-case hex is the same signature
    json_request().with_authorization(good.replace(signature, signature.upper())).verify()


def test_two_authorization_headers(frozen_botocore: object) -> None:
    wire = json_request()
    headers: CIMultiDict[str] = CIMultiDict(wire.headers)
    headers.add("authorization", wire.headers["Authorization"])
    with pytest.raises(IncompleteSignature):
        verify(wire.method, wire.path, wire.query, headers, wire.body, STORE, T0)


def test_unsigned_target_header_is_refused(frozen_botocore: object) -> None:
    wire = sign("POST", "/", data=b"{}", headers={"Content-Type": "application/x-amz-json-1.0"})
    wire.verify()
    with pytest.raises(IncompleteSignature, match="x-amz-target"):
        wire.with_headers(X_Amz_Target="AmazonSQS.PurgeQueue").verify()


def test_content_sha256_header_must_match_body(frozen_botocore: object) -> None:
    wire = sign("POST", "/", data=b"{}", headers={
        "X-Amz-Target": "AmazonSQS.ListQueues", "X-Amz-Content-SHA256": "ab" * 32,
    })
    with pytest.raises(SignatureDoesNotMatch):
        wire.verify()


@pytest.mark.parametrize("value", ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
def test_unsigned_payloads_are_refused(frozen_botocore: object, value: str) -> None:
    wire = sign("POST", "/", data=b"{}", headers={
        "X-Amz-Target": "AmazonSQS.ListQueues", "X-Amz-Content-SHA256": value,
    })
    with pytest.raises(IncompleteSignature):
        wire.verify()


def test_header_and_presigned_together(frozen_botocore: object) -> None:
    presigned = presign("GET", "/?Action=ListQueues")
    signed = json_request()
    both = Wire("GET", "/", presigned.query, {**presigned.headers,
                                              "Authorization": signed.headers["Authorization"]},
                b"")
    with pytest.raises(IncompleteSignature, match="Only one auth mechanism"):
        both.verify()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1"),
        ("X-Amz-Algorithm=AWS4-HMAC-SHA256&", ""),
        ("X-Amz-Date=", "X-Amz-Datum="),
        ("X-Amz-SignedHeaders=", "X-Amz-SignedHeader="),
        ("X-Amz-Expires=300", "X-Amz-Expires=0"),
        ("X-Amz-Expires=300", "X-Amz-Expires=604801"),
        ("X-Amz-Expires=300", "X-Amz-Expires=-5"),
        ("X-Amz-Expires=300", "X-Amz-Expires=soon"),
        ("X-Amz-Expires=300", "X-Amz-Expires=300&X-Amz-Expires=301"),
        ("X-Amz-Date=20260101T120000Z", "X-Amz-Date=2026-01-01"),
        ("X-Amz-Credential=AKIDEXAMPLE%2F", "X-Amz-Credential=AKIDEXAMPLE%2Fx%2F"),
    ],
)
def test_malformed_presigned(frozen_botocore: object, old: str, new: str) -> None:
    wire = presign("GET", "/?Action=ListQueues")
    assert old in wire.query
    wire.query = wire.query.replace(old, new, 1)
    with pytest.raises(IncompleteSignature):
        wire.verify()


def test_presigned_without_signature_param(frozen_botocore: object) -> None:
    wire = presign("GET", "/?Action=ListQueues")
    wire.query = wire.query.rsplit("&X-Amz-Signature=", 1)[0]
    with pytest.raises(IncompleteSignature):
        wire.verify()


def test_presigned_wrong_secret_and_unknown_key(frozen_botocore: object) -> None:
    with pytest.raises(SignatureDoesNotMatch):
        presign("GET", "/?Action=ListQueues", secret="nope").verify()
    with pytest.raises(InvalidClientTokenId):
        presign("GET", "/?Action=ListQueues", key="AKIDUNKNOWN").verify()


def test_path_must_not_carry_the_query(frozen_botocore: object) -> None:
    wire = json_request()
    with pytest.raises(ValueError, match="query"):
        verify("POST", "/?a=b", "", wire.headers, wire.body, STORE, T0)


def test_now_must_be_aware(frozen_botocore: object) -> None:
    with pytest.raises(ValueError, match="aware"):
        json_request().verify(now=T0.replace(tzinfo=None))


# -- the Verifier and its key cache ------------------------------------------------------------


def test_verifier_caches_signing_keys(frozen_botocore: object) -> None:
    verifier = Verifier(STORE, cache_size=2)
    wire = json_request()
    for _ in range(3):
        assert verifier.verify(wire.method, wire.path, wire.query, wire.headers, wire.body,
                               T0).access_key_id == AKID
    assert len(verifier._keys) == 1
    for region in ("eu-west-1", "eu-west-2", "eu-west-3"):
        other = json_request(region=region)
        verifier.verify(other.method, other.path, other.query, other.headers, other.body, T0)
    assert 1 <= len(verifier._keys) <= 2  # bounded: emptied when full
    # a cached key never lets a wrong secret through
    bad = json_request(secret="wrong")
    with pytest.raises(SignatureDoesNotMatch):
        verifier.verify(bad.method, bad.path, bad.query, bad.headers, bad.body, T0)


def test_verifier_defaults_to_the_current_time() -> None:
    wire = sign("POST", "/", data=b"{}", headers={"X-Amz-Target": "AmazonSQS.ListQueues"})
    Verifier(STORE).verify(wire.method, wire.path, wire.query, wire.headers, wire.body)


def test_verifier_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        Verifier(STORE, timedelta(seconds=-1))
    with pytest.raises(ValueError):
        Verifier(STORE, cache_size=-1)


def test_service_from_authorization(frozen_botocore: object) -> None:
    assert service_from_authorization({}) is None
    assert service_from_authorization({"Authorization": "Basic abc"}) is None
    assert service_from_authorization({"authorization": _authz()}) == "sqs"
    assert service_from_authorization(
        {"Authorization": _authz(Credential=f"{AKID}/20260101/us-east-1/sns/aws4_request")}
    ) == "sns"
    assert service_from_authorization({"Authorization": _authz(Credential="bad")}) is None
    presigned = presign("GET", "/?Action=ListQueues")
    assert service_from_authorization(presigned.headers) is None
    assert service_from_authorization(presigned.headers, query=presigned.query) == "sqs"


# -- the credential store ----------------------------------------------------------------------


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "credentials.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_store_from_file(tmp_path: Path) -> None:
    path = _write(tmp_path, {"credentials": [
        {"access_key_id": "AKID1", "secret_access_key": "s1", "account_id": "111111111111"},
        {"access_key_id": "AKID2", "secret_access_key": "s2"},
    ]})
    store = CredentialStore.from_file(path, default_account="222222222222")
    assert len(store) == 2 and bool(store)
    assert store.get("AKID1") == Credential("AKID1", "s1", "111111111111")
    assert store.get("AKID2") == Credential("AKID2", "s2", "222222222222")
    assert store.get("nope") is None
    assert sorted(store) == ["AKID1", "AKID2"] and "AKID1" in store
    assert CredentialStore.from_file(str(path))["AKID2"].account_id == ACCOUNT


SECRET_MARK = "TOPSECRETVALUE"


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ("{not json " + SECRET_MARK, "not valid JSON"),
        ([], "credentials"),
        ({}, "credentials"),
        ({"credentials": {}}, "must be a list"),
        ({"credentials": []}, "empty"),
        ({"credentials": [], "extra": 1}, "unknown top-level"),
        ({"credentials": ["AKID:" + SECRET_MARK]}, "credentials[0]"),
        ({"credentials": [{"secret_access_key": SECRET_MARK}]}, "access_key_id"),
        ({"credentials": [{"access_key_id": "A/B", "secret_access_key": SECRET_MARK}]},
         "access_key_id"),
        ({"credentials": [{"access_key_id": "AKID"}]}, "secret_access_key"),
        ({"credentials": [{"access_key_id": "AKID", "secret_access_key": ""}]},
         "secret_access_key"),
        ({"credentials": [{"access_key_id": "AKID", "secret_access_key": 7}]},
         "secret_access_key"),
        ({"credentials": [{"access_key_id": "AKID", "secret_access_key": SECRET_MARK,
                           "account_id": "12 34"}]}, "account_id"),
        ({"credentials": [{"access_key_id": "AKID", "secret_key": SECRET_MARK}]},
         "unknown field"),
        ({"credentials": [{"access_key_id": "AKID", "secret_access_key": SECRET_MARK},
                          {"access_key_id": "AKID", "secret_access_key": "other"}]},
         "defined twice"),
    ],
)
def test_store_from_malformed_file(tmp_path: Path, doc: object, needle: str) -> None:
    path = _write(tmp_path, doc)
    with pytest.raises(ValueError) as info:
        CredentialStore.from_file(path)
    message = str(info.value)
    assert needle in message
    assert SECRET_MARK not in message
    assert info.value.__cause__ is None or SECRET_MARK not in str(info.value.__cause__)


def test_store_from_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="UTF-8"):
        CredentialStore.from_file(path)


def test_store_from_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CredentialStore.from_file(tmp_path / "absent.json")


def test_store_from_env() -> None:
    assert not CredentialStore.from_env({}, ACCOUNT)
    assert not CredentialStore.from_env({"BROKER_ACCESS_KEY_ID": "", "OTHER": "x"}, ACCOUNT)
    store = CredentialStore.from_env(
        {"BROKER_ACCESS_KEY_ID": "AKID", "BROKER_SECRET_ACCESS_KEY": "s"}, "333333333333"
    )
    assert store.get("AKID") == Credential("AKID", "s", "333333333333")
    store = CredentialStore.from_env({
        "BROKER_ACCESS_KEY_ID": "AKID", "BROKER_SECRET_ACCESS_KEY": "s",
        "BROKER_CREDENTIAL_ACCOUNT_ID": "444444444444",
    }, ACCOUNT)
    assert store["AKID"].account_id == "444444444444"


@pytest.mark.parametrize(
    "env",
    [
        {"BROKER_ACCESS_KEY_ID": "AKID"},
        {"BROKER_SECRET_ACCESS_KEY": SECRET_MARK},
        {"BROKER_CREDENTIAL_ACCOUNT_ID": "444444444444"},
        {"BROKER_ACCESS_KEY_ID": "A K", "BROKER_SECRET_ACCESS_KEY": SECRET_MARK},
        {"BROKER_ACCESS_KEY_ID": "AKID", "BROKER_SECRET_ACCESS_KEY": SECRET_MARK,
         "BROKER_CREDENTIAL_ACCOUNT_ID": "no/slash"},
    ],
)
def test_store_from_bad_env(env: dict[str, str]) -> None:
    with pytest.raises(ValueError) as info:
        CredentialStore.from_env(env, ACCOUNT)
    assert SECRET_MARK not in str(info.value)


def test_store_merged_and_empty() -> None:
    empty = CredentialStore.empty()
    assert not empty and len(empty) == 0 and empty.get(AKID) is None
    other = CredentialStore([Credential("AKID2", "s2", ACCOUNT)])
    both = STORE.merged(other)
    assert len(both) == 2 and both.get("AKID2") is not None and both.get(AKID) is not None
    assert len(STORE) == 1  # the originals are untouched
    assert STORE.merged(STORE) == STORE
    assert empty.merged(STORE) == STORE
    with pytest.raises(ValueError, match="differently"):
        STORE.merged(CredentialStore([Credential(AKID, "another", ACCOUNT)]))


def test_store_and_credential_never_show_secrets() -> None:
    cred = Credential(AKID, SECRET_MARK, ACCOUNT)
    store = CredentialStore([cred])
    assert SECRET_MARK not in repr(cred) and SECRET_MARK not in repr(store)
    assert AKID in repr(store)


def test_store_is_immutable() -> None:
    with pytest.raises(TypeError):
        STORE["X"] = Credential("X", "y", ACCOUNT)  # type: ignore[index]
    with pytest.raises(AttributeError):
        STORE.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        Credential(AKID, SECRET, ACCOUNT).account_id = "1"  # type: ignore[misc]


def test_credential_validates() -> None:
    with pytest.raises(ValueError):
        Credential("", "s", ACCOUNT)
    with pytest.raises(ValueError):
        Credential("A", "", ACCOUNT)
    with pytest.raises(ValueError):
        Credential("A", "s", "")
    with pytest.raises(TypeError):
        CredentialStore([("A", "s", ACCOUNT)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="twice"):
        CredentialStore([Credential("A", "s", ACCOUNT), Credential("A", "s", ACCOUNT)])
