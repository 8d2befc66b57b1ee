"""The asyncio SDK."""

from broker.sdk.client import Client, Message, Queue, message

__all__ = ["Client", "Message", "Queue", "message"]
