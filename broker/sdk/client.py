"""The public asyncio SDK: ``Client``, ``Queue`` handles and received ``Message``s."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from broker import errors
from broker.engine import Clock, Engine, Identity, Limits, SendEntry
from broker.engine.idempotency import Idempotency
from broker.engine.leases import LeaseTableRef
from broker.engine.stream_admin import StreamRef
from broker.engine.stream_types import StreamInfo
from broker.engine.topic_admin import TopicRef
from broker.sdk.callable_subscriber import CallableSubscriber
from broker.sdk.http_transport import HttpTransport
from broker.sdk.leases import LeaseTable
from broker.sdk.stream import Stream
from broker.sdk.topic import Topic
from broker.sdk.transport import EngineTransport, Transport
from broker.types import (
    BatchResult,
    BatchSendResult,
    MessageAttributes,
    MoveTask,
    QueueRef,
    ReceivedMessage,
    SendResult,
)

#: SDK keyword -> SQS attribute name, for create_queue / set_attributes
_ATTRIBUTE_KWARGS = {
    "visibility_timeout_s": "VisibilityTimeout",
    "retention_s": "MessageRetentionPeriod",
    "delay_s": "DelaySeconds",
    "wait_time_s": "ReceiveMessageWaitTimeSeconds",
    "max_message_size": "MaximumMessageSize",
    "content_based_deduplication": "ContentBasedDeduplication",
    "deduplication_scope": "DeduplicationScope",
    "fifo_throughput_limit": "FifoThroughputLimit",
}


def attributes_from_kwargs(attributes: Mapping[str, str] | None, **kwargs: Any) -> dict[str, str]:
    """Merge SQS-named attributes with the SDK's keyword spellings."""
    out = dict(attributes or {})
    for kw, value in kwargs.items():
        if value is None:
            continue
        if kw == "dead_letter_queue":
            target, max_receives = value
            arn = target.arn if isinstance(target, Queue) else str(target)
            out["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": int(max_receives)})
        elif isinstance(value, bool):
            out[_ATTRIBUTE_KWARGS[kw]] = "true" if value else "false"
        else:
            out[_ATTRIBUTE_KWARGS[kw]] = str(value)
    return out


def to_message_attributes(values: Mapping[str, Any] | None) -> MessageAttributes:
    """Accept plain Python values or boto3-shaped dicts: str -> String, int/float ->
    Number, bytes -> Binary."""
    out: MessageAttributes = {}
    for name, v in (values or {}).items():
        if isinstance(v, dict):
            out[name] = v
        elif isinstance(v, bool):
            out[name] = {"DataType": "String", "StringValue": str(v).lower()}
        elif isinstance(v, int | float):
            out[name] = {"DataType": "Number", "StringValue": str(v)}
        elif isinstance(v, bytes | bytearray):
            out[name] = {"DataType": "Binary", "BinaryValue": bytes(v)}
        else:
            out[name] = {"DataType": "String", "StringValue": str(v)}
    return out


def _body(body: str | bytes) -> str:
    if isinstance(body, bytes):
        try:
            return body.decode()
        except UnicodeDecodeError:
            raise errors.InvalidMessageContents(
                "Message bodies are text: bytes must be valid UTF-8.") from None
    return body


class Message:
    """A received message. ``delete()`` acknowledges it; the receipt handle is fresh on
    every receive."""

    __slots__ = ("_queue", "_raw")

    def __init__(self, queue: Queue, raw: ReceivedMessage) -> None:
        self._queue = queue
        self._raw = raw

    @property
    def id(self) -> str:
        return self._raw.message_id

    @property
    def body(self) -> str:
        return self._raw.body

    @property
    def body_bytes(self) -> bytes:
        return self._raw.body.encode()

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self._raw.body)

    @property
    def receipt_handle(self) -> str:
        return self._raw.receipt_handle

    @property
    def attributes(self) -> dict[str, str]:
        """System attributes: SentTimestamp, ApproximateReceiveCount, ..."""
        return self._raw.attributes

    @property
    def message_attributes(self) -> MessageAttributes:
        return self._raw.message_attributes

    @property
    def receive_count(self) -> int:
        return int(self._raw.attributes.get("ApproximateReceiveCount", "0"))

    @property
    def group_id(self) -> str | None:
        """MessageGroupId (FIFO queues, and fair queues' tenant key)."""
        return self._raw.attributes.get("MessageGroupId")

    @property
    def sequence_number(self) -> str | None:
        """SequenceNumber (FIFO queues): increases in send order within a group."""
        return self._raw.attributes.get("SequenceNumber")

    @property
    def md5_of_body(self) -> str:
        return self._raw.md5_of_body

    @property
    def raw(self) -> ReceivedMessage:
        return self._raw

    async def delete(self) -> None:
        await self._queue.delete(self._raw.receipt_handle)

    async def change_visibility(self, visibility_timeout_s: int) -> None:
        await self._queue.change_visibility(self._raw.receipt_handle, visibility_timeout_s)

    def __repr__(self) -> str:
        return f"Message(id={self.id!r}, body={self.body[:40]!r})"


class Queue:
    """A handle on one queue. Creating a handle does not create the queue."""

    def __init__(self, transport: Transport, ref: QueueRef, arn: str) -> None:
        self._t = transport
        self.ref = ref
        self.arn = arn

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def url(self) -> str:
        return self._t.queue_url(self.ref)

    async def send(
        self, body: str | bytes, *, delay_s: int | None = None,
        attributes: Mapping[str, Any] | None = None, trace_header: str | None = None,
        group_id: str | None = None, deduplication_id: str | None = None,
    ) -> SendResult:
        """SendMessage. ``attributes`` takes plain values or boto3-shaped dicts.
        ``group_id`` is required on FIFO queues (on standard queues it is a fair-queue
        tenant key); ``deduplication_id`` is for FIFO queues without content-based
        deduplication."""
        return await self._t.send(self.ref, _entry(
            body, "", delay_s, attributes, trace_header, group_id, deduplication_id))

    async def send_json(self, value: Any, **kwargs: Any) -> SendResult:
        return await self.send(json.dumps(value, separators=(",", ":")), **kwargs)

    async def send_batch(self, bodies: Iterable[str | bytes | SendEntry]) -> BatchSendResult:
        """SendMessageBatch (<= 10). Entries without an Id are numbered "0", "1", ..."""
        entries = []
        for i, b in enumerate(bodies):
            if isinstance(b, SendEntry):
                entries.append(b if b.id else SendEntry(
                    b.body, str(i), b.delay_seconds, b.message_attributes,
                    b.system_attributes, b.group_id, b.deduplication_id))
            else:
                entries.append(SendEntry(body=_body(b), id=str(i)))
        return await self._t.send_batch(self.ref, entries)

    async def receive(
        self, max_messages: int = 1, *, wait_time_s: int | None = None,
        visibility_timeout_s: int | None = None, attribute_names: Sequence[str] = ("All",),
        message_attribute_names: Sequence[str] = ("All",), attempt_id: str | None = None,
    ) -> list[Message]:
        """ReceiveMessage; long-polls for up to ``wait_time_s`` seconds when > 0.
        ``attempt_id`` (FIFO queues: ReceiveRequestAttemptId): retrying with the same id
        within 5 minutes returns the same messages and handles if nothing changed."""
        raw = await self._t.receive(self.ref, max_messages, wait_time_s, visibility_timeout_s,
                                    attribute_names, message_attribute_names, attempt_id)
        return [Message(self, m) for m in raw]

    async def delete(self, receipt_handle: str) -> None:
        await self._t.delete(self.ref, receipt_handle)

    async def delete_batch(self, receipt_handles: Sequence[str]) -> BatchResult:
        return await self._t.delete_batch(
            self.ref, [(str(i), h) for i, h in enumerate(receipt_handles)])

    async def change_visibility(self, receipt_handle: str, visibility_timeout_s: int) -> None:
        await self._t.change_visibility(self.ref, receipt_handle, visibility_timeout_s)

    async def change_visibility_batch(
            self, items: Sequence[tuple[str, int]]) -> BatchResult:
        return await self._t.change_visibility_batch(
            self.ref, [(str(i), h, vt) for i, (h, vt) in enumerate(items)])

    async def attributes(self, names: Sequence[str] = ("All",)) -> dict[str, str]:
        return await self._t.get_attributes(self.ref, names)

    async def set_attributes(self, attributes: Mapping[str, str] | None = None,
                             **kwargs: Any) -> None:
        await self._t.set_attributes(self.ref, attributes_from_kwargs(attributes, **kwargs))

    async def purge(self) -> None:
        await self._t.purge(self.ref)

    async def delete_queue(self) -> None:
        await self._t.delete_queue(self.ref)

    async def tag(self, tags: Mapping[str, str]) -> None:
        await self._t.tag(self.ref, tags)

    async def untag(self, keys: Sequence[str]) -> None:
        await self._t.untag(self.ref, keys)

    async def tags(self) -> dict[str, str]:
        return await self._t.list_tags(self.ref)

    async def dead_letter_sources(self) -> list[str]:
        return [q.name for q in await self._t.dead_letter_sources(self.ref)]

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"


def _arn(queue: Queue | str) -> str:
    return queue.arn if isinstance(queue, Queue) else queue


def _entry(body: str | bytes, entry_id: str, delay_s: int | None,
           attributes: Mapping[str, Any] | None, trace_header: str | None,
           group_id: str | None = None, deduplication_id: str | None = None) -> SendEntry:
    system: MessageAttributes = {}
    if trace_header is not None:
        system = {"AWSTraceHeader": {"DataType": "String", "StringValue": trace_header}}
    return SendEntry(body=_body(body), id=entry_id, delay_seconds=delay_s,
                     message_attributes=to_message_attributes(attributes),
                     system_attributes=system, group_id=group_id,
                     deduplication_id=deduplication_id)


def message(body: str | bytes, *, id: str = "", delay_s: int | None = None,
            attributes: Mapping[str, Any] | None = None,
            trace_header: str | None = None, group_id: str | None = None,
            deduplication_id: str | None = None) -> SendEntry:
    """Build one entry for ``Queue.send_batch`` with attributes, a delay, or FIFO ids."""
    return _entry(body, id, delay_s, attributes, trace_header, group_id, deduplication_id)


class Client:
    """Entry point of the SDK: ``async with Client("redis://localhost:6379") as client``.

    ``redis://``, ``rediss://`` (TLS) and ``redis+cluster://`` URLs run the engine in this
    process; ``http(s)://`` URLs talk to a broker server (SigV4-signed when
    ``access_key_id``/``secret_access_key`` are given). ``clock`` and ``limits`` apply to
    the in-process engine only.
    """

    def __init__(self, url: str, *, account_id: str | None = None, region: str | None = None,
                 clock: Clock | None = None, limits: Limits | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None
                 ) -> None:
        self.url = url
        scheme = urlsplit(url).scheme
        identity = Identity(**{k: v for k, v in
                               {"region": region, "account_id": account_id}.items() if v})
        self._identity = identity
        if scheme.startswith(("redis", "rediss", "unix")):
            self._transport: Transport = EngineTransport(
                Engine.from_url(url, clock=clock, identity=identity, limits=limits))
        elif scheme in ("http", "https"):
            self._transport = HttpTransport(
                url, account_id=account_id, region=identity.region,
                access_key_id=access_key_id, secret_access_key=secret_access_key)
        else:
            raise ValueError(f"unsupported URL scheme {scheme!r}: use redis://, rediss://, "
                             f"redis+cluster:// or http(s)://")
        self._subscribers: list[CallableSubscriber] = []

    async def __aenter__(self) -> Client:
        start = getattr(self._transport, "start", None)
        if start is not None:
            try:
                await start()
            except BaseException:
                await self._transport.close()
                raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the callable subscribers this client runs, then close the connection."""
        subscribers, self._subscribers = self._subscribers, []
        await asyncio.gather(*(s.stop() for s in subscribers))
        await self._transport.close()

    def track(self, subscriber: CallableSubscriber) -> None:
        """Own a callable subscriber: ``close()`` stops it."""
        self._subscribers.append(subscriber)

    @property
    def transport(self) -> Transport:
        return self._transport

    def queue(self, name_or_url: str) -> Queue:
        """A handle on an existing queue, by name or queue URL (nothing is checked)."""
        ref = self._ref(name_or_url)
        return Queue(self._transport, ref, self._identity.queue_arn(ref.account, ref.name))

    async def create_queue(
        self, name: str, *, attributes: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None, visibility_timeout_s: int | None = None,
        retention_s: int | None = None, delay_s: int | None = None,
        wait_time_s: int | None = None, max_message_size: int | None = None,
        dead_letter_queue: tuple[Queue | str, int] | None = None,
        content_based_deduplication: bool | None = None,
        deduplication_scope: str | None = None, fifo_throughput_limit: str | None = None,
    ) -> Queue:
        """CreateQueue (idempotent with identical attributes). ``dead_letter_queue`` is
        (queue or ARN, maxReceiveCount). A name ending in ``.fifo`` makes a FIFO queue
        (``FifoQueue=true`` is implied); the last three keywords are FIFO-only."""
        attrs = attributes_from_kwargs(
            attributes, visibility_timeout_s=visibility_timeout_s, retention_s=retention_s,
            delay_s=delay_s, wait_time_s=wait_time_s, max_message_size=max_message_size,
            dead_letter_queue=dead_letter_queue,
            content_based_deduplication=content_based_deduplication,
            deduplication_scope=deduplication_scope, fifo_throughput_limit=fifo_throughput_limit)
        if name.endswith(".fifo"):
            attrs.setdefault("FifoQueue", "true")
        await self._transport.create_queue(self._ref(name), attrs, tags or {})
        return self.queue(name)  # (over HTTP the call may have taught us our account)

    async def get_queue(self, name: str) -> Queue:
        """GetQueueUrl: the handle, or QueueDoesNotExist."""
        await self._transport.get_queue(self._ref(name))
        return self.queue(name)

    async def start_message_move_task(
        self, source: Queue | str, destination: Queue | str | None = None, *,
        max_per_second: int | None = None,
    ) -> str:
        """StartMessageMoveTask (DLQ redrive): move the messages of the dead-letter queue
        ``source`` back to each one's original source queue, or to ``destination``, at
        up to ``max_per_second`` messages a second. Queues go by handle or ARN. Returns
        the TaskHandle."""
        return await self._transport.start_move_task(
            _arn(source), None if destination is None else _arn(destination),
            max_per_second)

    async def list_message_move_tasks(self, source: Queue | str,
                                      max_results: int | None = None) -> list[MoveTask]:
        """ListMessageMoveTasks: the most recent tasks of a dead-letter queue (<= 10)."""
        return await self._transport.list_move_tasks(_arn(source), max_results)

    async def cancel_message_move_task(self, task_handle: str) -> int:
        """CancelMessageMoveTask: returns how many messages were moved so far."""
        return await self._transport.cancel_move_task(task_handle)

    # -- topics ----------------------------------------------------------------------------

    def topic(self, name_or_arn: str) -> Topic:
        """A handle on an existing topic, by name or ARN (nothing is checked)."""
        ref = self._topic_ref(name_or_arn)
        return Topic(self._transport, ref,
                     f"arn:aws:sns:{self._identity.region}:{ref.account}:{ref.name}", self)

    async def create_topic(
        self, name: str, *, attributes: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        content_based_deduplication: bool | None = None,
    ) -> Topic:
        """CreateTopic (idempotent with the same attributes). A name ending in ``.fifo``
        makes a FIFO topic (``FifoTopic=true`` is implied)."""
        attrs = dict(attributes or {})
        if name.endswith(".fifo"):
            attrs.setdefault("FifoTopic", "true")
        if content_based_deduplication is not None:
            attrs["ContentBasedDeduplication"] = str(content_based_deduplication).lower()
        await self._transport.create_topic(self._topic_ref(name), attrs, tags or {})
        return self.topic(name)

    async def list_topics(self) -> list[Topic]:
        """ListTopics, following every page."""
        return [self.topic(f"arn:aws:sns:{self._identity.region}:{t.account}:{t.name}")
                for t in await self._transport.list_topics()]

    def _topic_ref(self, name_or_arn: str) -> TopicRef:
        if name_or_arn.startswith("arn:"):
            parts = name_or_arn.split(":")
            return TopicRef(parts[4], parts[5])
        return TopicRef(self._transport.account_id, name_or_arn)

    # -- streams ---------------------------------------------------------------------------

    def stream(self, name_or_arn: str) -> Stream:
        """A handle on an existing stream, by name or ARN (nothing is checked)."""
        name = name_or_arn.rpartition("stream/")[2] if name_or_arn.startswith("arn:") \
            else name_or_arn
        account = name_or_arn.split(":")[4] if name_or_arn.startswith("arn:") \
            else self._transport.account_id
        return Stream(self._transport, StreamRef(account, name),
                      f"arn:aws:kinesis:{self._identity.region}:{account}:stream/{name}")

    async def create_stream(self, name: str, shard_count: int | None = None, *,
                            on_demand: bool = False,
                            tags: Mapping[str, str] | None = None) -> Stream:
        """CreateStream: ``shard_count`` shards (1 unless given; on demand: 4) splitting
        the hash-key space evenly."""
        await self._transport.create_stream(
            StreamRef(self._transport.account_id, name),
            shard_count if shard_count is not None or on_demand else 1,
            "ON_DEMAND" if on_demand else "PROVISIONED", tags or {})
        return self.stream(name)

    def lease_table(self, application: str, stream: Stream | str) -> LeaseTable:
        """The lease table of a stream consumer application (``workers.kcl``). It lives
        in this client's Redis: an in-process client (``redis://``...) is needed."""
        if not isinstance(self._transport, EngineTransport):
            raise ValueError(
                "lease tables live in Redis: open the Client with the redis:// URL of the "
                "broker's Redis (an http:// client can read the stream, not the leases)")
        s = stream if isinstance(stream, Stream) else self.stream(stream)
        return LeaseTable(self._transport.engine.leases,
                          LeaseTableRef(s.ref.account, s.ref.name, application))

    def idempotency(self) -> Idempotency:
        """Idempotency markers in this client's Redis (an in-process client is needed)."""
        if not isinstance(self._transport, EngineTransport):
            raise ValueError("idempotency markers live in Redis: open the Client with the "
                             "redis:// URL of the broker's Redis")
        return self._transport.engine.idempotency

    async def list_streams(self) -> list[StreamInfo]:
        """ListStreams, following every page."""
        return await self._transport.list_streams()

    async def list_queues(self, prefix: str = "") -> list[Queue]:
        """ListQueues, following every page."""
        out: list[Queue] = []
        token: str | None = None
        while True:
            refs, token = await self._transport.list_queues(prefix, 1000, token)
            out += [self.queue(r.name) for r in refs]
            if token is None:
                return out

    def _ref(self, name_or_url: str) -> QueueRef:
        if "://" in name_or_url:
            ref = QueueRef.from_url(name_or_url)
            if ref is None:
                raise errors.InvalidAddress(f"Not a queue URL: {name_or_url}")
            return ref
        return QueueRef(self._transport.account_id, name_or_url)
