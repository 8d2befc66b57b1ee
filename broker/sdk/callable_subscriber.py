"""In-process topic subscribers: a Python callable as a topic's subscriber, the local
stand-in for a Lambda subscription.

``Topic.subscribe_callable(handler)`` subscribes a queue of its own to the topic and
runs a consumer task in this process that calls ``handler`` with each message's SNS
envelope (the ``Sns`` part of a Lambda event: ``Type``, ``MessageId``, ``TopicArn``,
``Subject``, ``Message``, ``Timestamp``, ``MessageAttributes``). Delivery is as durable
as the queue: messages published while no consumer runs wait in it. A handler that
returns deletes the message; one that raises leaves it to come back after the visibility
timeout (and, with ``max_receive_count``, to move to the queue's dead-letter queue after
that many tries). Plain functions run in a worker thread; ``async def`` handlers on the
event loop. The ``Client`` owns the consumers: closing it stops them.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Any]
#: how long one receive waits for messages (bounds how late a stop is noticed)
POLL_S = 1


def queue_name(topic_name: str, name: str) -> str:
    """The queue a callable subscriber ``name`` of a topic reads (FIFO for FIFO topics)."""
    fifo = topic_name.endswith(".fifo")
    base = re.sub(r"[^A-Za-z0-9_-]", "-", f"{topic_name.removesuffix('.fifo')}-{name}")
    return base[:75] + ".fifo" if fifo else base[:80]


class CallableSubscriber:
    """One running consumer; ``await stop()`` ends it (the subscription stays)."""

    def __init__(self, arn: str, queue: Any, handler: Handler) -> None:
        self.arn = arn
        """The subscription's ARN."""
        self.queue = queue
        """The ``Queue`` it reads."""
        self._handler = handler
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._consume())
        self.handled = 0
        self.failed = 0

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = await self.queue.receive(10, wait_time_s=POLL_S,
                                                    attribute_names=(),
                                                    message_attribute_names=())
            except Exception:
                log.warning("callable subscriber %s: receive failed", self.arn,
                            exc_info=True)
                await asyncio.sleep(POLL_S)
                continue
            done = []
            for m in messages:
                if await self._call(json.loads(m.body)):
                    done.append(m.receipt_handle)
            if done:
                await self.queue.delete_batch(done)

    async def _call(self, envelope: dict[str, Any]) -> bool:
        try:
            if inspect.iscoroutinefunction(self._handler):
                await self._handler(envelope)
            else:
                result = await asyncio.to_thread(self._handler, envelope)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            self.failed += 1
            log.warning("callable subscriber %s: handler failed on message %s", self.arn,
                        envelope.get("MessageId"), exc_info=True)
            return False
        self.handled += 1
        return True
