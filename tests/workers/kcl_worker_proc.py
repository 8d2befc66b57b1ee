"""A stream consumer worker as a process, for the tests that kill workers:
``python -m tests.workers.kcl_worker_proc URL STREAM APP WORKER_ID LOG FAILOVER_S``.

It logs, as JSON lines, when each batch starts and ends (with its sequence numbers) and
every checkpoint written, so the test can check exclusivity, gaps and duplicates."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import IO

from broker.engine.stream_types import Record
from broker.sdk import Client
from workers.kcl import Checkpointer, ConsumerConfig, RecordProcessor, ShardInfo, StreamConsumer


class Logged(RecordProcessor):
    def __init__(self, out: IO[str], worker: str) -> None:
        self.out = out
        self.worker = worker
        self.shard = ""

    def log(self, **fields: object) -> None:
        self.out.write(json.dumps({"w": self.worker, "s": self.shard, **fields}) + "\n")
        self.out.flush()

    async def initialize(self, shard: ShardInfo) -> None:
        self.shard = shard.shard_id
        self.log(ev="init", at=shard.starting_position, t=time.time())

    async def process_records(self, records: list[Record], checkpointer: Checkpointer,
                              millis_behind_latest: int) -> None:
        self.log(ev="start", t=time.time())
        await asyncio.sleep(0.01)  # some work: processing intervals have a width
        self.log(ev="end", t=time.time(), seqs=[r.sequence_number for r in records])
        await checkpointer.checkpoint()
        self.log(ev="ckpt", seq=records[-1].sequence_number, t=time.time())

    async def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        await checkpointer.checkpoint()
        self.log(ev="shutdown", t=time.time())


async def main(url: str, stream: str, app: str, worker: str, path: str,
               failover_s: str) -> None:
    config = ConsumerConfig(failover_s=float(failover_s), idle_poll_s=0.05,
                            parent_poll_s=0.2, shard_sync_interval_s=2.0,
                            shutdown_timeout_s=2.0, handoff_timeout_s=4.0)
    with open(path, "a") as out:  # noqa: ASYNC230 (opened once, before any work)
        async with Client(url) as client:
            consumer = StreamConsumer(client, stream, app, lambda: Logged(out, worker),
                                      worker_id=worker, config=config)
            print("ready", flush=True)
            await consumer.run(handle_signals=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
