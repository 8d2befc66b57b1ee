"""Runs one queue handler: receives, dispatches within the concurrency limit, keeps the
messages in hand invisible (heartbeat), deletes what succeeded (in batches), retries
what failed (ChangeMessageVisibility with backoff), and keeps FIFO groups in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from broker import errors
from broker.engine.idempotency import Claim, Idempotency
from broker.sdk import Client, Message, Queue
from workers.app import QueueHandler
from workers.calling import HandlerCall
from workers.middleware import Chain, HandlerContext
from workers.notification import Notification

log = logging.getLogger("workers")

#: long-poll wait of one receive: also the longest a stop waits for a receive to return
WAIT_S = 2
#: pause after a receive failed (Redis or the broker unreachable)
ERROR_PAUSE_S = 1.0


class Deleter:
    """Deletes handled messages in batches of up to 10 (DeleteMessageBatch): a full batch
    goes at once, a partial one after 5 ms; several batches may be in flight."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def add(self, receipt_handle: str) -> None:
        self._pending.append(receipt_handle)
        if len(self._pending) >= 10:
            self._send()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(0.005, self._send)

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            batch, self._pending = self._pending[:10], self._pending[10:]
            task = asyncio.create_task(self._delete(batch))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _delete(self, batch: list[str]) -> None:
        try:
            result = await self._queue.delete_batch(batch)
        except Exception:
            log.exception("deleting %d messages of %s failed; they come back after their "
                          "visibility timeout", len(batch), self._queue.name)
            return
        for f in result.failed:
            log.warning("deleting a message of %s failed: %s", self._queue.name, f.message)

    async def close(self) -> None:
        self._send()
        if self._calls:
            await asyncio.wait(set(self._calls))


class Heartbeat:
    """Extends the visibility of every message in hand every third of the timeout, so a
    handler may run for hours; when the worker dies, its messages come back after one
    visibility timeout."""

    def __init__(self, queue: Queue, visibility_timeout_s: int) -> None:
        self._queue = queue
        self._vt = visibility_timeout_s
        self.held: dict[str, Message] = {}
        """receipt handle -> message, for every message received and not yet settled"""

    @property
    def interval_s(self) -> float:
        return max(0.5, self._vt / 3)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            handles = list(self.held)
            for i in range(0, len(handles), 10):
                chunk = [(h, self._vt) for h in handles[i:i + 10] if h in self.held]
                if not chunk:
                    continue
                try:
                    result = await self._queue.change_visibility_batch(chunk)
                except Exception:
                    log.exception("extending the visibility of %d messages of %s failed",
                                  len(chunk), self._queue.name)
                    continue
                for f in result.failed:
                    log.warning("a message of %s could not be kept invisible (%s): it may be "
                                "delivered again", self._queue.name, f.message)


class QueueRunner:
    def __init__(self, client: Client, spec: QueueHandler, chain: Chain, worker_id: str,
                 pool: ThreadPoolExecutor, concurrency: int | None = None,
                 on_waiting: Callable[[str, int], None] | None = None) -> None:
        self.spec = spec
        self._client = client
        self._chain = chain
        self._worker_id = worker_id
        self.concurrency = concurrency or spec.concurrency
        self._on_waiting = on_waiting
        self._queue = client.queue(spec.queue)
        self._vt = spec.visibility_timeout_s or 30
        self._max_receive: int | None = None
        self._dlq: Queue | None = None
        self._fifo = spec.queue.endswith(".fifo")
        self._heartbeat = Heartbeat(self._queue, self._vt)
        self._deleter = Deleter(self._queue)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reserved = 0
        """slots of receives in flight"""
        self._beat: asyncio.Task[None] | None = None
        self._freed = asyncio.Event()
        self._idem: Idempotency | None = client.idempotency() \
            if spec.idempotency_key is not None else None
        self._call = HandlerCall(spec.func, pool)

    @property
    def holding(self) -> int:
        return len(self._heartbeat.held)

    async def prepare(self) -> None:
        """Read the queue's settings (QueueDoesNotExist when it is missing); for topic
        handlers, create the topic, the queue and the subscription first."""
        if self.spec.topic is not None:
            await self._bind_topic()
        elif self.spec.create:
            self._queue = await self._client.create_queue(self.spec.queue)
            self._deleter = Deleter(self._queue)
        attrs = await self._queue.attributes(["VisibilityTimeout", "RedrivePolicy"])
        self._vt = self.spec.visibility_timeout_s or int(attrs.get("VisibilityTimeout", 30))
        self._heartbeat = Heartbeat(self._queue, self._vt)
        if attrs.get("RedrivePolicy"):
            policy = json.loads(attrs["RedrivePolicy"])
            self._max_receive = int(policy["maxReceiveCount"])
            self._dlq = self._client.queue(str(policy["deadLetterTargetArn"]).split(":")[-1])

    async def _bind_topic(self) -> None:
        binding = self.spec.topic
        assert binding is not None
        topic = await self._client.create_topic(binding.topic)
        fifo = self._fifo
        queue = await self._client.create_queue(
            self.spec.queue, content_based_deduplication=True if fifo else None)
        self._queue = queue
        self._deleter = Deleter(queue)
        await topic.subscribe_queue(queue, raw=binding.raw, filter_policy=binding.filter_policy,
                                    filter_scope=binding.filter_scope)

    # -- receiving -----------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Receive and dispatch until ``stopping`` is set. Several receives may be in
        flight (one per 16 handlers, up to 4), so round trips overlap."""
        # the heartbeat runs until drain() has let the last handler finish
        self._beat = asyncio.create_task(self._heartbeat.run(),
                                         name=f"heartbeat-{self.spec.queue}")
        waiting = asyncio.create_task(self._report_waiting()) if self._on_waiting else None
        receivers = max(1, min(4, self.concurrency // 16))
        try:
            await asyncio.gather(*(self._receive_loop(stopping) for _ in range(receivers)))
        finally:
            if waiting is not None:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting

    async def _receive_loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            free = self.concurrency - self.holding - self._reserved
            if free <= 0:
                self._freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._freed.wait(), 1.0)
                continue
            n = min(10, free, self.spec.batch_size or 10)
            self._reserved += n
            try:
                msgs = await self._queue.receive(n, wait_time_s=WAIT_S,
                                                 visibility_timeout_s=self._vt)
            except errors.QueueDoesNotExist:
                log.error("queue %s does not exist; retrying in 10 s", self.spec.queue)
                await _pause(stopping, 10.0)
                continue
            except Exception:
                log.exception("receiving from %s failed; retrying", self.spec.queue)
                await _pause(stopping, ERROR_PAUSE_S)
                continue
            finally:
                self._reserved -= n
            for m in msgs:
                self._heartbeat.held[m.receipt_handle] = m
            if stopping.is_set():
                await self._release(msgs)
                return
            self._dispatch(msgs)

    def _dispatch(self, msgs: list[Message]) -> None:
        if self.spec.batch_size is not None:
            self._spawn(self._batch(msgs))
        elif self._fifo:
            groups: dict[str, list[Message]] = {}
            for m in msgs:
                groups.setdefault(m.group_id or "", []).append(m)
            for group in groups.values():
                self._spawn(self._group(group))
        else:
            for m in msgs:
                self._spawn(self._single(m))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, grace_s: float) -> None:
        """Let the handlers running finish within ``grace_s``; then cancel the rest and
        make their messages visible at once. Deletes are flushed."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace_s)
            unfinished = list(self._heartbeat.held.values())
            for task in late:
                task.cancel()
            if late:
                log.warning("%d handlers of %s did not finish in %.1f s: their messages "
                            "are visible again", len(late), self.spec.queue, grace_s)
                await asyncio.gather(*late, return_exceptions=True)
            await self._release(unfinished)
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        await self._release(list(self._heartbeat.held.values()))
        await self._deleter.close()

    async def _report_waiting(self) -> None:
        assert self._on_waiting is not None
        while True:
            with contextlib.suppress(Exception):
                attrs = await self._queue.attributes(["ApproximateNumberOfMessages"])
                self._on_waiting(self.spec.queue, int(attrs["ApproximateNumberOfMessages"]))
            await asyncio.sleep(10)

    # -- handling ------------------------------------------------------------------------

    def _settled(self, m: Message) -> None:
        if self._heartbeat.held.pop(m.receipt_handle, None) is not None:
            self._freed.set()

    async def _single(self, m: Message) -> None:
        try:
            await self._handle([m])
        finally:
            self._settled(m)

    async def _batch(self, msgs: list[Message]) -> None:
        try:
            await self._handle(msgs)
        finally:
            for m in msgs:
                self._settled(m)

    async def _group(self, msgs: list[Message]) -> None:
        """One FIFO group's messages, one at a time, in order. After a failure the rest
        go back at once: the failed message is in flight (its retry delay), so the queue
        hands none of them out before it."""
        try:
            for i, m in enumerate(msgs):
                ok = await self._handle([m])
                self._settled(m)
                if not ok:
                    await self._release(msgs[i + 1:])
                    break
        finally:
            for m in msgs:
                self._settled(m)

    async def _handle(self, msgs: list[Message]) -> bool:
        """Run the handler on ``msgs``; settle each message. True when all succeeded
        (False also when one waits for another worker's idempotency claim: a FIFO group
        must not go past it)."""
        spec = self.spec
        try:
            msgs, deferred = await self._claim(msgs)
            if not msgs:
                return not deferred
            items: list[Any] = [Notification.from_message(m, spec.topic.raw)
                                for m in msgs] if spec.topic else list(msgs)
        except asyncio.CancelledError:
            raise
        except Exception as prep_error:  # a malformed envelope, Redis unreachable...
            log.exception("message(s) of %s could not be prepared", spec.queue)
            for m in msgs:
                await self._failed(m, prep_error)
            return False
        ctx = HandlerContext(spec.name, spec.source, items, msgs[0].receive_count)
        failed: dict[str, BaseException] = {}
        try:
            await self._chain.before(ctx)
            result = await self._call(items if spec.batch_size is not None else items[0])
            if spec.batch_size is not None and result is not None:
                bad = _failed_ids(result)
                reported = RuntimeError("the batch handler reported this message as failed")
                failed = {m.id: reported for m in msgs if m.id in bad}
            await self._chain.after(ctx)
        except asyncio.CancelledError as exc:  # shut down past the grace period
            with contextlib.suppress(Exception):
                await self._chain.error(ctx, exc)
                for m in msgs:  # their claims must not hold up the redelivery
                    await self._unclaim(m)
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self._chain.error(ctx, exc)
            failed = {m.id: exc for m in msgs}
        for m in msgs:
            if m.id in failed:
                await self._failed(m, failed[m.id])
            else:
                await self._succeeded(m)
        return not failed and not deferred

    async def _claim(self, msgs: list[Message]) -> tuple[list[Message], bool]:
        """With an idempotency key: the messages to run (others are settled here), and
        whether one was put off because another worker holds its key."""
        if self._idem is None or self.spec.idempotency_key is None:
            return msgs, False
        keep = []
        deferred = False
        for m in msgs:
            key = self.spec.idempotency_key(m)
            claim = await self._idem.claim(self.spec.queue, key, self._worker_id,
                                           self._vt * 2000)
            if claim is Claim.CLAIMED:
                keep.append(m)
            elif claim is Claim.DONE:
                log.info("message %s (key %r) was processed already: deleted", m.id, key)
                self._deleter.add(m.receipt_handle)
            else:  # another worker runs it now: look again after a visibility timeout
                deferred = True
                await self._change_visibility(m, self._vt)
        return keep, deferred

    async def _succeeded(self, m: Message) -> None:
        if self._idem is not None and self.spec.idempotency_key is not None:
            try:
                await self._idem.complete(self.spec.queue, self.spec.idempotency_key(m),
                                          self.spec.idempotency_ttl_s * 1000)
            except Exception:  # the work is done: delete it all the same
                log.exception("message %s: its idempotency key was not marked done", m.id)
        self._settled(m)
        self._deleter.add(m.receipt_handle)

    async def _unclaim(self, m: Message) -> None:
        if self._idem is not None and self.spec.idempotency_key is not None:
            try:
                await self._idem.release(self.spec.queue, self.spec.idempotency_key(m),
                                         self._worker_id)
            except Exception:  # it expires on its own
                log.exception("message %s: its idempotency claim was not released", m.id)

    async def _failed(self, m: Message, exc: BaseException) -> None:
        self._settled(m)
        await self._unclaim(m)
        attempt = m.receive_count
        policy = self.spec.retry
        if policy.gives_up(exc, attempt):
            await self._give_up(m, exc)
        elif self._max_receive is not None and attempt >= self._max_receive:
            # the queue's next receive moves it to the dead-letter queue
            log.warning("message %s of %s failed on receive %d of %d: to the dead-letter "
                        "queue (%r)", m.id, self.spec.queue, attempt, self._max_receive, exc)
            await self._change_visibility(m, 0)
        else:
            delay = policy.delay_s(attempt)
            log.info("message %s of %s failed on receive %d (%r): retried in %d s", m.id,
                     self.spec.queue, attempt, exc, delay)
            await self._change_visibility(m, delay)

    async def _give_up(self, m: Message, exc: BaseException) -> None:
        if self._dlq is not None:
            fifo = self._dlq.name.endswith(".fifo")
            try:
                await self._dlq.send(m.body, attributes=dict(m.message_attributes),
                                     group_id=(m.group_id or "default") if fifo else None,
                                     deduplication_id=m.id if fifo else None)
            except Exception:
                log.exception("message %s of %s failed (%r) and could not be moved to %s: "
                              "it comes back after its visibility timeout", m.id,
                              self.spec.queue, exc, self._dlq.name)
                return
            log.error("message %s of %s failed (%r): moved to %s without retrying", m.id,
                      self.spec.queue, exc, self._dlq.name)
        else:
            log.error("message %s of %s failed (%r) and is dropped: the queue has no "
                      "dead-letter queue", m.id, self.spec.queue, exc)
        self._deleter.add(m.receipt_handle)

    async def _change_visibility(self, m: Message, seconds: int) -> None:
        try:
            await self._queue.change_visibility(m.receipt_handle, seconds)
        except (errors.ReceiptHandleIsInvalid, errors.MessageNotInflight,
                errors.InvalidParameterValue) as exc:
            log.warning("message %s: visibility not changed (%s)", m.id, exc)

    async def _release(self, msgs: list[Message]) -> None:
        """Make messages in hand visible again at once."""
        for m in msgs:
            self._settled(m)
        for i in range(0, len(msgs), 10):
            chunk = [(m.receipt_handle, 0) for m in msgs[i:i + 10]]
            try:
                await self._queue.change_visibility_batch(chunk)
            except Exception:
                log.exception("releasing %d messages of %s failed; they come back after "
                              "their visibility timeout", len(chunk), self.spec.queue)


def _failed_ids(result: Any) -> set[str]:
    """A batch handler's result: the messages (or message ids) that failed."""
    out: set[str] = set()
    if isinstance(result, str):  # one message id
        return {result}
    items: Iterable[Any] = result if isinstance(result, Iterable) else ()
    for item in items:
        found = item if isinstance(item, str) else getattr(item, "id", None) \
            or getattr(getattr(item, "queue_message", None), "id", "")
        out.add(str(found))
    return out


async def _pause(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
