"""MD5 digests exactly as SQS computes them (``MD5OfMessageBody``, ``MD5OfMessageAttributes``).

The AWS SDKs for Java, .NET and Kotlin verify these digests on every send and receive and
throw on a mismatch, so the byte layout here must match SQS's bit for bit.

Message-attribute digest (SQS developer guide, "Calculating the MD5 message digest for
message attributes"): sort the attributes by name, then for each append

1. the name: 4-byte big-endian length + UTF-8 bytes,
2. the full data type (custom suffix included, e.g. ``Number.int``): length + UTF-8 bytes,
3. one transport byte: 1 for String/Number, 2 for Binary,
4. the value: length + bytes (``StringValue`` as UTF-8, or ``BinaryValue`` as is),

and take the MD5 of the whole buffer. ``MD5OfMessageSystemAttributes`` uses the same layout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BINARY_TRANSPORT",
    "STRING_TRANSPORT",
    "md5_of_body",
    "md5_of_message_attributes",
    "md5_of_message_system_attributes",
]

# Transport byte SQS writes for String and Number attributes (values carried as strings).
STRING_TRANSPORT = 1
# Transport byte SQS writes for Binary attributes (values carried as raw bytes).
BINARY_TRANSPORT = 2
# Width in bytes of each big-endian length prefix in the attribute buffer.
LENGTH_PREFIX_BYTES = 4


def md5_of_body(body: str) -> str:
    """Return the hex MD5 of ``body`` encoded as UTF-8 (SQS's ``MD5OfMessageBody``).

    The body must already be valid (no lone surrogates); see ``validation.validate_body``.
    """
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def _sort_key(name: str) -> bytes:
    """Order names by UTF-16 code units, as SQS's Java ``String.compareTo`` does."""
    return name.encode("utf-16-be", "surrogatepass")


def _prefixed(data: bytes) -> bytes:
    """Return ``data`` preceded by its 4-byte big-endian length."""
    return len(data).to_bytes(LENGTH_PREFIX_BYTES, "big") + data


def _is_binary(data_type: str) -> bool:
    """Tell whether a (possibly custom-suffixed) data type has the Binary base type."""
    return data_type.split(".", 1)[0] == "Binary"


def _value_bytes(value: Mapping[str, Any], binary: bool) -> bytes:
    """Return the bytes of an attribute's value: ``BinaryValue`` or UTF-8 ``StringValue``."""
    if binary:
        return bytes(value["BinaryValue"])
    string_value: str = value["StringValue"]
    return string_value.encode("utf-8")


def _encode_attribute(name: str, value: Mapping[str, Any]) -> bytes:
    """Return one attribute's slice of the digest buffer."""
    data_type: str = value["DataType"]
    binary = _is_binary(data_type)
    transport = BINARY_TRANSPORT if binary else STRING_TRANSPORT
    return b"".join(
        (
            _prefixed(name.encode("utf-8")),
            _prefixed(data_type.encode("utf-8")),
            bytes((transport,)),
            _prefixed(_value_bytes(value, binary)),
        )
    )


def md5_of_message_attributes(attrs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Return SQS's ``MD5OfMessageAttributes`` for boto3-shaped attributes, or ``None`` if empty.

    Each value is ``{"DataType": "String", "StringValue": "x"}`` (also ``Number``) or
    ``{"DataType": "Binary", "BinaryValue": b"..."}``; custom suffixes such as
    ``Number.int`` are hashed in full. Attributes must already be validated.
    """
    if not attrs:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attrs, key=_sort_key):
        digest.update(_encode_attribute(name, attrs[name]))
    return digest.hexdigest()


def md5_of_message_system_attributes(attrs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Return SQS's ``MD5OfMessageSystemAttributes`` (same layout as message attributes)."""
    return md5_of_message_attributes(attrs)
