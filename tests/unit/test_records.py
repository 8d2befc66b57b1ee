"""Message records and receipt handles (pure Python; the scripts' side is exercised by
the SDK suite)."""

from __future__ import annotations

import hashlib
import uuid

import msgpack
import pytest

from broker import errors
from broker.engine.records import (
    decode_handle,
    encode_handle,
    new_message_ids,
    pack_extra,
    unpack_record,
)
from broker.types import QueueRef

Q = QueueRef("000000000000", "orders")


def test_new_message_ids_are_version_4_uuids() -> None:
    ids = new_message_ids(10) + new_message_ids(1)
    assert len({text for _, text in ids}) == 11
    for raw, text in ids:
        u = uuid.UUID(text)
        assert (str(u), u.bytes, u.version, u.variant) == (text, raw, 4, uuid.RFC_4122)


def _record(mid: bytes, *fields: object) -> bytes:
    # As Redis' cmsgpack writes it: strings without the bin types.
    return msgpack.packb([mid, *fields], use_bin_type=False)  # type: ignore[no-any-return]


def test_record_with_raw_id_and_stored_body_md5() -> None:
    raw, text = new_message_ids(1)[0]
    digest = hashlib.md5(b"hello").digest()
    rec = unpack_record(_record(raw, b"hello", 1000, 2, 1500, pack_extra({}, "123", None),
                                1600, b"", digest))
    assert (rec.message_id, rec.body, rec.sent_ms, rec.receive_count) == (text, "hello", 1000, 2)
    assert (rec.first_receive_ms, rec.sender_id, rec.trace_header) == (1500, "123", None)
    assert rec.md5_of_body == digest.hex() and rec.dlq_source_arn == ""


def test_record_written_by_an_older_version_still_decodes() -> None:
    """36-character text id and no stored MD5: the MD5 is computed from the body."""
    text = str(uuid.uuid4())
    extra = pack_extra({"k": {"DataType": "String", "StringValue": "v"}}, "123", "t")
    rec = unpack_record(_record(text.encode(), "héllo".encode(), 1000, 1, 1000, extra, 1000,
                                b"arn:aws:sqs:us-east-1:000000000000:src"))
    assert rec.message_id == text and rec.body == "héllo"
    assert rec.md5_of_body == hashlib.md5("héllo".encode()).hexdigest()
    assert rec.message_attributes == {"k": {"DataType": "String", "StringValue": "v"}}
    assert (rec.trace_header, rec.dlq_source_arn) == ("t", "arn:aws:sqs:us-east-1:000000000000:src")


def test_decoded_attributes_are_never_shared_between_records() -> None:
    raw, _ = new_message_ids(1)[0]
    extra = pack_extra({"k": {"DataType": "Binary", "BinaryValue": b"\x00"}}, "123", None)
    packed = _record(raw, b"x", 1, 1, 1, extra, 1, b"")
    first = unpack_record(packed)
    first.message_attributes["k"]["BinaryValue"] = b"changed"
    assert unpack_record(packed).message_attributes["k"]["BinaryValue"] == b"\x00"
    plain = _record(raw, b"x", 1, 1, 1, pack_extra({}, "123", None), 1, b"")
    unpack_record(plain).message_attributes["new"] = {}
    assert unpack_record(plain).message_attributes == {}


def test_receipt_handles_round_trip_and_reject_others() -> None:
    handle = encode_handle(Q, 123456789012, 7)
    assert "+" not in handle and "/" not in handle
    assert decode_handle(Q, handle) == (123456789012, 7)
    for bad in ("", "junk", "é", encode_handle(QueueRef("000000000000", "other"), 1, 1),
                encode_handle(Q, 1, 0), handle[:-4]):
        with pytest.raises(errors.ReceiptHandleIsInvalid):
            decode_handle(Q, bad)
