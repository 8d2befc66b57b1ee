"""The stack's example worker: handles the ``orders`` queue (created when missing) and
the ``events`` topic's ``kind=order`` notifications (the topic, the queue
``example-events`` and the subscription are created when missing).

Run as ``workers run example_app:app --metrics-port 9100`` (the compose stack and
``deploy/local.sh`` do).
"""

from __future__ import annotations

import logging

from broker.sdk import Message
from workers import App, Notification, RetryPolicy

app = App(name="example")
log = logging.getLogger("example")


@app.queue("orders", concurrency=16, create=True,
           retry=RetryPolicy(base_s=2, max_delay_s=60))
async def handle_order(message: Message) -> None:
    log.info("order %s: %s", message.id, message.body[:80])


@app.topic("events", filter_policy={"kind": ["order"]})
async def on_order_event(n: Notification) -> None:
    log.info("event %s: %s", n.message_id, n.message[:80])
