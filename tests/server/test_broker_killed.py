"""``broker serve`` killed with SIGKILL while boto3 clients publish to a topic with
queue subscriptions: a restarted broker's dispatcher finishes the fan-outs the dead one
left, and every queue then holds each recorded message exactly once, including every
publish that was answered."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from broker.engine import Engine
from broker.engine.keys import TopicKeys
from broker.engine.topic_admin import TopicRef
from broker.types import QueueRef
from tests.server.helpers import REGION

ACCOUNT = "000000000000"
QUEUES = 6


def _start(redis_url: str, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker", "serve", "--port", "0", "--redis-url", redis_url,
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=cwd,
        env={**os.environ})
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("broker: serving "), first
    return proc, first.split()[2]


@pytest.mark.timeout(120)
async def test_broker_killed_mid_fan_out(plain_url: str, tmp_path: Path) -> None:
    async with Engine.from_url(plain_url) as engine:
        topic = TopicRef(ACCOUNT, "killed-broker")
        arn = await engine.topic_admin.create_topic(topic)
        queues = [QueueRef(ACCOUNT, f"killed-broker-{i}") for i in range(QUEUES)]
        for q in queues:
            await engine.admin.create_queue(q)
            await engine.topic_admin.subscribe(
                topic, "sqs", engine.identity.queue_arn(q.account, q.name))

        first, url = _start(plain_url, tmp_path)
        answered: list[str] = []
        lock = threading.Lock()
        enough = threading.Event()

        def publisher() -> None:
            sns = boto3.Session().client(
                "sns", endpoint_url=url, region_name=REGION, aws_access_key_id="t",
                aws_secret_access_key="t",
                config=Config(retries={"max_attempts": 1}, connect_timeout=2,
                              read_timeout=5))
            while True:
                try:
                    message_id = sns.publish(TopicArn=arn, Message="m")["MessageId"]
                except Exception:  # the broker died
                    sns.close()
                    return
                with lock:
                    answered.append(message_id)
                    if len(answered) >= 60:
                        enough.set()

        threads = [threading.Thread(target=publisher) for _ in range(4)]
        for t in threads:
            t.start()
        assert await asyncio.to_thread(enough.wait, 60)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert first.stdout is not None
        first.stdout.close()
        for t in threads:
            await asyncio.to_thread(t.join, 15)

        second, _ = _start(plain_url, tmp_path)  # its dispatcher finishes the fan-outs
        try:
            outq = TopicKeys(ACCOUNT, topic.name).outq
            deadline = time.monotonic() + 30
            while await engine.redis.zcard(outq):
                assert time.monotonic() < deadline, "the outbox was not finished"
                await asyncio.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            second.communicate(timeout=30)

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
        assert set(answered) <= set(seen[0]), "an answered publish was not delivered"
