"""Delivers topic messages to ``http``/``https`` subscriptions, with SNS's retry policy.

A publish hands its HTTP/S deliveries to the topic's retry queue (``httpq``, see
``broker.engine.topics``); subscribing an endpoint queues its SubscriptionConfirmation
there too. The server's :class:`HttpDeliverer` claims what is due (a claim pushes the
item ahead by the attempt timeout, so a server that dies mid-attempt leaves it to be
retried), POSTs it, and records the outcome: delivered (a 2xx), or retried on the
subscription's delivery policy; when the retries are used up the message goes to the
subscription's dead-letter queue (``RedrivePolicy``) or is dropped, as SNS does.

Each attempt runs as its own task, at most ``PER_ENDPOINT`` at once per endpoint and
``MAX_CONCURRENT`` in all, with a timeout: a slow or failing endpoint does not hold up
the others.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
import msgpack

from broker import errors
from broker.engine import Engine, delivery_policy
from broker.engine.clock import clock_arg
from broker.engine.keys import AccountKeys, TopicKeys
from broker.engine.records import as_text
from broker.engine.topic_admin import Subscription, TopicRef
from broker.server.periodic import PeriodicTask

log = logging.getLogger(__name__)

#: seconds between two looks for due deliveries
DEFAULT_INTERVAL_S = 0.25
#: one attempt's timeout (SNS gives an endpoint 15 s)
ATTEMPT_TIMEOUT_S = 15.0
MAX_CONCURRENT = 64
PER_ENDPOINT = 8
USER_AGENT = "Amazon Simple Notification Service Agent"


class HttpDeliverer(PeriodicTask):
    """Owns the delivery loop and its attempt tasks: ``start()``, ``await close()``."""

    name = "redcurrent-http-delivery"

    def __init__(self, engine: Engine, accounts: Sequence[str], *,
                 interval_s: float = DEFAULT_INTERVAL_S,
                 attempt_timeout_s: float = ATTEMPT_TIMEOUT_S) -> None:
        super().__init__(interval_s)
        self._engine = engine
        self._accounts = tuple(accounts)
        self._timeout_s = attempt_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._attempts: set[asyncio.Task[None]] = set()
        self._claimed: set[tuple[TopicRef, str]] = set()
        """(topic, member) of the attempts under way: a claim that ran out while its
        attempt waited for an endpoint slot does not start a second one."""
        self._all = asyncio.Semaphore(MAX_CONCURRENT)
        self._endpoints: dict[str, asyncio.Semaphore] = {}
        self._rates: dict[str, tuple[float, int]] = {}
        """subscription id -> (start of its current second, deliveries in it)"""
        self.delivered = 0
        """Successful deliveries (for tests and metrics)."""
        self.failed = 0
        """Failed attempts (each retried, or dead-lettered after the last)."""
        self.dead_lettered = 0

    async def close(self) -> None:
        await super().close()
        await self.drain()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def drain(self) -> None:
        """Wait for the attempts under way."""
        while self._attempts:
            await asyncio.gather(*list(self._attempts), return_exceptions=True)

    async def run_once(self) -> int:
        """Start an attempt for every due delivery; returns how many were started."""
        started = 0
        now = self._now_ms()
        for account in self._accounts:
            due = cast("list[bytes]", await self._engine.redis.zrangebyscore(
                AccountKeys(account).http_due, "-inf", now, start=0, num=100))
            for name in (as_text(n) for n in due):
                started += await self._claim(TopicRef(account, name))
        return started

    async def _claim(self, topic: TopicRef) -> int:
        free = MAX_CONCURRENT - len(self._attempts)
        if free <= 0:
            return 0  # busy: what is due waits for the next round
        keys = TopicKeys(topic.account, topic.name)
        next_due, items = await self._engine.scripts.call(
            "http_claim", [keys.httpq, keys.httpmsg, keys.httptry],
            [clock_arg(self._engine.ctx.clock), free, int(self._timeout_s * 1000) + 5_000])
        await self._set_due(topic, int(next_due))
        started = 0
        for i in range(0, len(items), 3):
            key = (topic, as_text(items[i]))
            if key in self._claimed:
                continue  # its attempt is still waiting for an endpoint slot here
            self._claimed.add(key)
            task = asyncio.get_running_loop().create_task(self._attempt(
                topic, key[1], int(items[i + 1]), items[i + 2]))
            self._attempts.add(task)
            task.add_done_callback(self._attempts.discard)
            task.add_done_callback(functools.partial(self._release, key))
            started += 1
        return started

    def _release(self, key: tuple[TopicRef, str], _: asyncio.Task[None]) -> None:
        self._claimed.discard(key)

    async def _set_due(self, topic: TopicRef, head: int) -> None:
        due_key = AccountKeys(topic.account).http_due
        if head < 0 and not await self._engine.topic_admin.exists(topic):
            await self._engine.redis.zrem(due_key, topic.name)  # the topic was deleted
            if not await self._engine.topic_admin.exists(topic):
                return
        # an idle topic stays listed (a publish racing us could be lost): a minute on
        due = head if head >= 0 else self._now_ms() + 60_000
        await self._engine.redis.zadd(due_key, {topic.name: due})

    # -- one attempt ---------------------------------------------------------------------

    async def _attempt(self, topic: TopicRef, member: str, failures: int,
                       raw_record: bytes | str) -> None:
        first, _, sub_id = member.partition(" ")
        try:
            sub = await self._engine.topic_admin.get_subscription(topic, sub_id)
        except errors.NotFound:
            await self._result(topic, member, "done")  # unsubscribed meanwhile
            return
        await self._engine.topics.signer.ready()
        policy = await self._policy(topic, sub)
        wait = self._throttled(sub, policy.throttle) if first != "confirm" else 0.0
        if wait > 0:  # over maxReceivesPerSecond: not an attempt, just later
            await self._result(topic, member, "later", self._now_ms() + int(wait * 1000))
            return
        if first == "confirm":
            if sub.status == "confirmed":
                await self._result(topic, member, "done")
                return
            ok = await self._post(sub, *self._confirmation(topic, sub), policy.content_type)
        else:
            record = msgpack.unpackb(raw_record, raw=False) if raw_record else None
            if record is None:
                await self._result(topic, member, "done")
                return
            ok = await self._post(sub, *self._notification(topic, first, record, sub),
                                  policy.content_type)
        if ok:
            self.delivered += 1
            await self._result(topic, member, "done")
            return
        self.failed += 1
        delay = delivery_policy.retry_delay_s(policy.retry, failures + 1)
        if delay is not None:
            await self._result(topic, member, "retry", self._now_ms() + int(delay * 1000))
            return
        if first != "confirm":
            self.dead_lettered += 1
            await self._dead_letter(topic, first, sub, raw_record)
        await self._result(topic, member, "done")

    async def _dead_letter(self, topic: TopicRef, message_id: str, sub: Subscription,
                           raw_record: bytes | str) -> None:
        policy = sub.attributes.get("RedrivePolicy")
        if not policy:
            log.info("dropped message %s for %s after its retries", message_id, sub.endpoint)
            return
        target = json.loads(policy).get("deadLetterTargetArn", "")
        record = msgpack.unpackb(raw_record, raw=False)
        stored = await self._engine.topics.to_queue(
            topic, message_id, record, f"{sub.id}-dlq", target, False,
            self._engine.topic_admin.subscription_arn(sub))
        if not stored:
            log.warning("dead-letter queue %s of %s does not exist; message %s dropped",
                        target, sub.endpoint, message_id)

    async def _result(self, topic: TopicRef, member: str, mode: str, next_ms: int = 0) -> None:
        keys = TopicKeys(topic.account, topic.name)
        head = await self._engine.scripts.call(
            "http_result", [keys.httpq, keys.httpmsg, keys.httptry],
            [clock_arg(self._engine.ctx.clock), member, mode, next_ms])
        if int(head) >= 0:
            await self._engine.redis.zadd(AccountKeys(topic.account).http_due,
                                          {topic.name: int(head)}, lt=True)

    async def _policy(self, topic: TopicRef, sub: Subscription) -> delivery_policy.InEffect:
        raw = await self._engine.redis.hget(TopicKeys(topic.account, topic.name).meta,
                                            "DeliveryPolicy")
        return delivery_policy.effective(as_text(raw) if raw else None,
                                         sub.attributes.get("DeliveryPolicy"))

    def _throttled(self, sub: Subscription, throttle: Mapping[str, Any]) -> float:
        """Seconds to wait before this delivery may go out under the subscription's
        ``maxReceivesPerSecond`` (0: now); counts it when it may."""
        limit = throttle.get("maxReceivesPerSecond")
        if not limit:
            return 0.0
        now = time.monotonic()
        window, count = self._rates.get(sub.id, (now, 0))
        if now - window >= 1.0:
            window, count = now, 0
        if count >= int(limit):
            return 1.0 - (now - window)
        self._rates[sub.id] = (window, count + 1)
        return 0.0

    # -- requests ------------------------------------------------------------------------

    def _notification(self, topic: TopicRef, message_id: str, record: Mapping[str, Any],
                      sub: Subscription) -> tuple[str, dict[str, str]]:
        admin = self._engine.topic_admin
        body = self._engine.topics.body(topic, message_id, record, sub.raw,
                                        admin.subscription_arn(sub), sub.protocol)
        headers = {"x-amz-sns-message-type": "Notification",
                   "x-amz-sns-message-id": message_id,
                   "x-amz-sns-topic-arn": admin.topic_arn(topic),
                   "x-amz-sns-subscription-arn": admin.subscription_arn(sub)}
        if sub.raw:
            headers["x-amz-sns-rawdelivery"] = "true"
        return body, headers

    def _confirmation(self, topic: TopicRef, sub: Subscription) -> tuple[str, dict[str, str]]:
        admin = self._engine.topic_admin
        arn = admin.topic_arn(topic)
        message_id = str(uuid.uuid4())
        url = self._engine.topic_admin.public_url
        signer = self._engine.topics.signer
        message: dict[str, Any] = {
            "Type": "SubscriptionConfirmation", "MessageId": message_id,
            "Token": sub.token, "TopicArn": arn,
            "Message": f"You have chosen to subscribe to the topic {arn}.\nTo confirm the "
                       f"subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": f"{url}/?Action=ConfirmSubscription&TopicArn={arn}"
                            f"&Token={sub.token}",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "SignatureVersion": "1",
        }
        message["Signature"] = signer.sign(message, "1")
        message["SigningCertURL"] = signer.cert_url(url)
        body = json.dumps(message, separators=(",", ":"))
        return body, {"x-amz-sns-message-type": "SubscriptionConfirmation",
                      "x-amz-sns-message-id": message_id, "x-amz-sns-topic-arn": arn}

    async def _post(self, sub: Subscription, body: str, headers: dict[str, str],
                    content_type: str) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        gate = self._endpoints.setdefault(sub.endpoint, asyncio.Semaphore(PER_ENDPOINT))
        headers = {**headers, "Content-Type": content_type,
                   "User-Agent": USER_AGENT}
        async with gate, self._all:
            try:
                async with self._session.post(
                        sub.endpoint, data=body.encode(), headers=headers,
                        timeout=aiohttp.ClientTimeout(total=self._timeout_s)) as resp:
                    await resp.read()
                    return 200 <= resp.status < 300
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.debug("delivery to %s failed: %s", sub.endpoint, exc)
                return False

    def _now_ms(self) -> int:
        now = self._engine.ctx.clock.now_ms()
        return now if now is not None else int(time.time() * 1000)
