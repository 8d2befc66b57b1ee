"""SNS topic and subscription management: create, delete, list, attributes, tags,
subscribe, confirm, unsubscribe."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from broker import errors
from broker.engine import filter_policy, sns_validation
from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import AccountKeys, TopicKeys
from broker.engine.records import as_text

#: ListTopics / ListSubscriptions page size (as SNS)
PAGE = 100
#: subscriptions with a filter policy per topic (FilterPolicyLimitExceeded beyond)
MAX_FILTER_POLICIES = 200
#: tags per topic
MAX_TAGS = 50
#: meta fields that are bookkeeping, never shown as attributes
_INTERNAL = {"arn", "created_ms", "modified_ms", "seq", "policies"}


@dataclass(frozen=True, slots=True)
class TopicRef:
    """Identifies one topic: the account that owns it and its name."""

    account: str
    name: str

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription as stored (see subscribe.lua)."""

    id: str
    topic: TopicRef
    protocol: str
    endpoint: str
    attributes: dict[str, str]
    status: str
    """``confirmed`` or ``pending``."""
    token: str
    owner: str

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery") == "true"


def unpack_subscription(topic: TopicRef, sub_id: str, raw: bytes | str) -> Subscription:
    d = msgpack.unpackb(raw, raw=False)
    return Subscription(sub_id, topic, d["protocol"], d["endpoint"], dict(d["attributes"]),
                        d["status"], d.get("token", ""), d.get("owner", topic.account))


def _not_found() -> errors.NotFound:
    return errors.NotFound("Topic does not exist")


class TopicAdmin:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.auto_confirm: tuple[str, ...] = ()
        """HTTP/S endpoint URL prefixes trusted to be subscribed without the confirmation
        handshake (the broker server sets them from its configuration)."""
        self.public_url = ctx.identity.endpoint_url
        """Where clients reach the broker server (SubscribeURL, UnsubscribeURL); the
        server sets it to the address it listens on."""

    # -- ARNs ----------------------------------------------------------------------------

    def topic_arn(self, topic: TopicRef) -> str:
        return f"arn:aws:sns:{self._ctx.identity.region}:{topic.account}:{topic.name}"

    def subscription_arn(self, sub: Subscription) -> str:
        return f"{self.topic_arn(sub.topic)}:{sub.id}"

    @staticmethod
    def topic_from_arn(arn: str) -> TopicRef:
        """The topic an SNS topic ARN names; InvalidParameter otherwise."""
        parts = arn.split(":") if isinstance(arn, str) else []
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or not parts[4] \
                or not parts[5]:
            raise errors.InvalidParameter("Invalid parameter: TopicArn")
        return TopicRef(parts[4], parts[5])

    @staticmethod
    def subscription_from_arn(arn: str) -> tuple[TopicRef, str]:
        """(topic, subscription id) of a subscription ARN; InvalidParameter otherwise."""
        parts = arn.split(":") if isinstance(arn, str) else []
        if len(parts) != 7 or parts[:3] != ["arn", "aws", "sns"] or not parts[6]:
            raise errors.InvalidParameter("Invalid parameter: SubscriptionArn")
        return TopicRef(parts[4], parts[5]), parts[6]

    # -- topics --------------------------------------------------------------------------

    async def create_topic(self, topic: TopicRef, attributes: Mapping[str, str] | None = None,
                           tags: Mapping[str, str] | None = None) -> str:
        """CreateTopic (idempotent with the same attributes); returns the topic ARN."""
        given = sns_validation.validate_topic_attributes(
            dict(attributes or {}), creating=True, topic_name=topic.name)
        sns_validation.validate_topic_name(topic.name, given.get("FifoTopic") == "true")
        if tags:
            sns_validation.validate_tags(tags, MAX_TAGS)
        keys = TopicKeys(topic.account, topic.name)
        defaults = {"SignatureVersion": "1"}
        if topic.fifo:
            defaults.update(ContentBasedDeduplication="false", FifoThroughputScope="Topic")
        rest = {**{k: v for k, v in defaults.items() if k not in given},
                "seq": "0", "policies": "0", "arn": self.topic_arn(topic)}
        args: list[Any] = [
            clock_arg(self._ctx.clock), "InvalidParameter",
            "Invalid parameter: Attributes Reason: Topic already exists with different "
            "attributes: ", len(given)]
        for k, v in [*given.items(), *rest.items()]:
            args += [k, v]
        created = await self._ctx.scripts.call("create", [keys.meta], args)
        await self._ctx.redis.zadd(AccountKeys(topic.account).topics, {topic.name: 0})
        if tags and created:
            await self.tag(topic, tags)
        return self.topic_arn(topic)

    async def delete_topic(self, topic: TopicRef) -> None:
        """DeleteTopic: a topic that does not exist is a no-op, as in SNS."""
        keys = TopicKeys(topic.account, topic.name)
        ids = await self._ctx.scripts.call("topic_delete", keys.all_data(), [])
        acct = AccountKeys(topic.account)
        await self._ctx.redis.zrem(acct.topics, topic.name)
        await self._ctx.redis.zrem(acct.http_due, topic.name)
        if ids:
            await self._ctx.redis.zrem(acct.subscriptions,
                                       *[f"{topic.name}:{as_text(i)}" for i in ids])

    async def list_topics(self, account: str, next_token: str | None = None
                          ) -> tuple[list[TopicRef], str | None]:
        """ListTopics: 100 per page, in name order."""
        names, token = await self._page(AccountKeys(account).topics, next_token)
        return [TopicRef(account, n) for n in names], token

    async def exists(self, topic: TopicRef) -> bool:
        return bool(await self._ctx.redis.exists(TopicKeys(topic.account, topic.name).meta))

    async def get_attributes(self, topic: TopicRef) -> dict[str, str]:
        keys = TopicKeys(topic.account, topic.name)
        async with self._ctx.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.meta)
            pipe.hvals(keys.subs)
            meta_raw, subs_raw = await pipe.execute()
        if not meta_raw:
            raise _not_found()
        meta = {as_text(k): as_text(v) for k, v in meta_raw.items()}
        confirmed = pending = 0
        for raw in subs_raw:
            if msgpack.unpackb(raw, raw=False)["status"] == "confirmed":
                confirmed += 1
            else:
                pending += 1
        arn = meta["arn"]
        out = {k: v for k, v in meta.items() if k not in _INTERNAL}
        out.update({
            "TopicArn": arn, "Owner": topic.account,
            "Policy": out.get("Policy") or sns_validation.default_topic_policy(arn,
                                                                                 topic.account),
            "EffectiveDeliveryPolicy": out.get("DeliveryPolicy")
            or sns_validation.DEFAULT_EFFECTIVE_DELIVERY_POLICY,
            "SubscriptionsConfirmed": str(confirmed), "SubscriptionsPending": str(pending),
            "SubscriptionsDeleted": "0",
        })
        out.setdefault("DisplayName", "")
        return out

    async def set_attribute(self, topic: TopicRef, name: str, value: str | None) -> None:
        """SetTopicAttributes (one attribute; ``None`` or '' removes it)."""
        given = sns_validation.validate_topic_attributes(
            {name: value or ""}, creating=False, topic_name=topic.name)
        keys = TopicKeys(topic.account, topic.name)
        args: list[Any] = [clock_arg(self._ctx.clock), "NotFound", "Topic does not exist"]
        for k, v in given.items():
            args += [k, v]
        await self._ctx.scripts.call("set_attributes", [keys.meta], args)

    # -- tags ----------------------------------------------------------------------------

    def _tag_args(self) -> list[Any]:
        return [MAX_TAGS, "ResourceNotFound", "Resource does not exist",
                "TagLimitExceeded",
                "Could not complete request: tag quota of per resource exceeded"]

    async def tag(self, topic: TopicRef, tags: Mapping[str, str]) -> None:
        sns_validation.validate_tags(tags, MAX_TAGS)
        keys = TopicKeys(topic.account, topic.name)
        args: list[Any] = ["set", *self._tag_args()]
        for k, v in tags.items():
            args += [k, v]
        await self._ctx.scripts.call("tag", [keys.meta, keys.tags], args)

    async def untag(self, topic: TopicRef, tag_keys: Sequence[str]) -> None:
        keys = TopicKeys(topic.account, topic.name)
        await self._ctx.scripts.call("tag", [keys.meta, keys.tags],
                                     ["del", *self._tag_args(), *tag_keys])

    async def list_tags(self, topic: TopicRef) -> dict[str, str]:
        keys = TopicKeys(topic.account, topic.name)
        async with self._ctx.redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.meta)
            pipe.hgetall(keys.tags)
            exists, tags = await pipe.execute()
        if not exists:
            raise errors.ResourceNotFound("Resource does not exist")
        return {as_text(k): as_text(v) for k, v in tags.items()}

    # -- subscriptions -------------------------------------------------------------------

    async def subscribe(self, topic: TopicRef, protocol: str, endpoint: str | None,
                        attributes: Mapping[str, str] | None = None,
                        owner: str | None = None) -> Subscription:
        """Subscribe. ``sqs`` subscriptions are confirmed at once; the same endpoint
        subscribed again with the same attributes returns the existing subscription."""
        attrs = sns_validation.validate_subscription(topic.fifo, protocol, endpoint,
                                                     dict(attributes or {}))
        if filter_policy.is_empty(attrs.get("FilterPolicy")):
            attrs.pop("FilterPolicy", None)
        else:
            filter_policy.compile_policy(
                attrs["FilterPolicy"], attrs.get("FilterPolicyScope", "MessageAttributes"),
                "Invalid parameter: Attributes Reason: ")
        keys = TopicKeys(topic.account, topic.name)
        sub_id = str(uuid.uuid4())
        trusted = protocol == "sqs" or any(str(endpoint).startswith(p)
                                           for p in self.auto_confirm)
        token = "" if protocol == "sqs" else uuid.uuid4().hex + uuid.uuid4().hex
        status = "confirmed" if trusted else "pending"
        record = {"protocol": protocol, "endpoint": endpoint, "attributes": attrs,
                  "status": status, "token": token, "owner": owner or topic.account}
        reply = await self._ctx.scripts.call(
            "subscribe", [keys.meta, keys.subs, keys.index, keys.httpq],
            [sub_id, protocol, endpoint, msgpack.packb(record),
             1 if attrs.get("FilterPolicy") else 0, MAX_FILTER_POLICIES, token,
             clock_arg(self._ctx.clock), 0 if trusted else 1])
        if not trusted:
            await self._ctx.redis.zadd(AccountKeys(topic.account).http_due,
                                       {topic.name: 0}, lt=True)
        if int(reply[0]) == 0:
            existing = unpack_subscription(topic, as_text(reply[1]), reply[2])
            if existing.attributes != attrs:
                raise errors.InvalidParameter(
                    "Invalid parameter: Attributes Reason: Subscription already exists with "
                    "different attributes")
            return existing
        await self._ctx.redis.zadd(AccountKeys(topic.account).subscriptions,
                                   {f"{topic.name}:{sub_id}": 0})
        return Subscription(sub_id, topic, protocol, str(endpoint), attrs, status, token,
                            owner or topic.account)

    async def confirm(self, topic: TopicRef, token: str) -> Subscription:
        """ConfirmSubscription by the token sent to the endpoint."""
        keys = TopicKeys(topic.account, topic.name)
        if not await self._ctx.redis.exists(keys.meta):
            raise _not_found()
        found = await self._ctx.scripts.call(
            "subscription_update", [keys.meta, keys.subs, keys.index],
            ["", "confirm", token, MAX_FILTER_POLICIES])
        if not found or found == 0:
            raise errors.InvalidParameter("Invalid parameter: Token")
        return await self.get_subscription(topic, as_text(found))

    async def unsubscribe(self, topic: TopicRef, sub_id: str) -> None:
        """Unsubscribe; an unknown subscription is NotFound."""
        keys = TopicKeys(topic.account, topic.name)
        removed = await self._ctx.scripts.call(
            "unsubscribe", [keys.meta, keys.subs, keys.index], [sub_id])
        if not int(removed):
            raise errors.NotFound("Subscription does not exist")
        await self._ctx.redis.zrem(AccountKeys(topic.account).subscriptions,
                                   f"{topic.name}:{sub_id}")

    async def get_subscription(self, topic: TopicRef, sub_id: str) -> Subscription:
        raw = await self._ctx.redis.hget(TopicKeys(topic.account, topic.name).subs, sub_id)
        if raw is None:
            raise errors.NotFound("Subscription does not exist")
        return unpack_subscription(topic, sub_id, raw)

    async def subscriptions(self, topic: TopicRef) -> list[Subscription]:
        """Every subscription of a topic (its publish fan-out reads these)."""
        raw = await self._ctx.redis.hgetall(TopicKeys(topic.account, topic.name).subs)
        return [unpack_subscription(topic, as_text(k), v) for k, v in raw.items()]

    async def set_subscription_attribute(self, topic: TopicRef, sub_id: str, name: str,
                                         value: str | None) -> None:
        sub = await self.get_subscription(topic, sub_id)
        if name == "FilterPolicy" and filter_policy.is_empty(value):
            value = ""
        attrs = {**sub.attributes, name: value or ""}
        if name not in sns_validation.SUBSCRIPTION_ATTRIBUTES:
            raise errors.InvalidParameter("Invalid parameter: AttributeName")
        checked = sns_validation.validate_subscription(topic.fifo, sub.protocol, sub.endpoint,
                                                       {k: v for k, v in attrs.items() if v})
        if name in ("FilterPolicy", "FilterPolicyScope") and checked.get("FilterPolicy"):
            filter_policy.compile_policy(checked["FilterPolicy"],
                                         checked.get("FilterPolicyScope", "MessageAttributes"))
        keys = TopicKeys(topic.account, topic.name)
        found = await self._ctx.scripts.call(
            "subscription_update", [keys.meta, keys.subs, keys.index],
            [sub_id, "set", name, checked.get(name, ""), MAX_FILTER_POLICIES])
        if not found or found == 0:
            raise errors.NotFound("Subscription does not exist")

    async def list_subscriptions(self, account: str, next_token: str | None = None
                                 ) -> tuple[list[Subscription], str | None]:
        """ListSubscriptions: 100 per page."""
        members, token = await self._page(AccountKeys(account).subscriptions, next_token)
        out = []
        for m in members:
            name, _, sub_id = m.rpartition(":")
            raw = await self._ctx.redis.hget(TopicKeys(account, name).subs, sub_id)
            if raw is not None:
                out.append(unpack_subscription(TopicRef(account, name), sub_id, raw))
        return out, token

    async def list_subscriptions_by_topic(
        self, topic: TopicRef, next_token: str | None = None
    ) -> tuple[list[Subscription], str | None]:
        if not await self.exists(topic):
            raise _not_found()
        subs = sorted(await self.subscriptions(topic), key=lambda s: s.id)
        if next_token:
            subs = [s for s in subs if s.id > next_token]
        if len(subs) > PAGE:
            return subs[:PAGE], subs[PAGE - 1].id
        return subs, None

    # -- helpers -------------------------------------------------------------------------

    async def _page(self, key: str, next_token: str | None) -> tuple[list[str], str | None]:
        lo = f"({next_token}" if next_token else "-"
        raw = await self._ctx.redis.zrangebylex(key, lo, "+", start=0, num=PAGE + 1)
        names = [as_text(n) for n in raw]
        token = names[PAGE - 1] if len(names) > PAGE else None
        return names[:PAGE], token
