"""SNS publishing: filter, record, fan out to subscribed queues, recover.

``publish`` validates the message, picks the subscriptions whose filter policy matches,
records the message and its targets in the topic's outbox (``publish.lua``: durable
before anything is delivered; FIFO topics deduplicate and number it there), delivers it
to each subscribed queue, then forgets the outbox entry. A queue may live in another
hash slot than the topic (on a cluster it usually does), so delivery is not one atomic
script: each delivery is made idempotent instead, by a marker per (message,
subscription) in the queue's slot (``dlq_accept.lua``). A publisher that dies midway
leaves the entry in the outbox; ``redeliver`` (the broker server's dispatcher calls it)
finishes it, and the markers make each subscription get the message exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import msgpack

from broker import errors
from broker.engine import filter_policy, sns_validation, validation
from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import AccountKeys, QueueKeys, TopicKeys
from broker.engine.queues import is_fifo
from broker.engine.records import as_text, new_message_ids, pack_extra
from broker.engine.sns_signing import MessageSigner
from broker.engine.topic_admin import (
    Subscription,
    TopicAdmin,
    TopicRef,
    unpack_subscription,
)
from broker.types import BatchResultError, MessageAttributes, QueueRef

log = logging.getLogger(__name__)

#: how long a delivery marker lives (the outbox is recovered long before that)
MARKER_TTL_MS = 86_400_000
#: an outbox entry older than this is taken to be abandoned by its publisher
ABANDONED_AFTER_MS = 5_000
#: script calls for queue deliveries one engine runs at once (its Redis connection pool
#: is bounded); deliveries arriving meanwhile are batched per queue
MAX_CONCURRENT_DELIVERIES = 24
#: most messages one delivery call stores in a queue
DELIVERY_BATCH = 10
#: most concurrent publishes to one topic recorded by one outbox call
PUBLISH_BATCH = 25


@dataclass(frozen=True, slots=True)
class PublishEntry:
    """One message to publish (Publish, or an entry of PublishBatch)."""

    message: str
    id: str = ""
    subject: str | None = None
    message_structure: str | None = None
    message_attributes: MessageAttributes = field(default_factory=dict)
    group_id: str | None = None
    deduplication_id: str | None = None


@dataclass(frozen=True, slots=True)
class PublishResult:
    message_id: str
    sequence_number: str | None = None


@dataclass(frozen=True, slots=True)
class BatchPublishResult:
    successful: dict[str, PublishResult] = field(default_factory=dict)
    failed: list[BatchResultError] = field(default_factory=list)


class Topics:
    def __init__(self, ctx: Context, admin: TopicAdmin) -> None:
        self._ctx = ctx
        self._admin = admin
        self._batches = _DeliveryBatches(ctx)
        self._keys: dict[QueueRef, QueueKeys] = {}
        self.signer = MessageSigner(ctx.redis)
        """Signs the envelopes of standard topics' messages."""
        self._signatures: dict[tuple[str, str], str] = {}
        """(message id, message) -> signature: one signature serves every subscription."""
        self._publishes: dict[TopicRef, list[tuple[PublishEntry,
                                                   asyncio.Future[PublishResult]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_order = InOrder()

    async def close(self) -> None:
        """Wait for the publishes and deliveries under way (their callers are waiting
        for them too)."""
        while self._tasks or self._publishes:
            await asyncio.sleep(0)  # lets flushes already scheduled start their tasks
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._batches.close()

    async def publish(self, topic: TopicRef, entry: PublishEntry) -> PublishResult:
        """Publish: returns once every matching subscribed queue has the message.
        Concurrent publishes to one topic are recorded together (one outbox call for
        all of them), each still getting its own result or error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PublishResult] = loop.create_future()
        batch = self._publishes.get(topic)
        if batch is None:
            batch = self._publishes[topic] = []
            loop.call_soon(self._flush_publishes, topic, batch)
        batch.append((entry, future))
        if len(batch) >= PUBLISH_BATCH:
            self._flush_publishes(topic, batch)
        return await future

    def _flush_publishes(self, topic: TopicRef,
                         batch: list[tuple[PublishEntry, asyncio.Future[PublishResult]]]
                         ) -> None:
        if self._publishes.get(topic) is not batch:
            return
        del self._publishes[topic]
        task = asyncio.get_running_loop().create_task(self._publish_together(topic, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish_together(
        self, topic: TopicRef,
        batch: list[tuple[PublishEntry, asyncio.Future[PublishResult]]],
    ) -> None:
        try:
            results = await self._publish(topic, [e for e, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, errors.BrokerError):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def publish_batch(self, topic: TopicRef,
                            entries: Sequence[PublishEntry]) -> BatchPublishResult:
        """PublishBatch (<= 10 entries; per-entry results)."""
        validation.validate_batch_entry_ids([e.id for e in entries])
        total = sum(len(e.message.encode()) for e in entries)
        if total > sns_validation.MAX_MESSAGE_BYTES:
            raise errors.BatchRequestTooLong(
                "The length of all the messages put together is more than the limit.")
        results = await self._publish(topic, entries)
        out = BatchPublishResult()
        for e, r in zip(entries, results, strict=True):
            if isinstance(r, errors.BrokerError):
                out.failed.append(BatchResultError(e.id, r.code, r.message))
            else:
                out.successful[e.id] = r
        return out

    # -- publishing ----------------------------------------------------------------------

    async def _publish(self, topic: TopicRef, entries: Sequence[PublishEntry]
                       ) -> list[PublishResult | errors.BrokerError]:
        if not topic.fifo:
            return await self._publish_now(topic, entries)
        # A FIFO topic's publishes are recorded and delivered one group at a time, so
        # that its queues get them in sequence-number order.
        async with self._in_order.hold(topic):
            return await self._publish_now(topic, entries)

    async def _publish_now(self, topic: TopicRef, entries: Sequence[PublishEntry]
                           ) -> list[PublishResult | errors.BrokerError]:
        keys = TopicKeys(topic.account, topic.name)
        async with self._ctx.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.meta, ["arn", "FifoTopic", "ContentBasedDeduplication",
                                   "FifoThroughputScope", "SignatureVersion"])
            pipe.hgetall(keys.subs)
            meta, subs_raw = await pipe.execute()
        if meta[0] is None:
            raise errors.NotFound("Topic does not exist")
        fifo = meta[1] == b"true"
        content_dedup = meta[2] == b"true"
        per_group = meta[3] == b"MessageGroup"
        subs = [s for s in (self._subscription(topic, k, v) for k, v in subs_raw.items())
                if s.status == "confirmed"]
        now_ms = self._now_ms()
        results: list[PublishResult | errors.BrokerError | None] = []
        args: list[Any] = [clock_arg(self._ctx.clock)]
        pending: list[tuple[int, str, dict[str, Any]]] = []
        for i, e in enumerate(entries):
            try:
                dedup_key = self._check(e, fifo, content_dedup, per_group)
            except errors.BrokerError as exc:
                results.append(exc)
                continue
            results.append(None)
            message_id = str(uuid.uuid4())
            parsed = filter_policy.AttributeValues(e.message_attributes)
            targets = [s for s in subs if self._matches(s, e, parsed)]
            record = {"m": e.message, "s": e.subject, "st": e.message_structure,
                      "a": e.message_attributes, "g": e.group_id,
                      "d": e.deduplication_id or (dedup_key.rpartition("\0")[2]
                                                  if dedup_key else None),
                      "ts": now_ms, "fifo": fifo, "sv": as_text(meta[4] or b"1"),
                      "t": [[s.id, s.endpoint, s.raw, self._admin.subscription_arn(s),
                             s.protocol] for s in targets]}
            args += [message_id, msgpack.packb(record) if targets else b"", dedup_key,
                     self._ctx.limits.fifo_deduplication_interval_ms]
            pending.append((i, message_id, record))
        if pending:
            reply = await self._ctx.scripts.call(
                "publish", [keys.meta, keys.outbox, keys.outq, keys.dedup, keys.dedup_exp],
                args)
            recorded: list[tuple[str, dict[str, Any]]] = []
            deliveries = []
            for n, (i, message_id, record) in enumerate(pending):
                code, value = reply[1 + 2 * n], as_text(reply[2 + 2 * n])
                if code == b"D":
                    original, _, seq = value.partition(" ")
                    results[i] = PublishResult(original, seq or None)
                    continue
                results[i] = PublishResult(message_id, value or None)
                if record["t"]:
                    record["seq"] = value
                    recorded.append((message_id, record))
                    deliveries.append(self._deliver(topic, message_id, record))
            if deliveries:
                await asyncio.gather(*deliveries)
                await self._settle(topic, recorded)
        return [r for r in results if r is not None]

    def _check(self, e: PublishEntry, fifo: bool, content_dedup: bool,
               per_group: bool) -> str:
        """Validate one entry; returns its deduplication key ('' when not FIFO)."""
        sns_validation.validate_message(e.message, e.message_structure, e.message_attributes)
        sns_validation.validate_subject(e.subject)
        sns_validation.validate_fifo_publish(fifo, e.group_id, e.deduplication_id)
        if not fifo:
            return ""
        dedup = e.deduplication_id
        if dedup is None:
            if not content_dedup:
                raise errors.InvalidParameter(
                    "Invalid parameter: The topic should either have ContentBasedDeduplication "
                    "enabled or MessageDeduplicationId provided explicitly")
            dedup = hashlib.sha256(e.message.encode()).hexdigest()
        return f"{e.group_id}\0{dedup}" if per_group else f"\0{dedup}"

    @staticmethod
    def _matches(sub: Subscription, e: PublishEntry,
                 parsed: filter_policy.AttributeValues) -> bool:
        policy = sub.attributes.get("FilterPolicy")
        if not policy:
            return True
        try:
            matcher = filter_policy.compile_policy(
                policy, sub.attributes.get("FilterPolicyScope", "MessageAttributes"))
        except errors.BrokerError:  # stored by an older version that let it pass
            log.warning("subscription %s: its filter policy does not compile; it gets "
                        "nothing until the policy is fixed", sub.id)
            return False
        if matcher.scope == "MessageBody":
            return matcher.matches_body(
                sns_validation.message_for(e.message, e.message_structure, "sqs"))
        return matcher.matches_parsed(parsed, "")

    @staticmethod
    def _subscription(topic: TopicRef, sub_id: bytes | str, raw: bytes | str
                      ) -> Subscription:
        return unpack_subscription(topic, as_text(sub_id), raw)

    # -- delivering ----------------------------------------------------------------------

    async def _deliver(self, topic: TopicRef, message_id: str, record: Mapping[str, Any]
                       ) -> None:
        """Deliver one outbox entry to each of its target queues (idempotent); HTTP/S
        targets are left to the dispatcher (see ``_settle``)."""
        if not record["fifo"]:
            await self.signer.ready()
        waiting: list[asyncio.Future[bool]] = []
        targets = []
        ids = new_message_ids(len(record["t"]))
        for (raw_id, _), (sub_id, endpoint, raw, sub_arn, *proto) in zip(ids, record["t"],
                                                                          strict=True):
            if (proto[0] if proto else "sqs") != "sqs":
                continue
            targets.append((sub_id, sub_arn))
            waiting.append(self._queue_delivery(topic, message_id, record, sub_id, endpoint,
                                                raw, sub_arn, raw_id))
        stored = await asyncio.gather(*waiting)  # futures: no task per delivery
        for (sub_id, sub_arn), ok in zip(targets, stored, strict=True):
            if not ok:  # the subscribed queue is gone: its DLQ, as SNS does, or dropped
                await self._dead_letter(topic, message_id, record, sub_id, sub_arn)

    async def _dead_letter(self, topic: TopicRef, message_id: str,
                           record: Mapping[str, Any], sub_id: str, sub_arn: str) -> None:
        try:
            sub = await self._admin.get_subscription(topic, sub_id)
        except errors.NotFound:
            return
        policy = sub.attributes.get("RedrivePolicy")
        if policy:
            await self.to_queue(topic, message_id, record, f"{sub_id}-dlq",
                                json.loads(policy).get("deadLetterTargetArn", ""), False,
                                sub_arn)

    async def to_queue(self, topic: TopicRef, message_id: str, record: Mapping[str, Any],
                       sub_id: str, queue_arn: str, raw: bool, sub_arn: str) -> bool:
        """Store a topic message in one queue, once per (message, subscription); False
        when the queue does not exist."""
        return await self._queue_delivery(topic, message_id, record, sub_id, queue_arn,
                                          raw, sub_arn, new_message_ids(1)[0][0])

    def _queue_delivery(self, topic: TopicRef, message_id: str, record: Mapping[str, Any],
                        sub_id: str, queue_arn: str, raw: bool, sub_arn: str,
                        raw_id: bytes) -> asyncio.Future[bool]:
        """Queue one delivery for the next batch to its queue; the future says whether
        the queue existed."""
        queue = self._ctx.identity.queue_from_arn(queue_arn)
        if queue is None:
            done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            done.set_result(False)
            return done
        body = self.body(topic, message_id, record, raw, sub_arn, "sqs")
        attrs = record["a"] if raw else {}
        fields: list[Any] = [raw_id, body.encode(), 0, 0, 0,
                             pack_extra(attrs, topic.account, None), 0, "",
                             hashlib.md5(body.encode(), usedforsecurity=False).digest()]
        if queue.name.endswith(".fifo"):
            fields += [record["g"] or "", record["d"] or message_id]
        elif record["g"] and not record["fifo"]:
            fields += [record["g"], ""]
        return self._batches.add(queue, self._queue_keys(queue), message_id, sub_id,
                                 msgpack.packb(fields, use_bin_type=False))

    def _queue_keys(self, queue: QueueRef) -> QueueKeys:
        keys = self._keys.get(queue)
        if keys is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            keys = self._keys[queue] = QueueKeys(queue.account, queue.name)
        return keys

    async def _settle(self, topic: TopicRef,
                      recorded: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """The queue deliveries of these messages are done: forget their outbox entries
        and queue their HTTP/S deliveries for the dispatcher."""
        keys = TopicKeys(topic.account, topic.name)
        args: list[Any] = [clock_arg(self._ctx.clock)]
        has_http = False
        for message_id, record in recorded:
            http = [t[0] for t in record["t"] if len(t) > 4 and t[4] != "sqs"]
            has_http = has_http or bool(http)
            args += [message_id, msgpack.packb(record) if http else b"", len(http), *http]
        head = await self._ctx.scripts.call(
            "outbox_done", [keys.outbox, keys.outq, keys.httpq, keys.httpmsg], args)
        if has_http and int(head) >= 0:
            await self._ctx.redis.zadd(AccountKeys(topic.account).http_due,
                                       {topic.name: int(head)}, lt=True)

    def body(self, topic: TopicRef, message_id: str, record: Mapping[str, Any],
             raw: bool, sub_arn: str, protocol: str) -> str:
        """What one subscription gets: the message for its protocol, bare (raw delivery)
        or in the SNS JSON envelope."""
        message = sns_validation.message_for(record["m"], record["st"], protocol)
        if raw:
            return message
        envelope: dict[str, Any] = {
            "Type": "Notification", "MessageId": message_id,
        }
        if record.get("seq"):
            envelope["SequenceNumber"] = record["seq"]
        envelope["TopicArn"] = self._admin.topic_arn(topic)
        if record["s"] is not None:
            envelope["Subject"] = record["s"]
        envelope["Message"] = message
        envelope["Timestamp"] = _iso(record["ts"])
        if not record["fifo"]:  # FIFO topics' messages are not signed (as in SNS)
            version = str(record.get("sv") or "1")
            envelope["SignatureVersion"] = version
            key = (message_id, message)
            signature = self._signatures.get(key)
            if signature is None:
                if len(self._signatures) >= 1024:
                    self._signatures.clear()
                signature = self._signatures[key] = self.signer.sign(envelope, version)
            envelope["Signature"] = signature
            envelope["SigningCertURL"] = self.signer.cert_url(self._admin.public_url)
        envelope["UnsubscribeURL"] = (
            f"{self._admin.public_url}/?Action=Unsubscribe&SubscriptionArn="
            f"{sub_arn}")
        if record["a"]:
            envelope["MessageAttributes"] = {
                name: {"Type": v["DataType"],
                       "Value": base64.b64encode(bytes(v["BinaryValue"])).decode()
                       if v["DataType"].startswith("Binary") else v["StringValue"]}
                for name, v in record["a"].items()}
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)

    # -- recovery ------------------------------------------------------------------------

    async def redeliver(self, topic: TopicRef, older_than_ms: int = ABANDONED_AFTER_MS
                        ) -> int:
        """Finish the outbox entries a publisher left (it died mid fan-out); returns how
        many. Safe to run anywhere, any number of times: deliveries are idempotent."""
        keys = TopicKeys(topic.account, topic.name)
        cutoff = self._now_ms() - older_than_ms
        due = cast("list[bytes]", await self._ctx.redis.zrangebyscore(
            keys.outq, "-inf", cutoff, start=0, num=100))
        ids = [as_text(i) for i in due]
        if not ids:
            return 0
        raws = await self._ctx.redis.hmget(keys.outbox, ids)
        done: list[tuple[str, Mapping[str, Any]]] = []
        for message_id, raw in zip(ids, raws, strict=True):
            record = msgpack.unpackb(raw, raw=False) if raw is not None else {"t": []}
            if raw is not None:
                await self._deliver(topic, message_id, record)
            done.append((message_id, record))
        await self._settle(topic, done)
        return len(done)

    def _now_ms(self) -> int:
        now = self._ctx.clock.now_ms()
        return now if now is not None else int(time.time() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ms % 1000:03d}Z"


class _DeliveryBatches:
    """Group commit for topic deliveries: the deliveries of concurrent publishes to one
    queue share one ``dlq_accept`` call (up to ``DELIVERY_BATCH``), flushed at the end of
    the event-loop iteration in which the first arrived, or as soon as a call slot frees
    when ``MAX_CONCURRENT_DELIVERIES`` calls are running. Each delivery keeps its own
    idempotency marker, so batching changes nothing about exactly-once."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._pending: dict[QueueRef, list[tuple[str, bytes, asyncio.Future[bool]]]] = {}
        self._keys: dict[QueueRef, QueueKeys] = {}
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_DELIVERIES)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_order = InOrder()

    async def close(self) -> None:
        while self._tasks or self._pending:
            await asyncio.sleep(0)
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def add(self, queue: QueueRef, keys: QueueKeys, message_id: str, sub_id: str,
            record: bytes) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        batch = self._pending.get(queue)
        if batch is None:
            batch = self._pending[queue] = []
            self._keys[queue] = keys
            loop.call_soon(self._flush, queue, batch)
        batch.append((keys.delivery_marker(message_id, sub_id), record, future))
        if len(batch) >= DELIVERY_BATCH:
            self._flush(queue, batch)
        return future

    def _flush(self, queue: QueueRef, batch: list[tuple[str, bytes, asyncio.Future[bool]]]
               ) -> None:
        if self._pending.get(queue) is not batch:
            return
        del self._pending[queue]
        keys = self._keys.pop(queue)
        task = asyncio.get_running_loop().create_task(
            self._store_in_order(queue, keys, batch) if is_fifo(queue)
            else self._store(keys, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store_in_order(self, queue: QueueRef, keys: QueueKeys,
                              batch: list[tuple[str, bytes, asyncio.Future[bool]]]) -> None:
        """A FIFO queue's batches are stored one at a time, in the order they were
        made (the lock is the task's first wait, and asyncio locks are first come, first
        served)."""
        async with self._in_order.hold(queue):
            await self._store(keys, batch)

    async def _store(self, keys: QueueKeys,
                     batch: list[tuple[str, bytes, asyncio.Future[bool]]]) -> None:
        try:
            async with self._slots:
                reply = await self._ctx.scripts.call(
                    "dlq_accept", [*keys.accept_keys, *(m for m, _, _ in batch)],
                    [clock_arg(self._ctx.clock), keys.wake_channel, "", MARKER_TTL_MS, "1",
                     "", *(r for _, r, _ in batch)])
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for _, _, future in batch:
            if not future.done():
                future.set_result(reply != -1)


class InOrder:
    """One ``asyncio.Lock`` per key, made on first use and dropped when nobody holds or
    waits for it: what takes ``hold(key)`` runs one at a time per key, in arrival order."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
