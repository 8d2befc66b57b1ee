"""Encoding of what the engine stores per message, and of receipt handles.

The Lua scripts see a message record as a msgpack array (layout in keys.py); fields the
scripts never read (message attributes, their MD5, sender id, trace header) travel as one
opaque msgpack blob, ``extra``, so the scripts never unpack them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Record:
    """A stored message, decoded."""

    message_id: str
    body: str
    sent_ms: int
    receive_count: int
    first_receive_ms: int
    message_attributes: MessageAttributes
    sender_id: str
    trace_header: str | None
    dlq_source_arn: str


def pack_extra(attrs: MessageAttributes, sender_id: str, trace_header: str | None) -> bytes:
    """The opaque part of a record: attributes as (type, value) pairs, sender, trace."""
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


def unpack_record(raw: bytes) -> Record:
    """Decode a record returned by a script."""
    fields = msgpack.unpackb(raw, raw=True)
    extra = msgpack.unpackb(fields[5], raw=False) if fields[5] else {}
    attrs = {name: _attr_value(t, v) for name, (t, v) in extra.get("a", {}).items()}
    return Record(
        message_id=fields[0].decode(),
        body=fields[1].decode(),
        sent_ms=int(fields[2]),
        receive_count=int(fields[3]),
        first_receive_ms=int(fields[4]),
        message_attributes=attrs,
        sender_id=extra.get("s", ""),
        trace_header=extra.get("t"),
        dlq_source_arn=fields[7].decode() if len(fields) > 7 else "",
    )


def encode_handle(queue: QueueRef, seq: int, receive_count: int) -> str:
    """A receipt handle names the queue, the message and which receive issued it."""
    text = f"{HANDLE_VERSION}\n{queue.account}\n{queue.name}\n{seq}\n{receive_count}"
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_handle(queue: QueueRef, handle: str) -> tuple[int, int]:
    """Return (message number, receive count); ReceiptHandleIsInvalid when the handle is
    not one of ours or belongs to another queue."""
    invalid = errors.ReceiptHandleIsInvalid(
        f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )
    try:
        parts = base64.urlsafe_b64decode(handle.encode()).decode().split("\n")
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid from None
    if len(parts) != 5 or parts[0] != HANDLE_VERSION:
        raise invalid
    if (parts[1], parts[2]) != (queue.account, queue.name):
        raise invalid
    try:
        seq, count = int(parts[3]), int(parts[4])
    except ValueError:
        raise invalid from None
    if seq < 1 or count < 1:
        raise invalid
    return seq, count
