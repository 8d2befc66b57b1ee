"""Producer and consumer through the SDK on a local Redis Cluster while the master of the
queue's slot is killed: ``python -m tests.deploy.failover_traffic SEED VICTIM PIDFILE KEY
PORT...``. Prints one JSON line of what happened (see test_cluster_failover.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

from broker.sdk import Client
from tests.conftest import TEST_LIMITS
from tests.deploy.test_cluster_failover import slot_master


async def main(seed: int, victim: int, pidfile: str, key: str, ports: list[int]) -> None:
    acked: list[str] = []
    received: set[str] = set()
    errors = {"send": 0, "receive": 0}
    stop = asyncio.Event()
    consumed = asyncio.Event()
    async with Client(f"redis+cluster://127.0.0.1:{seed}", limits=TEST_LIMITS) as client:
        q = await client.create_queue("failover", visibility_timeout_s=5)

        async def produce() -> None:
            i = 0
            while not stop.is_set():
                body = f"m{i}"
                try:
                    await q.send(body)
                    acked.append(body)
                    i += 1
                except Exception:
                    errors["send"] += 1
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.002)

        async def consume() -> None:
            while not consumed.is_set():
                try:
                    msgs = await q.receive(10, wait_time_s=1)
                    if msgs:
                        await q.delete_batch([m.receipt_handle for m in msgs])
                        received.update(m.body for m in msgs)
                except Exception:
                    errors["receive"] += 1
                    await asyncio.sleep(0.05)

        tasks = [asyncio.create_task(produce()), asyncio.create_task(consume())]
        await asyncio.sleep(2)
        before = len(acked)
        with open(pidfile) as f:  # noqa: ASYNC230 (a few bytes, once)
            os.kill(int(f.read()), signal.SIGKILL)
        killed = time.monotonic()
        others = [p for p in ports if p != victim]
        while True:  # the replica is promoted and serves the slot
            master = await asyncio.to_thread(slot_master, others, key)
            if master is not None and master != victim:
                break
            if time.monotonic() - killed > 30:
                raise SystemExit("no failover within 30 s")
            await asyncio.sleep(0.1)
        failover_s = time.monotonic() - killed
        at_failover = len(acked)
        await asyncio.sleep(3)
        stop.set()
        await tasks[0]
        deadline = time.monotonic() + 20  # drain what is left
        while set(acked) - received and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        consumed.set()
        await tasks[1]
    lost = sorted(set(acked) - received, key=lambda b: int(b[1:]))
    missing_after = sorted({f"m{i}" for i in range(at_failover + 1, len(acked))} - received)
    print(json.dumps({"failover_s": failover_s, "acked": len(acked), "before": before,
                      "at_failover": at_failover, "after": len(acked) - at_failover,
                      "errors": errors, "lost": lost, "missing_after": missing_after}))


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(int(a[0]), int(a[1]), a[2], a[3], [int(p) for p in a[4:]]))
