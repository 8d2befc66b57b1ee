"""Encoding of what the engine stores per message, and of receipt handles.

The Lua scripts see a message record as a msgpack array (layout in keys.py); fields the
scripts never read (message attributes, sender id, trace header) travel as one opaque
msgpack blob, ``extra``, so the scripts never unpack them. The message id and the MD5 of
the body are stored as 16 raw bytes each (the body's MD5 is computed once, at send, not on
every receive); records written before that (36-character id, no MD5) still decode.
"""

from __future__ import annotations

import binascii
import hashlib
import os
from typing import Any, NamedTuple

import msgpack

from broker import errors
from broker.types import MessageAttributes, QueueRef

HANDLE_VERSION = "1"


def member(seq: int) -> str:
    """A message number as the scripts store it (see ``member`` in _prelude.lua)."""
    return f"{seq:012d}"


def as_text(value: bytes | str) -> str:
    """Redis replies are bytes; redis-py's types also allow str."""
    return value.decode() if isinstance(value, bytes) else value


class Record(NamedTuple):
    """A stored message, decoded (a tuple: cheap to build once per received message)."""

    message_id: str
    body: str
    sent_ms: int
    receive_count: int
    first_receive_ms: int
    message_attributes: MessageAttributes
    sender_id: str
    trace_header: str | None
    dlq_source_arn: str
    md5_of_body: str
    group_id: str = ""
    """MessageGroupId ('' none)."""
    deduplication_id: str = ""
    """MessageDeduplicationId, given or content-based (FIFO; '' none)."""


def new_message_ids(n: int) -> list[tuple[bytes, str]]:
    """``n`` random (version 4) UUIDs as (16 raw bytes, canonical text), from one
    ``os.urandom`` call (``uuid.uuid4()`` makes one system call per id)."""
    raw = bytearray(os.urandom(16 * n))
    for i in range(0, 16 * n, 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40  # version 4
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    out = []
    for i in range(n):
        h = text[32 * i: 32 * i + 32]
        out.append((bytes(raw[16 * i: 16 * i + 16]),
                    f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"))
    return out


def uuid_text(raw: bytes) -> str:
    """The canonical text of a 16-byte UUID."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def pack_extra(attrs: MessageAttributes, sender_id: str, trace_header: str | None) -> bytes:
    """The opaque part of a record: attributes as (type, value) pairs, sender, trace."""
    if not attrs and trace_header is None:
        plain = _PLAIN_EXTRA.get(sender_id)
        if plain is None:
            if len(_PLAIN_EXTRA) >= _CACHE_MAX:
                _PLAIN_EXTRA.clear()
            plain = _PLAIN_EXTRA[sender_id] = msgpack.packb({"s": sender_id})
        return plain
    extra: dict[str, Any] = {"s": sender_id}
    if attrs:
        extra["a"] = {
            name: [v["DataType"], v.get("StringValue", v.get("BinaryValue"))]
            for name, v in attrs.items()
        }
    if trace_header is not None:
        extra["t"] = trace_header
    return msgpack.packb(extra)  # type: ignore[no-any-return]


def _attr_value(data_type: str, value: Any) -> dict[str, Any]:
    if data_type.startswith("Binary"):
        return {"DataType": data_type, "BinaryValue": bytes(value)}
    text = value.decode() if isinstance(value, bytes) else value
    return {"DataType": data_type, "StringValue": text}


#: most entries kept by each of the small decode/encode caches below
_CACHE_MAX = 1024
#: sender id -> packed ``extra`` of a message without attributes or trace header
_PLAIN_EXTRA: dict[str, bytes] = {}
#: packed ``extra`` without attributes -> (sender id, trace header)
_EXTRA_DECODED: dict[bytes, tuple[str, str | None]] = {}


def _unpack_extra(blob: bytes) -> tuple[MessageAttributes, str, str | None]:
    """(attributes, sender id, trace header) of a packed ``extra``."""
    hit = _EXTRA_DECODED.get(blob)
    if hit is not None:
        return {}, hit[0], hit[1]
    extra = msgpack.unpackb(blob, raw=False) if blob else {}
    sender, trace = extra.get("s", ""), extra.get("t")
    if "a" not in extra:
        # Without attributes the decoded value is immutable: cache it (the attribute
        # dicts are handed to callers, so those are always built fresh).
        if len(_EXTRA_DECODED) >= _CACHE_MAX:
            _EXTRA_DECODED.clear()
        _EXTRA_DECODED[blob] = (sender, trace)
        return {}, sender, trace
    attrs = {name: _attr_value(t, v) for name, (t, v) in extra["a"].items()}
    return attrs, sender, trace


def unpack_record(raw: bytes) -> Record:
    """Decode a record returned by a script."""
    fields = msgpack.unpackb(raw, raw=True)
    mid, body = fields[0], fields[1]
    attrs, sender, trace = _unpack_extra(fields[5])
    n = len(fields)
    digest = fields[8] if n > 8 else b""
    return Record(
        uuid_text(mid) if len(mid) == 16 else mid.decode(),
        body.decode(),
        int(fields[2]),
        int(fields[3]),
        int(fields[4]),
        attrs,
        sender,
        trace,
        fields[7].decode() if n > 7 else "",
        digest.hex() if digest else hashlib.md5(body, usedforsecurity=False).hexdigest(),
        fields[9].decode() if n > 9 else "",
        fields[10].decode() if n > 10 else "",
    )


#: base64 <-> its URL-safe alphabet (what ``base64.urlsafe_b64*`` do, minus two calls)
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def encode_handle(queue: QueueRef, seq: int, receive_count: int) -> str:
    """A receipt handle names the queue, the message and which receive issued it."""
    text = f"{HANDLE_VERSION}\n{queue.account}\n{queue.name}\n{seq}\n{receive_count}"
    return binascii.b2a_base64(text.encode(), newline=False).translate(_TO_URLSAFE).decode()


def _invalid_handle(handle: str) -> errors.ReceiptHandleIsInvalid:
    return errors.ReceiptHandleIsInvalid(
        f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )


def decode_handle(queue: QueueRef, handle: str) -> tuple[int, int]:
    """Return (message number, receive count); ReceiptHandleIsInvalid when the handle is
    not one of ours or belongs to another queue."""
    try:
        parts = binascii.a2b_base64(handle.encode().translate(_FROM_URLSAFE)).decode() \
            .split("\n")
    except (binascii.Error, UnicodeError, ValueError):
        raise _invalid_handle(handle) from None
    if len(parts) != 5 or parts[0] != HANDLE_VERSION:
        raise _invalid_handle(handle)
    if parts[1] != queue.account or parts[2] != queue.name:
        raise _invalid_handle(handle)
    try:
        seq, count = int(parts[3]), int(parts[4])
    except ValueError:
        raise _invalid_handle(handle) from None
    if seq < 1 or count < 1:
        raise _invalid_handle(handle)
    return seq, count
