"""SQS/SNS/Kinesis semantics on Redis. Nothing above this package touches Redis."""

from broker.engine.clock import Clock, ManualClock, SystemClock
from broker.engine.engine import Engine
from broker.engine.queues import SendEntry
from broker.engine.settings import Identity, Limits

__all__ = ["Clock", "Engine", "Identity", "Limits", "ManualClock", "SendEntry", "SystemClock"]
