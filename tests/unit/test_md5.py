"""MD5OfMessageBody / MD5OfMessageAttributes must match SQS byte for byte."""

from __future__ import annotations

import hashlib
from typing import Any

from broker.engine.md5 import (
    md5_of_body,
    md5_of_message_attributes,
    md5_of_message_system_attributes,
)


def _hex(buffer: bytes) -> str:
    return hashlib.md5(buffer, usedforsecurity=False).hexdigest()


def test_md5_of_body_is_md5_of_utf8() -> None:
    assert md5_of_body("hello") == "5d41402abc4b2a76b9719d911017c592"
    assert md5_of_body("héllo 😀") == _hex("héllo 😀".encode())


def test_empty_attributes_have_no_digest() -> None:
    assert md5_of_message_attributes({}) is None


def test_single_string_attribute_matches_hand_built_buffer() -> None:
    attrs = {"attr1": {"DataType": "String", "StringValue": "value1"}}
    buffer = (
        b"\x00\x00\x00\x05attr1"  # name length + name
        b"\x00\x00\x00\x06String"  # type length + type
        b"\x01"  # transport: string
        b"\x00\x00\x00\x06value1"  # value length + value
    )
    assert md5_of_message_attributes(attrs) == _hex(buffer)
    assert md5_of_message_attributes(attrs) == "3bc3f392bdd1097ba0b434f65d468d2e"


def test_binary_attribute_matches_hand_built_buffer() -> None:
    attrs = {"blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff\x10"}}
    buffer = b"\x00\x00\x00\x04blob\x00\x00\x00\x06Binary\x02\x00\x00\x00\x03\x00\xff\x10"
    assert md5_of_message_attributes(attrs) == _hex(buffer)


def test_custom_type_hashes_full_type_and_transport_of_base() -> None:
    attrs: dict[str, dict[str, Any]] = {
        "n": {"DataType": "Number.int", "StringValue": "42"},
        "img": {"DataType": "Binary.gif", "BinaryValue": b"GIF"},
    }
    buffer = (
        b"\x00\x00\x00\x03img\x00\x00\x00\x0aBinary.gif\x02\x00\x00\x00\x03GIF"
        b"\x00\x00\x00\x01n\x00\x00\x00\x0aNumber.int\x01\x00\x00\x00\x0242"
    )
    assert md5_of_message_attributes(attrs) == _hex(buffer)


def test_attributes_are_sorted_by_name_and_values_are_utf8() -> None:
    attrs = {
        "b": {"DataType": "String", "StringValue": "é"},
        "a": {"DataType": "String", "StringValue": "x"},
    }
    buffer = (
        b"\x00\x00\x00\x01a\x00\x00\x00\x06String\x01\x00\x00\x00\x01x"
        b"\x00\x00\x00\x01b\x00\x00\x00\x06String\x01\x00\x00\x00\x02\xc3\xa9"
    )
    assert md5_of_message_attributes(attrs) == _hex(buffer)


# Digests published with AWS's own samples and reproduced by other SQS implementations.
_KNOWN_VECTORS: list[tuple[dict[str, Any], str]] = [
    (
        {
            "test_attribute_name_2": {
                "DataType": "String",
                "StringValue": "test_attribute_value_2",
            },
            "test_attribute_name_1": {
                "DataType": "String",
                "StringValue": "test_attribute_value_1",
            },
        },
        "d53f3b558fe951154770f25cb63dbba9",
    ),
    (
        {"test_attribute_name": {"DataType": "Binary", "BinaryValue": b"test_attribute_value"}},
        "23f6bd27ea87aab7dfeadcc9aebee495",
    ),
    (
        {"timestamp": {"DataType": "Number", "StringValue": "1493147359900"}},
        "235c5c510d26fb653d073faed50ae77c",
    ),
    (
        {
            "City": {"DataType": "String", "StringValue": "Any City"},
            "PostalCode": {"DataType": "String", "StringValue": "99065"},
            "PricePerGallon": {"DataType": "Number", "StringValue": "1.99"},
            "Region": {"DataType": "String", "StringValue": "WA"},
            "SellerName": {"DataType": "String", "StringValue": "Example Store"},
        },
        "10809b55e3d9b22c17220b7dbaf283ef",
    ),
]


def test_known_vectors() -> None:
    for attrs, expected in _KNOWN_VECTORS:
        assert md5_of_message_attributes(attrs) == expected


def test_system_attributes_use_the_same_layout() -> None:
    attrs = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}}
    assert md5_of_message_system_attributes(attrs) == md5_of_message_attributes(attrs)
    assert md5_of_message_system_attributes({}) is None
