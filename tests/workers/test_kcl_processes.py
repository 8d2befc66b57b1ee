"""Stream consumer workers as real processes: 3 workers on 8 shards balance within 3
renewal cycles; a worker killed with SIGKILL has its shards taken over within the
failover time and one cycle; no record is processed by two workers at once (from a log
of processing intervals); a restarted worker resumes from the checkpoints (no gap,
duplicates only after the dead worker's last checkpoint); SIGTERM exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path

import pytest

from broker.engine.leases import Lease
from broker.sdk import Client
from tests.conftest import TEST_LIMITS

FAILOVER_S = 3.0
CYCLE_S = FAILOVER_S / 3
#: process start-up and a loaded 2-core machine
SLACK_S = 2.0
SHARDS = 8


def start_worker(url: str, worker: str, log: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.workers.kcl_worker_proc", url, "events", "app",
         worker, str(log), str(FAILOVER_S)],
        stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def reap(procs: dict[str, subprocess.Popen[str]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()
        assert p.stdout is not None
        p.stdout.close()


def owners(leases: Mapping[str, Lease]) -> Counter[str]:
    return Counter(lease.owner for lease in leases.values())


@pytest.mark.timeout(150)
async def test_workers_balance_fail_over_and_resume(plain_url: str, tmp_path: Path) -> None:
    log = tmp_path / "processing.jsonl"
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        stream = await client.create_stream("events", SHARDS)
        table = client.lease_table("app", "events")
        put: list[str] = []
        producing = True

        async def produce() -> None:
            i = 0
            while producing:
                batch = [(f"r{i + j}", f"key-{(i + j) % 64}") for j in range(40)]
                put.extend(r.sequence_number for r in await stream.put_batch(batch))
                i += 40
                await asyncio.sleep(0.05)

        producer = asyncio.create_task(produce())
        procs = {w: start_worker(plain_url, w, log) for w in ("w1", "w2", "w3")}
        try:
            # -- balanced within 3 renewal cycles of the last worker joining
            async def live() -> list[str]:
                return (await table.read(int(FAILOVER_S * 1000))).workers

            t0 = time.monotonic()
            while len(await live()) < 3:
                assert time.monotonic() - t0 < 20, "workers did not start"
                await asyncio.sleep(0.05)
            joined = time.monotonic()
            while True:
                counts = owners((await table.read(3000)).leases)
                if sum(counts.values()) == SHARDS and "" not in counts and len(counts) == 3 \
                        and max(counts.values()) - min(counts.values()) <= 1:
                    break
                assert time.monotonic() - joined < 3 * CYCLE_S + SLACK_S, counts
                await asyncio.sleep(0.05)

            # -- SIGKILL one: its shards are taken over within failover + one cycle
            await asyncio.sleep(1.0)
            victim = "w2"
            held = {sid for sid, lease in (await table.read(3000)).leases.items()
                    if lease.owner == victim}
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            killed_at = time.time()
            t_kill = time.monotonic()
            while True:
                leases = (await table.read(3000)).leases
                if all(leases[s].owner not in ("", victim) for s in held):
                    break
                assert time.monotonic() - t_kill < FAILOVER_S + CYCLE_S + SLACK_S, \
                    {s: leases[s].owner for s in held}
                await asyncio.sleep(0.05)

            # -- a restarted worker takes its share back, from the checkpoints
            procs["w4"] = start_worker(plain_url, "w4", log)
            t_restart = time.monotonic()
            while owners((await table.read(3000)).leases).get("w4", 0) < 2:
                assert time.monotonic() - t_restart < 6 * CYCLE_S + SLACK_S
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
        except BaseException:
            reap(procs)
            raise
        finally:
            producing = False
            await producer
        # everything put is processed, then SIGTERM: graceful, exit 0
        def processed() -> set[str]:
            out = set()
            for line in log.read_text().splitlines():
                e = json.loads(line)
                if e["ev"] == "end":
                    out.update(e["seqs"])
            return out

        t_drain = time.monotonic()
        while not set(put) <= processed():
            assert time.monotonic() - t_drain < 30, len(set(put) - processed())
            await asyncio.sleep(0.1)
        for w, p in procs.items():
            if w != victim:
                p.send_signal(signal.SIGTERM)
        try:
            for w, p in procs.items():
                if w != victim:
                    assert p.wait(timeout=30) == 0, w
        finally:
            reap(procs)
        state = await table.read(3000)
        assert all(lease.owner == "" for lease in state.leases.values())

    # -- the processing log
    events = [json.loads(line) for line in log.read_text().splitlines()]
    intervals: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    open_: dict[tuple[str, str], float] = {}
    checkpoints: dict[str, list[tuple[float, int]]] = defaultdict(list)
    processed_at: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        key = (e["w"], e["s"])
        if e["ev"] == "start":
            open_[key] = e["t"]
        elif e["ev"] == "end":
            t0 = open_.pop(key)
            intervals[e["s"]].append((t0, e["t"], e["w"]))
            for seq in e["seqs"]:
                processed_at[e["s"]][seq].append(t0)
        elif e["ev"] == "ckpt":
            checkpoints[e["s"]].append((e["t"], int(e["seq"])))
    for (w, s), t in open_.items():  # a batch the kill interrupted
        assert w == victim
        intervals[s].append((t, killed_at, w))
    # no record was processed by two workers at once
    for s, spans in intervals.items():
        for a0, a1, wa in spans:
            for b0, b1, wb in spans:
                assert wa == wb or b1 <= a0 or b0 >= a1, f"{s}: {wa} and {wb} overlap"
    # no gap: every record put was processed
    assert set(put) <= {seq for seqs in processed_at.values() for seq in seqs}
    # duplicates only after the last checkpoint: when a record was processed again, the
    # shard's checkpoint was still before it
    duplicates = 0
    for s, by_seq in processed_at.items():
        for seq, times in by_seq.items():
            for again in sorted(times)[1:]:
                duplicates += 1
                before = [c for t, c in checkpoints[s] if t < again]
                assert not before or max(before) < int(seq), (s, seq)
    print(f"records put: {len(put)}, processed twice: {duplicates}")
