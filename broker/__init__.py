"""Redcurrent: SQS, SNS and Kinesis semantics on a Redis you run yourself.

``from broker import Client`` is the SDK's entry point.
"""

from broker import errors
from broker.engine.clock import ManualClock
from broker.engine.queues import SendEntry
from broker.engine.settings import Limits
from broker.engine.sns_signing import verify as verify_sns_message
from broker.sdk import Client, Message, Queue, message
from broker.sdk.stream import Stream, record
from broker.sdk.topic import Topic, publication
from broker.types import (
    BatchResult,
    BatchResultError,
    BatchSendResult,
    QueueRef,
    ReceivedMessage,
    SendResult,
)

__all__ = [
    "Stream",
    "record",
    "BatchResult",
    "BatchResultError",
    "BatchSendResult",
    "Client",
    "Limits",
    "ManualClock",
    "Message",
    "Queue",
    "QueueRef",
    "ReceivedMessage",
    "SendEntry",
    "SendResult",
    "Topic",
    "errors",
    "message",
    "publication",
    "verify_sns_message",
]
