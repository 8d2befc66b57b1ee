"""A publishing process killed with SIGKILL in the middle of its fan-outs: after the
dispatcher's pass every subscribed queue holds each recorded message exactly once, and
every publish that returned is among them. Standalone and cluster (where the topic and
its queues live in different hash slots)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap

from broker.engine import Engine
from broker.engine.topic_admin import TopicRef
from broker.types import QueueRef
from tests.conftest import TEST_LIMITS

ACCOUNT = "000000000000"
QUEUES = 6

PUBLISHER = textwrap.dedent("""
    import asyncio, sys
    from broker.engine import Engine
    from broker.engine.topic_admin import TopicRef
    from broker.engine.topics import PublishEntry

    async def main():
        async with Engine.from_url(sys.argv[1]) as engine:
            topic = TopicRef("000000000000", "doomed")
            i = 0
            while True:
                r = await engine.topics.publish(topic, PublishEntry(f"m{i}"))
                print("ok", r.message_id, flush=True)
                i += 1

    asyncio.run(main())
""")


async def _publish_then_kill(redis_url: str, delay_s: float) -> list[str]:
    """Run a publisher, let 20 publishes return, SIGKILL it ``delay_s`` later (most of a
    publish is its fan-out, so the kill usually lands in one); returns their ids."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PUBLISHER, redis_url, stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()})
    returned: list[str] = []
    assert proc.stdout is not None
    while len(returned) < 20:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("ok "), line
        returned.append(line.split()[1])
    await asyncio.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    return returned


async def test_killed_publisher(redis_url: str) -> None:
    async with Engine.from_url(redis_url, limits=TEST_LIMITS) as engine:
        topic = TopicRef(ACCOUNT, "doomed")
        await engine.topic_admin.create_topic(topic)
        queues = [QueueRef(ACCOUNT, f"doomed-{i}") for i in range(QUEUES)]
        for q in queues:
            await engine.admin.create_queue(q)
            await engine.topic_admin.subscribe(
                topic, "sqs", engine.identity.queue_arn(q.account, q.name))

        returned: list[str] = []
        for delay in (0.0005, 0.0015, 0.003):
            returned += await _publish_then_kill(redis_url, delay)
            await engine.topics.redeliver(topic, older_than_ms=0)  # the dispatcher's pass
        seen: list[list[str]] = []
        for q in queues:
            ids = []
            while got := await engine.queues.receive(q, max_messages=10):
                ids += [json.loads(m.body)["MessageId"] for m in got]
                await engine.queues.delete_batch(
                    q, [(str(i), m.receipt_handle) for i, m in enumerate(got)])
            assert len(ids) == len(set(ids)), "a queue got a message twice"
            seen.append(sorted(ids))
        assert all(s == seen[0] for s in seen), "queues disagree on what was published"
        assert set(returned) <= set(seen[0]), "a publish that returned was not delivered"
