"""Group commit for SendMessage: concurrent sends to one queue share one Redis call.

Each HTTP SendMessage would otherwise cost one script call (and one Redis round trip) per
message. Sends that arrive for the same queue while the event loop is busy are gathered
and stored with one ``send_batch`` call of up to 10 messages; each caller still gets its
own result or its own error (the exact error a lone ``send`` raises: batch entries fail
with the same code and message). Nothing waits for a batch to fill: a batch is flushed
at the end of the loop iteration in which its first send arrived, so an idle server adds
no latency. Under load it is group commit: while ``MAX_IN_FLIGHT`` calls for a queue are
running, new sends gather (up to 10) and go as soon as one of them returns.

Atomicity is unchanged: each message is stored exactly once or not at all, and a batch
is one atomic script call on the queue.
"""

from __future__ import annotations

import asyncio

from broker import errors
from broker.engine.queues import Queues, SendEntry
from broker.engine.validation import MAX_MESSAGE_SIZE
from broker.types import QueueRef, SendResult

#: SendMessageBatch's entry limit
MAX_BATCH = 10
#: script calls per (queue, sender) running at once before sends wait to be batched
MAX_IN_FLIGHT = 2

_Key = tuple[QueueRef, str]
_IDS = [str(i) for i in range(MAX_BATCH)]


class _Pending:
    __slots__ = ("bytes", "entries", "futures")

    def __init__(self) -> None:
        self.entries: list[SendEntry] = []
        self.futures: list[asyncio.Future[SendResult]] = []
        self.bytes = 0


class SendCoalescer:
    """Batches concurrent ``send`` calls per (queue, sender); owns its flush tasks."""

    def __init__(self, queues: Queues) -> None:
        self._queues = queues
        self._pending: dict[_Key, _Pending] = {}
        self._in_flight: dict[_Key, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, queue: QueueRef, entry: SendEntry, sender_id: str) -> SendResult:
        loop = asyncio.get_running_loop()
        key = (queue, sender_id)
        size = len(entry.body) if entry.body.isascii() else len(entry.body.encode())
        batch = self._pending.get(key)
        if batch is not None and batch.bytes + size > MAX_MESSAGE_SIZE:
            self._flush(key)
            batch = None
        if batch is None:
            batch = self._pending[key] = _Pending()
            loop.call_soon(self._flush_if_current, key, batch)
        future: asyncio.Future[SendResult] = loop.create_future()
        batch.entries.append(entry)
        batch.futures.append(future)
        batch.bytes += size
        if len(batch.entries) >= MAX_BATCH:
            self._flush(key)
        return await future

    async def close(self) -> None:
        """Wait for the batches already flushed (new sends must have stopped)."""
        for key in list(self._pending):
            self._flush(key)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _flush_if_current(self, key: _Key, batch: _Pending) -> None:
        if self._pending.get(key) is batch and self._in_flight.get(key, 0) < MAX_IN_FLIGHT:
            self._flush(key)

    def _flush(self, key: _Key) -> None:
        batch = self._pending.pop(key, None)
        if batch is None:
            return
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        task = asyncio.get_running_loop().create_task(self._store(key, batch))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(key, t))

    def _done(self, key: _Key, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        left = self._in_flight[key] - 1
        if left:
            self._in_flight[key] = left
        else:
            del self._in_flight[key]
        if key in self._pending:  # sends gathered while the calls ran
            self._flush(key)

    async def _store(self, key: _Key, batch: _Pending) -> None:
        queue, sender_id = key
        try:
            if len(batch.entries) == 1:
                _settle(batch.futures[0], await self._lone(queue, batch.entries[0], sender_id))
                return
            entries = [SendEntry(e.body, _IDS[i], e.delay_seconds, e.message_attributes,
                                 e.system_attributes, e.group_id, e.deduplication_id)
                       for i, e in enumerate(batch.entries)]
            try:
                result = await self._queues.send_batch(queue, entries, sender_id=sender_id)
            except errors.BatchRequestTooLong:  # our size estimate was short: one by one
                for entry, future in zip(batch.entries, batch.futures, strict=True):
                    _settle(future, await self._lone(queue, entry, sender_id))
                return
            for failure in result.failed:
                _settle(batch.futures[int(failure.id)],
                        errors.from_code(failure.code, failure.message))
            for entry_id, sent in result.successful.items():
                _settle(batch.futures[int(entry_id)], sent)
        except BaseException as exc:
            for future in batch.futures:
                _settle(future, exc)
            if not isinstance(exc, Exception):
                raise

    async def _lone(self, queue: QueueRef, entry: SendEntry, sender_id: str
                    ) -> SendResult | BaseException:
        try:
            return await self._queues.send(queue, entry, sender_id=sender_id)
        except errors.BrokerError as exc:
            return exc


def _settle(future: asyncio.Future[SendResult], outcome: SendResult | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
