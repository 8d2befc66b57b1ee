"""SNS actions for the server: botocore-shaped request dicts in, response dicts out (the
query protocol's codec turns them into and from form fields and XML). No semantics of
their own: they translate to the engine's topic calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from broker import errors
from broker.engine import Engine
from broker.engine.topic_admin import Subscription, TopicRef
from broker.engine.topics import PublishEntry, PublishResult
from broker.server.caller import Caller

Params = dict[str, Any]
Result = dict[str, Any]
Handler = Callable[["SnsActions", Params, Caller], Awaitable[Result]]


def _tags(items: Any) -> dict[str, str]:
    return {t.get("Key", ""): t.get("Value", "") for t in items or []}


def _published(r: PublishResult) -> Result:
    out: Result = {"MessageId": r.message_id}
    if r.sequence_number:
        out["SequenceNumber"] = r.sequence_number
    return out


def _entry(p: Params, entry_id: str = "") -> PublishEntry:
    return PublishEntry(
        message=p.get("Message") or "", id=entry_id, subject=p.get("Subject"),
        message_structure=p.get("MessageStructure"),
        message_attributes=p.get("MessageAttributes") or {},
        group_id=p.get("MessageGroupId"), deduplication_id=p.get("MessageDeduplicationId"))


class SnsActions:
    """Dispatches SNS operations by name to the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.admin = engine.topic_admin

    async def handle(self, operation: str, params: Params, caller: Caller) -> Result:
        handler = _HANDLERS.get(operation)
        if handler is None:
            raise errors.InvalidParameter(
                f"Invalid parameter: Action Reason: {operation} is not supported by this "
                f"broker (topics, subscriptions to sqs/http/https, publishing and tags are)")
        return await handler(self, params, caller)

    def _topic(self, arn: str, caller: Caller) -> TopicRef:
        topic = self.admin.topic_from_arn(arn)
        self._own(topic.account, caller)
        return topic

    @staticmethod
    def _own(account: str, caller: Caller) -> None:
        if caller.authenticated and account != caller.account_id:
            raise errors.AuthorizationError(
                f"User: {caller.sender_id} is not authorized to access this resource")

    def _sub_arn(self, sub: Subscription) -> str:
        return self.admin.subscription_arn(sub) if sub.status == "confirmed" \
            else "PendingConfirmation"

    def _listed(self, sub: Subscription) -> Result:
        return {"SubscriptionArn": self._sub_arn(sub), "Owner": sub.owner,
                "Protocol": sub.protocol, "Endpoint": sub.endpoint,
                "TopicArn": self.admin.topic_arn(sub.topic)}

    # -- topics --------------------------------------------------------------------------

    async def create_topic(self, p: Params, c: Caller) -> Result:
        name = p["Name"]
        arn = await self.admin.create_topic(TopicRef(c.account_id, name),
                                            p.get("Attributes") or {}, _tags(p.get("Tags")))
        return {"TopicArn": arn}

    async def delete_topic(self, p: Params, c: Caller) -> Result:
        await self.admin.delete_topic(self._topic(p["TopicArn"], c))
        return {}

    async def list_topics(self, p: Params, c: Caller) -> Result:
        topics, token = await self.admin.list_topics(c.account_id, p.get("NextToken"))
        out: Result = {"Topics": [{"TopicArn": self.admin.topic_arn(t)} for t in topics]}
        if token:
            out["NextToken"] = token
        return out

    async def get_topic_attributes(self, p: Params, c: Caller) -> Result:
        return {"Attributes": await self.admin.get_attributes(self._topic(p["TopicArn"], c))}

    async def set_topic_attributes(self, p: Params, c: Caller) -> Result:
        await self.admin.set_attribute(self._topic(p["TopicArn"], c), p["AttributeName"],
                                       p.get("AttributeValue"))
        return {}

    # -- subscriptions -------------------------------------------------------------------

    async def subscribe(self, p: Params, c: Caller) -> Result:
        topic = self._topic(p["TopicArn"], c)
        sub = await self.admin.subscribe(topic, p["Protocol"], p.get("Endpoint"),
                                         p.get("Attributes") or {}, owner=c.account_id)
        if p.get("ReturnSubscriptionArn"):
            return {"SubscriptionArn": self.admin.subscription_arn(sub)}
        return {"SubscriptionArn": self._sub_arn(sub).replace(
            "PendingConfirmation", "pending confirmation")}

    async def confirm_subscription(self, p: Params, c: Caller) -> Result:
        sub = await self.admin.confirm(self._topic(p["TopicArn"], c), p["Token"])
        return {"SubscriptionArn": self.admin.subscription_arn(sub)}

    async def unsubscribe(self, p: Params, c: Caller) -> Result:
        topic, sub_id = self.admin.subscription_from_arn(p["SubscriptionArn"])
        self._own(topic.account, c)
        await self.admin.unsubscribe(topic, sub_id)
        return {}

    async def list_subscriptions(self, p: Params, c: Caller) -> Result:
        subs, token = await self.admin.list_subscriptions(c.account_id, p.get("NextToken"))
        out: Result = {"Subscriptions": [self._listed(s) for s in subs]}
        if token:
            out["NextToken"] = token
        return out

    async def list_subscriptions_by_topic(self, p: Params, c: Caller) -> Result:
        subs, token = await self.admin.list_subscriptions_by_topic(
            self._topic(p["TopicArn"], c), p.get("NextToken"))
        out: Result = {"Subscriptions": [self._listed(s) for s in subs]}
        if token:
            out["NextToken"] = token
        return out

    async def get_subscription_attributes(self, p: Params, c: Caller) -> Result:
        topic, sub_id = self.admin.subscription_from_arn(p["SubscriptionArn"])
        self._own(topic.account, c)
        sub = await self.admin.get_subscription(topic, sub_id)
        attrs = {
            "SubscriptionArn": self.admin.subscription_arn(sub), "Owner": sub.owner,
            "TopicArn": self.admin.topic_arn(topic), "Protocol": sub.protocol,
            "Endpoint": sub.endpoint, "PendingConfirmation": str(
                sub.status != "confirmed").lower(),
            "ConfirmationWasAuthenticated": str(sub.protocol == "sqs").lower(),
            "RawMessageDelivery": sub.attributes.get("RawMessageDelivery", "false"),
            "SubscriptionPrincipal": f"arn:aws:iam::{sub.owner}:user/redcurrent",
        }
        for name in ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy"):
            if sub.attributes.get(name):
                attrs[name] = sub.attributes[name]
        if "FilterPolicy" in attrs:
            attrs["FilterPolicyScope"] = sub.attributes.get("FilterPolicyScope",
                                                            "MessageAttributes")
        return {"Attributes": attrs}

    async def set_subscription_attributes(self, p: Params, c: Caller) -> Result:
        topic, sub_id = self.admin.subscription_from_arn(p["SubscriptionArn"])
        self._own(topic.account, c)
        await self.admin.set_subscription_attribute(topic, sub_id, p["AttributeName"],
                                                    p.get("AttributeValue"))
        return {}

    # -- publishing ----------------------------------------------------------------------

    async def publish(self, p: Params, c: Caller) -> Result:
        arn = p.get("TopicArn") or p.get("TargetArn")
        if p.get("PhoneNumber") is not None:
            raise errors.InvalidParameter(
                "Invalid parameter: PhoneNumber Reason: SMS is not supported by this broker")
        if not arn:
            raise errors.InvalidParameter(
                "Invalid parameter: TopicArn or TargetArn Reason: no value for required "
                "parameter")
        result = await self.engine.topics.publish(self._topic(arn, c), _entry(p))
        return _published(result)

    async def publish_batch(self, p: Params, c: Caller) -> Result:
        topic = self._topic(p["TopicArn"], c)
        entries = [_entry(e, e.get("Id", "")) for e in p.get("PublishBatchRequestEntries") or []]
        res = await self.engine.topics.publish_batch(topic, entries)
        return {"Successful": [{"Id": i, **_published(r)} for i, r in res.successful.items()],
                "Failed": [{"Id": f.id, "Code": f.code, "Message": f.message,
                            "SenderFault": f.sender_fault} for f in res.failed]}

    # -- tags ----------------------------------------------------------------------------

    def _resource(self, arn: str, c: Caller) -> TopicRef:
        try:
            return self._topic(arn, c)
        except errors.InvalidParameter:
            raise errors.InvalidParameter("Invalid parameter: ResourceArn") from None

    async def tag_resource(self, p: Params, c: Caller) -> Result:
        await self.admin.tag(self._resource(p["ResourceArn"], c), _tags(p.get("Tags")))
        return {}

    async def untag_resource(self, p: Params, c: Caller) -> Result:
        await self.admin.untag(self._resource(p["ResourceArn"], c), p.get("TagKeys") or [])
        return {}

    async def list_tags_for_resource(self, p: Params, c: Caller) -> Result:
        tags = await self.admin.list_tags(self._resource(p["ResourceArn"], c))
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


_HANDLERS: Mapping[str, Handler] = {
    "CreateTopic": SnsActions.create_topic,
    "DeleteTopic": SnsActions.delete_topic,
    "ListTopics": SnsActions.list_topics,
    "GetTopicAttributes": SnsActions.get_topic_attributes,
    "SetTopicAttributes": SnsActions.set_topic_attributes,
    "Subscribe": SnsActions.subscribe,
    "ConfirmSubscription": SnsActions.confirm_subscription,
    "Unsubscribe": SnsActions.unsubscribe,
    "ListSubscriptions": SnsActions.list_subscriptions,
    "ListSubscriptionsByTopic": SnsActions.list_subscriptions_by_topic,
    "GetSubscriptionAttributes": SnsActions.get_subscription_attributes,
    "SetSubscriptionAttributes": SnsActions.set_subscription_attributes,
    "Publish": SnsActions.publish,
    "PublishBatch": SnsActions.publish_batch,
    "TagResource": SnsActions.tag_resource,
    "UntagResource": SnsActions.untag_resource,
    "ListTagsForResource": SnsActions.list_tags_for_resource,
}
