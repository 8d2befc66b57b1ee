"""SNS topics in the SDK: ``Topic`` handles made by ``Client.create_topic`` /
``Client.topic``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from broker.engine.topic_admin import TopicRef
from broker.engine.topics import BatchPublishResult, PublishEntry, PublishResult
from broker.sdk.callable_subscriber import CallableSubscriber, Handler, queue_name
from broker.sdk.transport import Transport

if TYPE_CHECKING:
    from broker.sdk.client import Client


def publication(message: str | bytes, *, id: str = "", subject: str | None = None,
                attributes: Mapping[str, Any] | None = None, group_id: str | None = None,
                deduplication_id: str | None = None,
                structure: str | None = None) -> PublishEntry:
    """One entry for ``Topic.publish_batch`` (or the arguments of ``Topic.publish``)."""
    from broker.sdk.client import to_message_attributes
    return PublishEntry(
        message=message.decode() if isinstance(message, bytes) else message, id=id,
        subject=subject, message_structure=structure,
        message_attributes=to_message_attributes(attributes), group_id=group_id,
        deduplication_id=deduplication_id)


class Topic:
    """A handle on one topic. Creating a handle does not create the topic."""

    def __init__(self, transport: Transport, ref: TopicRef, arn: str,
                 client: Client | None = None) -> None:
        self._t = transport
        self.ref = ref
        self.arn = arn
        self._client = client

    @property
    def name(self) -> str:
        return self.ref.name

    async def publish(self, message: str | bytes, *, subject: str | None = None,
                      attributes: Mapping[str, Any] | None = None,
                      group_id: str | None = None, deduplication_id: str | None = None,
                      structure: str | None = None) -> PublishResult:
        """Publish: returns once every matching subscribed queue has the message.
        ``group_id`` is required on FIFO topics; on standard topics it reaches standard
        (fair) queues. ``structure="json"``: ``message`` holds a body per protocol."""
        return await self._t.publish(self.ref, publication(
            message, subject=subject, attributes=attributes, group_id=group_id,
            deduplication_id=deduplication_id, structure=structure))

    async def publish_json(self, value: Any, **kwargs: Any) -> PublishResult:
        return await self.publish(json.dumps(value, separators=(",", ":")), **kwargs)

    async def publish_batch(self, entries: Iterable[str | PublishEntry]) -> BatchPublishResult:
        """PublishBatch (<= 10). Entries without an Id are numbered "0", "1", ..."""
        out = []
        for i, e in enumerate(entries):
            if isinstance(e, PublishEntry):
                out.append(e if e.id else PublishEntry(
                    e.message, str(i), e.subject, e.message_structure, e.message_attributes,
                    e.group_id, e.deduplication_id))
            else:
                out.append(publication(e, id=str(i)))
        return await self._t.publish_batch(self.ref, out)

    async def subscribe_queue(self, queue: Any, *, raw: bool = False,
                              filter_policy: Mapping[str, Any] | str | None = None,
                              filter_scope: str | None = None) -> str:
        """Subscribe a queue (a ``Queue`` handle or an SQS ARN); returns the subscription
        ARN. ``raw``: the queue gets the bare message (and its attributes) instead of the
        JSON envelope. ``filter_scope``: ``MessageAttributes`` (default) or
        ``MessageBody``."""
        arn = queue if isinstance(queue, str) else queue.arn
        attrs: dict[str, str] = {}
        if raw:
            attrs["RawMessageDelivery"] = "true"
        if filter_policy is not None:
            attrs["FilterPolicy"] = filter_policy if isinstance(filter_policy, str) \
                else json.dumps(filter_policy)
        if filter_scope is not None:
            attrs["FilterPolicyScope"] = filter_scope
        return await self._t.subscribe(self.ref, "sqs", arn, attrs)

    async def subscribe_callable(
        self, handler: Handler, *, name: str = "handler",
        filter_policy: Mapping[str, Any] | str | None = None, filter_scope: str | None = None,
        visibility_timeout_s: int = 30, max_receive_count: int | None = None,
    ) -> CallableSubscriber:
        """Run ``handler`` in this process for each message of the topic (the local
        stand-in for a Lambda subscription): a queue named after the topic and ``name``
        is subscribed and consumed here until the client closes. The handler gets the
        SNS envelope as a dict; raising retries the message after
        ``visibility_timeout_s``, up to ``max_receive_count`` tries (then it goes to the
        queue's dead-letter queue, ``<queue>-dlq``)."""
        if self._client is None:
            raise RuntimeError("subscribe_callable needs a Topic made by a Client")
        client = self._client
        qname = queue_name(self.name, name)
        dlq = None
        if max_receive_count is not None:
            fifo = qname.endswith(".fifo")
            dlq_name = (qname.removesuffix(".fifo")[:71] + "-dlq.fifo" if fifo
                        else qname[:76] + "-dlq")
            dlq = await client.create_queue(dlq_name)
        queue = await client.create_queue(
            qname, visibility_timeout_s=visibility_timeout_s,
            dead_letter_queue=(dlq, max_receive_count) if dlq is not None and
            max_receive_count is not None else None)
        arn = await self.subscribe_queue(queue, filter_policy=filter_policy,
                                         filter_scope=filter_scope)
        subscriber = CallableSubscriber(arn, queue, handler)
        client.track(subscriber)
        return subscriber

    async def subscribe(self, protocol: str, endpoint: str,
                        attributes: Mapping[str, str] | None = None) -> str:
        return await self._t.subscribe(self.ref, protocol, endpoint, attributes or {})

    async def unsubscribe(self, subscription_arn: str) -> None:
        await self._t.unsubscribe(subscription_arn)

    async def subscriptions(self) -> list[dict[str, str]]:
        """SubscriptionArn, Protocol and Endpoint of each subscription."""
        return await self._t.topic_subscriptions(self.ref)

    async def attributes(self) -> dict[str, str]:
        return await self._t.topic_attributes(self.ref)

    async def set_attribute(self, name: str, value: str) -> None:
        await self._t.set_topic_attribute(self.ref, name, value)

    async def delete(self) -> None:
        await self._t.delete_topic(self.ref)

    def __repr__(self) -> str:
        return f"Topic({self.name!r})"
