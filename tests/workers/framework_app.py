"""Worker apps for the framework's process tests. Each handler appends a JSON line per
event to the file named by ``WORKERS_TEST_LOG`` (start and end of each run)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time

from broker.sdk import Message
from workers import App, RetryPolicy


def log(**fields: object) -> None:
    with open(os.environ["WORKERS_TEST_LOG"], "a") as f:  # noqa: ASYNC230 (tiny appends)
        f.write(json.dumps({"pid": os.getpid(), "t": time.time(), **fields}) + "\n")


#: SIGKILL / SIGTERM mid-handler: each job takes WORKERS_TEST_JOB_S seconds
jobs = App(name="jobs")


@jobs.queue("jobs", concurrency=4)
async def job(message: Message) -> None:
    log(ev="start", id=message.id, body=message.body, rc=message.receive_count)
    await asyncio.sleep(float(os.environ.get("WORKERS_TEST_JOB_S", "1")))
    log(ev="end", id=message.id, body=message.body, rc=message.receive_count)


#: a 10-second handler on a queue whose visibility timeout is 2 s
slow = App(name="slow")


@slow.queue("slow", concurrency=2)
async def slow_job(message: Message) -> None:
    log(ev="start", id=message.id, rc=message.receive_count)
    await asyncio.sleep(10)
    log(ev="end", id=message.id, rc=message.receive_count)


#: always fails: retried with growing delays, then the DLQ takes it
failing = App(name="failing")


@failing.queue("failing", retry=RetryPolicy(base_s=1, max_delay_s=8))
def always_fails(message: Message) -> None:  # a plain function: runs in the thread pool
    log(ev="attempt", id=message.id, rc=message.receive_count)
    raise RuntimeError("boom")


#: FIFO: 20 concurrent handlers, random failures
fifo = App(name="fifo")


@fifo.queue("ordered.fifo", concurrency=20, retry=RetryPolicy(base_s=1, max_delay_s=1))
async def ordered(message: Message) -> None:
    await asyncio.sleep(random.uniform(0, 0.005))
    if random.random() < 0.1:
        log(ev="fail", group=message.group_id, body=message.body)
        raise RuntimeError("random failure")
    log(ev="done", group=message.group_id, body=message.body)
