"""The narrow interface under the SDK, and its in-process implementation.

``Client`` talks only to a ``Transport``. ``EngineTransport`` runs the engine in this
process (``redis://``, ``rediss://``, ``redis+cluster://``: no extra hop); the HTTP
transport talks to a broker server. Both must behave identically: the SDK test suite
runs over each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from broker.engine import Engine, SendEntry
from broker.engine.stream_admin import StreamRef
from broker.engine.stream_consumers import Consumer, SubscribeEvent
from broker.engine.stream_types import GetRecordsResult, PutResult, StreamInfo
from broker.engine.streams import PutEntry
from broker.engine.topic_admin import TopicRef
from broker.engine.topics import BatchPublishResult, PublishEntry, PublishResult
from broker.types import (
    BatchResult,
    BatchSendResult,
    MoveTask,
    QueueRef,
    ReceivedMessage,
    SendResult,
)


class Transport(Protocol):
    account_id: str

    def queue_url(self, queue: QueueRef) -> str: ...
    async def close(self) -> None: ...
    async def create_queue(self, queue: QueueRef, attributes: Mapping[str, str],
                           tags: Mapping[str, str]) -> None: ...
    async def delete_queue(self, queue: QueueRef) -> None: ...
    async def get_queue(self, queue: QueueRef) -> None: ...
    async def list_queues(self, prefix: str, max_results: int | None,
                          next_token: str | None) -> tuple[list[QueueRef], str | None]: ...
    async def get_attributes(self, queue: QueueRef, names: Sequence[str]) -> dict[str, str]: ...
    async def set_attributes(self, queue: QueueRef, attributes: Mapping[str, str]) -> None: ...
    async def purge(self, queue: QueueRef) -> None: ...
    async def tag(self, queue: QueueRef, tags: Mapping[str, str]) -> None: ...
    async def untag(self, queue: QueueRef, keys: Sequence[str]) -> None: ...
    async def list_tags(self, queue: QueueRef) -> dict[str, str]: ...
    async def dead_letter_sources(self, queue: QueueRef) -> list[QueueRef]: ...
    async def send(self, queue: QueueRef, entry: SendEntry) -> SendResult: ...
    async def send_batch(self, queue: QueueRef,
                         entries: Sequence[SendEntry]) -> BatchSendResult: ...
    async def receive(self, queue: QueueRef, max_messages: int, wait_time_s: int | None,
                      visibility_timeout_s: int | None, attribute_names: Sequence[str],
                      message_attribute_names: Sequence[str],
                      attempt_id: str | None = None) -> list[ReceivedMessage]: ...
    async def delete(self, queue: QueueRef, receipt_handle: str) -> None: ...
    async def delete_batch(self, queue: QueueRef,
                           entries: Sequence[tuple[str, str]]) -> BatchResult: ...
    async def change_visibility(self, queue: QueueRef, receipt_handle: str,
                                visibility_timeout_s: int) -> None: ...
    async def change_visibility_batch(
        self, queue: QueueRef, entries: Sequence[tuple[str, str, int]]) -> BatchResult: ...
    async def start_move_task(self, source_arn: str, destination_arn: str | None,
                              max_per_second: int | None) -> str: ...
    async def list_move_tasks(self, source_arn: str,
                              max_results: int | None) -> list[MoveTask]: ...
    async def cancel_move_task(self, task_handle: str) -> int: ...
    async def create_topic(self, topic: TopicRef, attributes: Mapping[str, str],
                           tags: Mapping[str, str]) -> None: ...
    async def delete_topic(self, topic: TopicRef) -> None: ...
    async def list_topics(self) -> list[TopicRef]: ...
    async def topic_attributes(self, topic: TopicRef) -> dict[str, str]: ...
    async def set_topic_attribute(self, topic: TopicRef, name: str, value: str) -> None: ...
    async def subscribe(self, topic: TopicRef, protocol: str, endpoint: str,
                        attributes: Mapping[str, str]) -> str: ...
    async def unsubscribe(self, subscription_arn: str) -> None: ...
    async def topic_subscriptions(self, topic: TopicRef) -> list[dict[str, str]]: ...
    async def publish(self, topic: TopicRef, entry: PublishEntry) -> PublishResult: ...
    async def publish_batch(self, topic: TopicRef,
                            entries: Sequence[PublishEntry]) -> BatchPublishResult: ...
    async def create_stream(self, stream: StreamRef, shard_count: int | None, mode: str,
                            tags: Mapping[str, str]) -> None: ...
    async def delete_stream(self, stream: StreamRef) -> None: ...
    async def list_streams(self) -> list[StreamInfo]: ...
    async def describe_stream(self, stream: StreamRef) -> StreamInfo: ...
    async def set_stream_retention(self, stream: StreamRef, hours: int,
                                   increase: bool) -> None: ...
    async def put_record(self, stream: StreamRef, entry: PutEntry,
                         sequence_for_ordering: str | None) -> PutResult: ...
    async def put_records(self, stream: StreamRef,
                          entries: Sequence[PutEntry]) -> list[PutResult]: ...
    async def shard_iterator(self, stream: StreamRef, shard_id: str, iterator_type: str,
                             sequence_number: str | None,
                             timestamp: dt.datetime | None) -> str: ...
    async def get_records(self, iterator: str, limit: int | None) -> GetRecordsResult: ...
    async def split_shard(self, stream: StreamRef, shard_id: str, new_starting_hash_key: str
                          ) -> None: ...
    async def merge_shards(self, stream: StreamRef, shard_id: str, adjacent_shard_id: str
                           ) -> None: ...
    async def update_shard_count(self, stream: StreamRef, target: int) -> None: ...
    async def register_consumer(self, stream_arn: str, name: str) -> Consumer: ...
    async def deregister_consumer(self, consumer_arn: str) -> None: ...
    async def list_consumers(self, stream_arn: str) -> list[Consumer]: ...
    def subscribe_to_shard(self, consumer_arn: str, shard_id: str,
                           start: Mapping[str, Any]) -> AsyncIterator[SubscribeEvent]: ...


class EngineTransport:
    """Runs the engine in-process; queue URLs use the AWS shape with a local host."""

    def __init__(self, engine: Engine, url_base: str = "http://localhost:4566") -> None:
        self.engine = engine
        self.account_id = engine.identity.account_id
        self._url_base = url_base

    def queue_url(self, queue: QueueRef) -> str:
        return f"{self._url_base}/{queue.account}/{queue.name}"

    async def start(self) -> None:
        await self.engine.start()

    async def close(self) -> None:
        await self.engine.close()

    async def create_queue(self, queue: QueueRef, attributes: Mapping[str, str],
                           tags: Mapping[str, str]) -> None:
        await self.engine.admin.create_queue(queue, attributes, tags)

    async def delete_queue(self, queue: QueueRef) -> None:
        await self.engine.admin.delete_queue(queue)

    async def get_queue(self, queue: QueueRef) -> None:
        await self.engine.admin.get_queue(queue)

    async def list_queues(self, prefix: str, max_results: int | None,
                          next_token: str | None) -> tuple[list[QueueRef], str | None]:
        names, token = await self.engine.admin.list_queues(
            self.account_id, prefix, max_results, next_token)
        return [QueueRef(self.account_id, n) for n in names], token

    async def get_attributes(self, queue: QueueRef, names: Sequence[str]) -> dict[str, str]:
        return await self.engine.admin.get_attributes(queue, names)

    async def set_attributes(self, queue: QueueRef, attributes: Mapping[str, str]) -> None:
        await self.engine.admin.set_attributes(queue, attributes)

    async def purge(self, queue: QueueRef) -> None:
        await self.engine.admin.purge(queue)

    async def tag(self, queue: QueueRef, tags: Mapping[str, str]) -> None:
        await self.engine.admin.tag_queue(queue, tags)

    async def untag(self, queue: QueueRef, keys: Sequence[str]) -> None:
        await self.engine.admin.untag_queue(queue, keys)

    async def list_tags(self, queue: QueueRef) -> dict[str, str]:
        return await self.engine.admin.list_tags(queue)

    async def dead_letter_sources(self, queue: QueueRef) -> list[QueueRef]:
        names = await self.engine.admin.list_dead_letter_source_queues(queue)
        return [QueueRef(queue.account, n) for n in names]

    async def send(self, queue: QueueRef, entry: SendEntry) -> SendResult:
        return await self.engine.queues.send(queue, entry)

    async def send_batch(self, queue: QueueRef,
                         entries: Sequence[SendEntry]) -> BatchSendResult:
        return await self.engine.queues.send_batch(queue, entries)

    async def receive(self, queue: QueueRef, max_messages: int, wait_time_s: int | None,
                      visibility_timeout_s: int | None, attribute_names: Sequence[str],
                      message_attribute_names: Sequence[str],
                      attempt_id: str | None = None) -> list[ReceivedMessage]:
        return await self.engine.queues.receive(
            queue, max_messages=max_messages, wait_time_s=wait_time_s,
            visibility_timeout_s=visibility_timeout_s, attribute_names=attribute_names,
            message_attribute_names=message_attribute_names,
            receive_request_attempt_id=attempt_id)

    async def delete(self, queue: QueueRef, receipt_handle: str) -> None:
        await self.engine.queues.delete(queue, receipt_handle)

    async def delete_batch(self, queue: QueueRef,
                           entries: Sequence[tuple[str, str]]) -> BatchResult:
        return await self.engine.queues.delete_batch(queue, entries)

    async def change_visibility(self, queue: QueueRef, receipt_handle: str,
                                visibility_timeout_s: int) -> None:
        await self.engine.queues.change_visibility(queue, receipt_handle, visibility_timeout_s)

    async def change_visibility_batch(
            self, queue: QueueRef, entries: Sequence[tuple[str, str, int]]) -> BatchResult:
        return await self.engine.queues.change_visibility_batch(queue, entries)

    async def start_move_task(self, source_arn: str, destination_arn: str | None,
                              max_per_second: int | None) -> str:
        return await self.engine.moves.start(source_arn, destination_arn, max_per_second)

    async def list_move_tasks(self, source_arn: str,
                              max_results: int | None) -> list[MoveTask]:
        return await self.engine.moves.list(source_arn, max_results)

    async def cancel_move_task(self, task_handle: str) -> int:
        return await self.engine.moves.cancel(task_handle)

    # -- topics ----------------------------------------------------------------------------

    async def create_topic(self, topic: TopicRef, attributes: Mapping[str, str],
                           tags: Mapping[str, str]) -> None:
        await self.engine.topic_admin.create_topic(topic, attributes, tags)

    async def delete_topic(self, topic: TopicRef) -> None:
        await self.engine.topic_admin.delete_topic(topic)

    async def list_topics(self) -> list[TopicRef]:
        out: list[TopicRef] = []
        token: str | None = None
        while True:
            page, token = await self.engine.topic_admin.list_topics(self.account_id, token)
            out += page
            if not token:
                return out

    async def topic_attributes(self, topic: TopicRef) -> dict[str, str]:
        return await self.engine.topic_admin.get_attributes(topic)

    async def set_topic_attribute(self, topic: TopicRef, name: str, value: str) -> None:
        await self.engine.topic_admin.set_attribute(topic, name, value)

    async def subscribe(self, topic: TopicRef, protocol: str, endpoint: str,
                        attributes: Mapping[str, str]) -> str:
        admin = self.engine.topic_admin
        return admin.subscription_arn(
            await admin.subscribe(topic, protocol, endpoint, attributes))

    async def unsubscribe(self, subscription_arn: str) -> None:
        admin = self.engine.topic_admin
        await admin.unsubscribe(*admin.subscription_from_arn(subscription_arn))

    async def topic_subscriptions(self, topic: TopicRef) -> list[dict[str, str]]:
        admin = self.engine.topic_admin
        out: list[dict[str, str]] = []
        token: str | None = None
        while True:
            page, token = await admin.list_subscriptions_by_topic(topic, token)
            out += [{"SubscriptionArn": admin.subscription_arn(s), "Protocol": s.protocol,
                     "Endpoint": s.endpoint} for s in page]
            if not token:
                return out

    async def publish(self, topic: TopicRef, entry: PublishEntry) -> PublishResult:
        return await self.engine.topics.publish(topic, entry)

    async def publish_batch(self, topic: TopicRef,
                            entries: Sequence[PublishEntry]) -> BatchPublishResult:
        return await self.engine.topics.publish_batch(topic, entries)

    # -- streams -------------------------------------------------------------------------

    async def create_stream(self, stream: StreamRef, shard_count: int | None, mode: str,
                            tags: Mapping[str, str]) -> None:
        await self.engine.stream_admin.create(stream, shard_count, mode, tags)

    async def delete_stream(self, stream: StreamRef) -> None:
        await self.engine.stream_admin.delete(stream)

    async def list_streams(self) -> list[StreamInfo]:
        out: list[StreamInfo] = []
        token: str | None = None
        while True:
            page, _, token = await self.engine.stream_admin.list_streams(
                self.account_id, next_token=token)
            out += page
            if not token:
                return out

    async def describe_stream(self, stream: StreamRef) -> StreamInfo:
        admin = self.engine.stream_admin
        info = await admin.summary(stream)
        shards, token = await admin.list_shards(stream, max_results=10_000)
        while token:
            more, token = await admin.list_shards(stream, max_results=10_000,
                                                  next_token=token)
            shards += more
        return dataclasses.replace(info, shards=shards)

    async def set_stream_retention(self, stream: StreamRef, hours: int,
                                   increase: bool) -> None:
        await self.engine.stream_admin.set_retention(stream, hours, increase)

    async def put_record(self, stream: StreamRef, entry: PutEntry,
                         sequence_for_ordering: str | None) -> PutResult:
        return await self.engine.streams.put_record(stream, entry, sequence_for_ordering)

    async def put_records(self, stream: StreamRef,
                          entries: Sequence[PutEntry]) -> list[PutResult]:
        return (await self.engine.streams.put_records(stream, entries))[0]

    async def shard_iterator(self, stream: StreamRef, shard_id: str, iterator_type: str,
                             sequence_number: str | None,
                             timestamp: dt.datetime | None) -> str:
        return await self.engine.streams.get_shard_iterator(
            stream, shard_id, iterator_type, sequence_number, timestamp)

    async def get_records(self, iterator: str, limit: int | None) -> GetRecordsResult:
        return await self.engine.streams.get_records(iterator, limit)

    async def split_shard(self, stream: StreamRef, shard_id: str, new_starting_hash_key: str
                          ) -> None:
        await self.engine.resharding.split(stream, shard_id, new_starting_hash_key)

    async def merge_shards(self, stream: StreamRef, shard_id: str, adjacent_shard_id: str
                           ) -> None:
        await self.engine.resharding.merge(stream, shard_id, adjacent_shard_id)

    async def update_shard_count(self, stream: StreamRef, target: int) -> None:
        await self.engine.resharding.update_shard_count(stream, target)

    async def register_consumer(self, stream_arn: str, name: str) -> Consumer:
        return await self.engine.stream_consumers.register(stream_arn, name)

    async def deregister_consumer(self, consumer_arn: str) -> None:
        await self.engine.stream_consumers.deregister(None, None, consumer_arn)

    async def list_consumers(self, stream_arn: str) -> list[Consumer]:
        out: list[Consumer] = []
        token: str | None = None
        while True:
            page, token = await self.engine.stream_consumers.list(stream_arn,
                                                                  next_token=token)
            out += page
            if not token:
                return out

    async def subscribe_to_shard(self, consumer_arn: str, shard_id: str,
                                 start: Mapping[str, Any]) -> AsyncIterator[SubscribeEvent]:
        events = await self.engine.stream_consumers.subscribe(consumer_arn, shard_id, start)
        async for event in events:
            yield event
