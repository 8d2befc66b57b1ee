"""Frozen value types shared by the engine, the SDK and the server.

Message attributes keep boto3's shape (``{"DataType": "String", "StringValue": "x"}`` or
``{"DataType": "Binary", "BinaryValue": b"..."}``) so they pass between boto3, the wire and
the SDK unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MessageAttributes = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class QueueRef:
    """Identifies one queue: the account that owns it and its name."""

    account: str
    """12-digit AWS-style account id."""
    name: str
    """Queue name, 1-80 characters (``.fifo`` suffix for FIFO queues)."""

    @classmethod
    def from_url(cls, url: str) -> QueueRef | None:
        """The queue a queue URL (``http://host:port/<account>/<name>``) names; None when
        the path is not exactly two segments."""
        parts = [p for p in urlsplit(url).path.split("/") if p]
        return cls(parts[0], parts[1]) if len(parts) == 2 else None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What SendMessage answers for one message."""

    message_id: str
    """The new message's id (a UUID)."""
    md5_of_body: str
    """Hex MD5 of the UTF-8 body."""
    md5_of_message_attributes: str | None = None
    """Hex MD5 of the message attributes, as SQS computes it (None without attributes)."""
    md5_of_message_system_attributes: str | None = None
    """Hex MD5 of the system attributes sent (AWSTraceHeader), None without."""
    sequence_number: str | None = None
    """FIFO queues only."""


@dataclass(frozen=True, slots=True)
class BatchResultError:
    """One failed entry of a batch request."""

    id: str
    """The entry's Id as the caller gave it."""
    code: str
    """The AWS error code."""
    message: str
    """What was wrong."""
    sender_fault: bool = True
    """True when the entry itself was at fault."""


@dataclass(frozen=True, slots=True)
class BatchSendResult:
    """What SendMessageBatch answers: per-entry success or failure."""

    successful: dict[str, SendResult] = field(default_factory=dict)
    """Entry Id -> result, for the entries stored."""
    failed: list[BatchResultError] = field(default_factory=list)
    """The entries not stored, with why."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What DeleteMessageBatch / ChangeMessageVisibilityBatch answer."""

    successful: list[str] = field(default_factory=list)
    """Ids of the entries that succeeded."""
    failed: list[BatchResultError] = field(default_factory=list)
    """The entries that failed, with why."""


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as ReceiveMessage returns it."""

    message_id: str
    """The id SendMessage returned."""
    receipt_handle: str
    """Opaque handle for DeleteMessage/ChangeMessageVisibility; new on every receive."""
    body: str
    """The message body."""
    md5_of_body: str
    """Hex MD5 of the UTF-8 body."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Selected system attributes (SentTimestamp, ApproximateReceiveCount, ...)."""
    message_attributes: MessageAttributes = field(default_factory=dict)
    """Selected message attributes, in boto3's shape."""
    md5_of_message_attributes: str | None = None
    """Hex MD5 of the returned message attributes (None when none are returned)."""


@dataclass(frozen=True, slots=True)
class MoveTask:
    """One message move task (DLQ redrive), as ListMessageMoveTasks reports it."""

    task_handle: str | None
    """Only while the task is RUNNING."""
    status: str
    """RUNNING, CANCELLING, CANCELLED, COMPLETED or FAILED."""
    source_arn: str
    destination_arn: str | None
    max_messages_per_second: int | None
    moved: int
    to_move: int
    started_ms: int
    failure_reason: str | None
