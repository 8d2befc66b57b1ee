"""What a topic handler gets: the SNS notification inside the queue message."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from broker.sdk import Message


@dataclass(frozen=True, slots=True)
class Notification:
    message: str
    """The published message."""
    subject: str | None = None
    topic_arn: str = ""
    message_id: str = ""
    """The SNS message id (the queue message has its own: ``queue_message.id``)."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Message attributes: name -> value."""
    queue_message: Message | None = None

    def json(self) -> Any:
        return json.loads(self.message)

    @classmethod
    def from_message(cls, m: Message, raw: bool) -> Notification:
        if raw:  # RawMessageDelivery: the body is the message, attributes are SQS's
            attrs = {k: str(v.get("StringValue", v.get("BinaryValue", "")))
                     for k, v in m.message_attributes.items()}
            return cls(m.body, None, "", m.id, attrs, m)
        env = json.loads(m.body)
        attrs = {k: str(v.get("Value", "")) for k, v in
                 (env.get("MessageAttributes") or {}).items()}
        return cls(env.get("Message", ""), env.get("Subject"), env.get("TopicArn", ""),
                   env.get("MessageId", ""), attrs, m)
