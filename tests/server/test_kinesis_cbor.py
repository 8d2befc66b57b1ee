"""Kinesis over ``application/x-amz-cbor-1.1``: the CBOR codec (RFC 8949 Appendix A vectors,
malformed input) and raw CBOR requests against the broker server (what the Java SDKs send
by default: blobs as byte strings, timestamps as tag 1 around epoch milliseconds)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from broker import errors
from broker.server import cbor
from broker.server.app import BrokerServer
from broker.server.codecs import CBOR_CONTENT_TYPE, ServiceCodec
from broker.server.credentials import Credential, CredentialStore
from tests.broker_servers import serving_in_thread
from tests.conftest import TEST_LIMITS
from tests.server.helpers import REGION, Reply, http_request, unique_name

TARGET = "Kinesis_20131202"


# --- the codec: RFC 8949 Appendix A ----------------------------------------------------

#: (value, encoding) pairs that encode exactly as listed (and decode back)
CANONICAL: list[tuple[Any, str]] = [
    (0, "00"), (1, "01"), (10, "0a"), (23, "17"), (24, "1818"), (25, "1819"), (100, "1864"),
    (255, "18ff"), (256, "190100"), (1000, "1903e8"), (65535, "19ffff"),
    (1000000, "1a000f4240"), (2**32, "1b0000000100000000"),
    (1000000000000, "1b000000e8d4a51000"), (2**64 - 1, "1bffffffffffffffff"),
    (2**64, "c249010000000000000000"), (-(2**64), "3bffffffffffffffff"),
    (-(2**64) - 1, "c349010000000000000000"),
    (-1, "20"), (-10, "29"), (-100, "3863"), (-1000, "3903e7"),
    (0.0, "f90000"), (-0.0, "f98000"), (1.0, "f93c00"), (1.1, "fb3ff199999999999a"),
    (1.5, "f93e00"), (65504.0, "f97bff"), (100000.0, "fa47c35000"),
    (3.4028234663852886e38, "fa7f7fffff"), (1.0e300, "fb7e37e43c8800759c"),
    (5.960464477539063e-8, "f90001"), (0.00006103515625, "f90400"), (-4.0, "f9c400"),
    (-4.1, "fbc010666666666666"), (math.inf, "f97c00"), (-math.inf, "f9fc00"),
    (False, "f4"), (True, "f5"), (None, "f6"),
    (cbor.Tag(0, "2013-03-21T20:04:00Z"), "c074323031332d30332d32315432303a30343a30305a"),
    (cbor.Tag(1, 1363896240), "c11a514b67b0"), (cbor.Tag(1, 1363896240.5), "c1fb41d452d9ec200000"),
    (cbor.Tag(23, b"\x01\x02\x03\x04"), "d74401020304"),
    (cbor.Tag(32, "http://www.example.com"), "d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"), ("a", "6161"), ("IETF", "6449455446"), ('"\\', "62225c"), ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"), ("\U00010151", "64f0908591"),
    ([], "80"), ([1, 2, 3], "83010203"), ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"), ({1: 2, 3: 4}, "a201020304"), ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
     "a56161614161626142616361436164614461656145"),
]

#: encodings that decode to the value but are not what the encoder writes
DECODE_ONLY: list[tuple[str, Any]] = [
    ("f7", None),  # undefined
    ("5f42010243030405ff", b"\x01\x02\x03\x04\x05"),
    ("7f657374726561646d696e67ff", "streaming"),
    ("7fff", ""), ("5fff", b""),
    ("9fff", []),
    ("9f018202039f0405ffff", [1, [2, 3], [4, 5]]),
    ("9f01820203820405ff", [1, [2, 3], [4, 5]]),
    ("83018202039f0405ff", [1, [2, 3], [4, 5]]),
    ("83019f0203ff820405", [1, [2, 3], [4, 5]]),
    ("9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff", list(range(1, 26))),
    ("bf61610161629f0203ffff", {"a": 1, "b": [2, 3]}),
    ("826161bf61626163ff", ["a", {"b": "c"}]),
    ("bf6346756ef563416d7421ff", {"Fun": True, "Amt": -2}),
    ("f97e00", math.nan), ("fa7fc00000", math.nan), ("fb7ff8000000000000", math.nan),
    ("fa7f800000", math.inf), ("fbfff0000000000000", -math.inf),
    ("f93e00", 1.5), ("fa3fc00000", 1.5), ("fb3ff8000000000000", 1.5),  # every width
    ("1800", 0), ("190000", 0), ("1a00000000", 0), ("1b0000000000000000", 0),
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                       math.copysign(1, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(("value", "encoded"), CANONICAL, ids=[e for _, e in CANONICAL])
def test_rfc_vectors_encode_and_decode(value: Any, encoded: str) -> None:
    assert cbor.dumps(value).hex() == encoded
    assert _same(cbor.loads(bytes.fromhex(encoded)), value)


@pytest.mark.parametrize(("encoded", "value"), DECODE_ONLY, ids=[e for e, _ in DECODE_ONLY])
def test_rfc_vectors_decode(encoded: str, value: Any) -> None:
    assert _same(cbor.loads(bytes.fromhex(encoded)), value)


def test_round_trips() -> None:
    value = {"Data": bytes(range(256)), "n": [0, -1, 2**63, -(2**63), 1.25, 1e-300, None],
             "nested": {"t": cbor.Tag(1, 1_700_000_000_123), "ok": True, "s": "\u00e9\U0001f600"},
             "tuple": (1, 2)}
    decoded = cbor.loads(cbor.dumps(value))
    assert decoded == {**value, "tuple": [1, 2]}
    assert cbor.dumps(math.nan).hex() == "f97e00"
    big = b"x" * 70_000
    assert cbor.dumps(big)[:5].hex() == "5a00011170" and cbor.loads(cbor.dumps(big)) == big
    assert cbor.loads(bytearray(b"\x01")) == 1 and cbor.loads(memoryview(b"\x20")) == -1


def test_subclasses_and_unsupported_types() -> None:
    import enum

    class Mode(str, enum.Enum):  # noqa: UP042 (the mixin whose str() is "Mode.ON_DEMAND")
        ON_DEMAND = "ON_DEMAND"

    class Count(enum.IntEnum):
        TWO = 2

    assert cbor.loads(cbor.dumps({"m": Mode.ON_DEMAND, "c": Count.TWO})) == {
        "m": "ON_DEMAND", "c": 2}
    with pytest.raises(TypeError, match="cannot encode a set"):
        cbor.dumps({1, 2})
    assert cbor.dumps("\ud800") == cbor.dumps("?")  # no UTF-8 form: replaced


MALFORMED: list[tuple[str, str]] = [
    ("", "truncated"),
    ("18", "truncated"),  # uint8 without its byte
    ("1b000000", "truncated"),
    ("44010203", "truncated"),  # byte string one short
    ("62c3", "truncated"),
    ("83010203" [:-2], "truncated"),  # array one element short
    ("a16161", "truncated"),  # map value missing
    ("5f4101", "truncated"),  # indefinite string without break
    ("9f01", "truncated"),
    ("f9", "truncated"),
    ("c1", "truncated"),  # tag without content
    ("9b7fffffffffffffff", "truncated"),  # absurd declared length
    ("1c", "reserved additional information 28"),
    ("3d", "reserved additional information 29"),
    ("5e", "reserved additional information 30"),
    ("fc", "reserved additional information 28"),
    ("1f", "indefinite length on an integer"),
    ("3f", "indefinite length on an integer"),
    ("df01", "indefinite length on a tag"),
    ("ff", "unexpected break"),
    ("8201ff", "unexpected break"),
    ("bf6161ff", "unexpected break"),  # break in place of a value
    ("5f6161ff", "another major type"),
    ("5f5f4101ffff", "nested indefinite-length string"),
    ("62c328", "invalid UTF-8"),
    ("7f61ffff", "invalid UTF-8"),
    ("f818", "two-byte encoding of simple value 24"),
    ("f0", "unsupported simple value 16"),
    ("f8ff", "unsupported simple value 255"),
    ("a1810102", "is an array or a map"),
    ("c24101" + "00", "trailing data"),
    ("0101", "trailing data"),
    ("c201", "bignum tag 2"),
]


@pytest.mark.parametrize(("encoded", "reason"), MALFORMED, ids=[e or "empty" for e, _ in MALFORMED])
def test_malformed_input(encoded: str, reason: str) -> None:
    with pytest.raises(cbor.CborError, match=reason) as caught:
        cbor.loads(bytes.fromhex(encoded))
    assert isinstance(caught.value, ValueError)


def test_nesting_limit() -> None:
    assert cbor.loads(b"\x81" * 64 + b"\x00") is not None
    with pytest.raises(cbor.CborError, match="nested deeper than 64"):
        cbor.loads(b"\x81" * 65 + b"\x00")
    with pytest.raises(cbor.CborError, match="nested deeper"):
        cbor.loads(b"\x9f" * 100_000)
    with pytest.raises(cbor.CborError, match="nested deeper"):
        cbor.loads(b"\xc1" * 100_000)
    with pytest.raises(cbor.CborError, match="nested deeper than 3"):
        cbor.loads(bytes.fromhex("81818181") + b"\x00", max_depth=3)


def test_text_keys() -> None:
    assert cbor.loads(bytes.fromhex("a201020304")) == {1: 2, 3: 4}
    with pytest.raises(cbor.CborError, match="not a text string"):
        cbor.loads(bytes.fromhex("a201020304"), text_keys=True)


# --- the Kinesis codec -----------------------------------------------------------------


@pytest.fixture(scope="module")
def codec() -> ServiceCodec:
    return ServiceCodec(botocore.session.get_session().get_service_model("kinesis"))


def test_codec_timestamps_and_blobs(codec: ServiceCodec) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
    ms = (when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    for raw in (cbor.Tag(1, ms), cbor.Tag(1, ms / 1000), ms, ms / 1000, cbor.Tag(1, float(ms)),
                "2024-05-06T07:08:09.123Z", cbor.Tag(0, "2024-05-06T07:08:09.123Z")):
        params = codec.decode_cbor("GetShardIterator", cbor.dumps(
            {"StreamName": "s", "ShardId": "shardId-000000000000",
             "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": raw}))
        assert params["Timestamp"] == when, raw
    put = codec.decode_cbor("PutRecord", cbor.dumps(
        {"StreamName": "s", "Data": b"\x00\xff", "PartitionKey": "k", "Unknown": [1]}))
    assert put == {"StreamName": "s", "Data": b"\x00\xff", "PartitionKey": "k"}
    assert codec.decode_cbor("PutRecord", cbor.dumps({"Data": "AP8="}))["Data"] == b"\x00\xff"
    assert codec.decode_cbor("DescribeLimits", b"") == {}
    out = cbor.loads(codec.encode_cbor("GetRecords", {
        "Records": [{"SequenceNumber": "1", "PartitionKey": "k", "Data": b"\x00",
                     "ApproximateArrivalTimestamp": when}],
        "NextShardIterator": "it", "MillisBehindLatest": 0}))
    assert out["Records"][0]["ApproximateArrivalTimestamp"] == cbor.Tag(1, ms)
    assert out["Records"][0]["Data"] == b"\x00"
    assert cbor.loads(codec.encode_cbor("DeleteStream", None)) == {}
    assert cbor.loads(ServiceCodec.encode_cbor_error("ResourceNotFoundException", "gone")) == {
        "__type": "ResourceNotFoundException", "message": "gone"}


@pytest.mark.parametrize(("payload", "message"), [
    ({"StreamName": 1}, "NUMBER_VALUE can not be converted to a String (at StreamName)"),
    ({"Data": 5}, "NUMBER_VALUE can not be converted to a Blob (at Data)"),
    ({"Data": "%%%"}, "Base64 encoded value is not valid. (at Data)"),
    ({"StreamName": b"s"}, "can not be converted to a String (at StreamName)"),
    ([1], "Start of list found where not expected."),
])
def test_codec_shape_errors(codec: ServiceCodec, payload: Any, message: str) -> None:
    with pytest.raises(errors.SerializationException) as caught:
        codec.decode_cbor("PutRecord", cbor.dumps(payload))
    assert message in caught.value.message


def test_codec_bad_timestamps(codec: ServiceCodec) -> None:
    for raw in (cbor.Tag(5, 1), b"x", math.inf, cbor.Tag(1, "never")):
        with pytest.raises(errors.SerializationException, match="Timestamp"):
            codec.decode_cbor("GetShardIterator", cbor.dumps({"Timestamp": raw}))
    with pytest.raises(errors.SerializationException, match="Malformed CBOR request body"):
        codec.decode_cbor("PutRecord", b"\xa1\x61")


# --- on the wire -----------------------------------------------------------------------


def _post(server: BrokerServer, operation: str, payload: Any | bytes,
          headers: dict[str, str] | None = None) -> Reply:
    body = payload if isinstance(payload, bytes) else cbor.dumps(payload)
    return http_request(server.url, "POST", "/", body, {
        "Content-Type": CBOR_CONTENT_TYPE, "X-Amz-Target": f"{TARGET}.{operation}",
        **(headers or {})})


def _ok(reply: Reply) -> Any:
    assert reply.status == 200, (reply.status, reply.body)
    assert reply.content_type == CBOR_CONTENT_TYPE
    assert reply.header("x-amzn-RequestId")
    return cbor.loads(reply.body)


def _error(reply: Reply, status: int, code: str) -> str:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.content_type == CBOR_CONTENT_TYPE
    payload = cbor.loads(reply.body)
    assert set(payload) == {"__type", "message"} and payload["__type"] == code, payload
    message: str = payload["message"]
    return message


def test_put_and_get_records_over_cbor(sqs_server: BrokerServer) -> None:
    name = unique_name("s")
    assert _ok(_post(sqs_server, "CreateStream", {"StreamName": name, "ShardCount": 1})) == {}
    data = bytes(range(256)) + b"\x00\xffbinary"
    before_ms = int(time.time() * 1000) - 1000
    put = _ok(_post(sqs_server, "PutRecord",
                    {"StreamName": name, "Data": data, "PartitionKey": "k"}))
    assert put["ShardId"] == "shardId-000000000000" and put["SequenceNumber"]
    it = _ok(_post(sqs_server, "GetShardIterator", {
        "StreamName": name, "ShardId": put["ShardId"], "ShardIteratorType": "AT_TIMESTAMP",
        "Timestamp": cbor.Tag(1, before_ms)}))  # what the Java SDKs send: epoch ms
    reply = _post(sqs_server, "GetRecords", {"ShardIterator": it["ShardIterator"]})
    got = _ok(reply)
    [record] = got["Records"]
    assert record["Data"] == data and record["PartitionKey"] == "k"
    assert record["SequenceNumber"] == put["SequenceNumber"]
    arrival = record["ApproximateArrivalTimestamp"]
    assert isinstance(arrival, cbor.Tag) and arrival.number == 1
    assert type(arrival.value) is int  # epoch milliseconds, as the Java SDKs parse them
    assert before_ms <= arrival.value <= int(time.time() * 1000) + 1000
    # on the wire: a byte string (major type 2) for Data, tag 1 (0xc1) for the timestamp
    assert bytes([0x59]) + len(data).to_bytes(2, "big") + data in reply.body
    assert b"\xc1\x1b" + arrival.value.to_bytes(8, "big") in reply.body
    assert got["MillisBehindLatest"] == 0 and got["NextShardIterator"]

    summary = _ok(_post(sqs_server, "DescribeStreamSummary", {"StreamName": name}))[
        "StreamDescriptionSummary"]
    created = summary["StreamCreationTimestamp"]
    assert created.number == 1 and abs(created.value - time.time() * 1000) < 600_000
    assert summary["OpenShardCount"] == 1
    batch = _ok(_post(sqs_server, "PutRecords", {"StreamName": name, "Records": [
        {"Data": b"\x01", "PartitionKey": "a"}, {"Data": b"\x02", "PartitionKey": "b"}]}))
    assert batch["FailedRecordCount"] == 0 and len(batch["Records"]) == 2
    assert _ok(_post(sqs_server, "DeleteStream", {"StreamName": name})) == {}


def test_indefinite_lengths_as_jackson_writes_them(sqs_server: BrokerServer) -> None:
    """Jackson's CBOR generator writes indefinite-length maps ("bf ... ff")."""
    name = unique_name("s")
    body = (b"\xbf" + cbor.dumps("StreamName") + cbor.dumps(name) + cbor.dumps("ShardCount")
            + cbor.dumps(1) + b"\xff")
    assert _ok(_post(sqs_server, "CreateStream", body)) == {}
    listed = _ok(_post(sqs_server, "ListStreams", b"\xbf\xff"))
    assert name in listed["StreamNames"]


def test_errors_over_cbor(sqs_server: BrokerServer) -> None:
    missing = unique_name("none")
    as_json = http_request(sqs_server.url, "POST", "/", b'{"StreamName": "%s"}' % missing.encode(),
                           {"Content-Type": "application/x-amz-json-1.1",
                            "X-Amz-Target": f"{TARGET}.DescribeStream"})
    message = _error(_post(sqs_server, "DescribeStream", {"StreamName": missing}),
                     as_json.status, "ResourceNotFoundException")  # the JSON error's status
    assert as_json.json() == {"__type": "ResourceNotFoundException", "message": message}
    assert missing in message
    assert "Malformed CBOR" in _error(_post(sqs_server, "PutRecord", b"\xa1\x64Data"), 400,
                                      "SerializationException")
    assert "reserved additional information" in _error(
        _post(sqs_server, "PutRecord", b"\x1c"), 400, "SerializationException")
    _error(_post(sqs_server, "PutRecord", {"StreamName": missing, "Data": 7}), 400,
           "SerializationException")
    _error(_post(sqs_server, "PutRecord", {"StreamName": missing}), 400, "MissingParameter")
    _error(_post(sqs_server, "NoSuchThing", {}), 400, "UnknownOperationException")


def test_json_unchanged(sqs_server: BrokerServer) -> None:
    reply = http_request(sqs_server.url, "POST", "/", b"{}", {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{TARGET}.ListStreams"})
    assert reply.status == 200 and reply.content_type == "application/x-amz-json-1.1"
    assert "StreamNames" in reply.json()
    wrong = http_request(sqs_server.url, "POST", "/", b"{}", {
        "Content-Type": "application/cbor", "X-Amz-Target": f"{TARGET}.ListStreams"})
    assert wrong.status == 400 and wrong.json()["__type"] == "SerializationException"


KEY, SECRET, ACCOUNT = "AKIDCBOR00000001", "cbor/Secret+Key00000000000000000000001", "333333333333"


@pytest.fixture(scope="module")
def auth_server(standalone_url: str) -> Iterator[BrokerServer]:
    store = CredentialStore([Credential(access_key_id=KEY, secret_access_key=SECRET,
                                        account_id=ACCOUNT)])
    with serving_in_thread(standalone_url, limits=TEST_LIMITS, credentials=store) as server:
        yield server


def test_sigv4_signed_cbor(auth_server: BrokerServer) -> None:
    """SigV4 covers the CBOR body as it covers JSON: signed requests pass, tampered fail."""
    name = unique_name("s")
    body = cbor.dumps({"StreamName": name, "ShardCount": 1})
    request = AWSRequest(method="POST", url=auth_server.url + "/", data=body, headers={
        "Content-Type": CBOR_CONTENT_TYPE, "X-Amz-Target": f"{TARGET}.CreateStream"})
    SigV4Auth(Credentials(KEY, SECRET), "kinesis", REGION).add_auth(request)
    headers = dict(request.prepare().headers)
    assert _ok(http_request(auth_server.url, "POST", "/", body, headers)) == {}
    _error(_post(auth_server, "ListStreams", {}), 403, "MissingAuthenticationToken")
    tampered = cbor.dumps({"StreamName": name + "x", "ShardCount": 1})
    _error(http_request(auth_server.url, "POST", "/", tampered, headers), 403,
           "SignatureDoesNotMatch")
