"""``broker demo``: a short tour of the queue semantics, printed as it happens."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import replace

from broker.config import Settings
from broker.engine import Engine, Identity
from broker.runtime import redis_url
from broker.sdk import Client, message
from broker.server.app import BrokerServer


async def run_demo_stack(settings: Settings, say: Callable[[str], None] = print) -> None:
    """The main job: Redis (embedded unless configured), a broker server on a free port,
    and the demo run through it over HTTP, as any AWS SDK would talk to it."""
    identity = Identity(region=settings.region, account_id=settings.account_id)
    async with (
        redis_url(settings) as url,
        Engine.from_url(url, identity=identity) as engine,
        BrokerServer(engine, replace(settings, port=0)) as server,
    ):
        say(f"broker serving {server.url} on {url.rpartition('@')[2]}")
        await run_demo(server.url, say)
        say(f"done. boto3 and the aws CLI work against `broker serve` the same way, e.g. "
            f"aws sqs list-queues --endpoint-url http://127.0.0.1:{settings.port}")


async def run_demo(url: str, say: Callable[[str], None] = print) -> None:
    """Send, receive, delete, and show visibility timeout, long polling and a DLQ."""
    async with Client(url) as client:
        say(f"connected to {url}")
        run = secrets.token_hex(3)  # own names per run: deleted names rest for 60 s
        dlq = await client.create_queue(f"demo-{run}-dead-letters")
        q = await client.create_queue(f"demo-{run}-orders", visibility_timeout_s=1,
                                      dead_letter_queue=(dlq, 2))
        say(f"queue {q.name} ready: {q.url}")

        sent = await q.send_batch([message(f"order #{i}", attributes={"n": i})
                                   for i in range(1, 4)])
        say(f"sent {len(sent.successful)} messages in one batch")

        got = await q.receive(max_messages=10)
        for m in got:
            say(f"received {m.body!r} (receive count {m.receive_count}, "
                f"attribute n={m.message_attributes['n']['StringValue']})")
        await q.delete_batch([m.receipt_handle for m in got[:-1]])
        say(f"deleted {len(got) - 1}; left {got[-1].body!r} un-acknowledged")

        say("waiting for its 1 s visibility timeout to run out ...")
        again = await q.receive(wait_time_s=5)
        say(f"redelivered {again[0].body!r} (receive count {again[0].receive_count})")
        await asyncio.sleep(1.1)
        moved = await q.receive(wait_time_s=1)
        in_dlq = await dlq.receive(wait_time_s=2)
        say(f"after 2 failed receives it moved to {dlq.name}: "
            f"{[m.body for m in in_dlq]} (source receive returned {len(moved)})")
        for m in in_dlq:
            await m.delete()

        async def late_send() -> None:
            await asyncio.sleep(0.3)
            await q.send("wake up")

        started = time.perf_counter()
        sender = asyncio.create_task(late_send())
        woke = await q.receive(wait_time_s=10)
        await sender
        say(f"long poll returned {woke[0].body!r} {time.perf_counter() - started:.3f} s after "
            f"it started (the send came at 0.3 s)")
        await woke[0].delete()
        attrs = await q.attributes()
        say(f"queue now holds {attrs['ApproximateNumberOfMessages']} visible, "
            f"{attrs['ApproximateNumberOfMessagesNotVisible']} in flight")
        await q.delete_queue()
        await dlq.delete_queue()
        say("deleted the demo queues; done")
