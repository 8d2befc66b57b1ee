"""The worker framework as real processes (``python -m workers run``): SIGKILL mid-handler
(the message is processed again by another worker after the visibility timeout, once to
completion), SIGTERM (in-flight work completes, exit 0; past the grace period the rest is
visible at once), a 10-second handler on a 2-second visibility timeout (never
redelivered), a failing handler (growing delays, then the DLQ with its receive count),
FIFO order with 20 concurrent handlers and random failures."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from broker.sdk import Client
from tests.conftest import TEST_LIMITS


def start(url: str, app: str, log: Path, *extra: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "workers", "run", f"tests.workers.framework_app:{app}",
         "--url", url, "--log-level", "warning", "--no-uvloop", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "WORKERS_TEST_LOG": str(log), **env})


def events(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


async def until(check: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {within_s} s"
        await asyncio.sleep(0.05)


def stop(*procs: subprocess.Popen[str]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        assert p.stderr is not None
        p.stderr.close()


@pytest.mark.timeout(60)
async def test_sigkill_mid_handler_is_processed_again_once(plain_url: str,
                                                           tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("jobs", visibility_timeout_s=3)
        sent = await q.send("the job")
        first = start(plain_url, "jobs", log, WORKERS_TEST_JOB_S="30")
        second: subprocess.Popen[str] | None = None
        try:
            await until(lambda: any(e["ev"] == "start" for e in events(log)), 20, "started")
            first.send_signal(signal.SIGKILL)
            first.wait()
            killed = time.time()
            second = start(plain_url, "jobs", log, WORKERS_TEST_JOB_S="0.5")
            await until(lambda: any(e["ev"] == "end" for e in events(log)), 20, "finished")
            await asyncio.sleep(1.0)
        finally:
            stop(first, *([second] if second else []))
        runs = [e for e in events(log) if e["id"] == sent.message_id]
        assert [(e["ev"], e["rc"]) for e in runs] == [("start", 1), ("start", 2), ("end", 2)]
        assert runs[1]["pid"] == second.pid
        assert runs[1]["t"] - killed > 1.0  # it waited for the visibility timeout
        attrs = await q.attributes()
        assert attrs["ApproximateNumberOfMessages"] == "0"
        assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"  # deleted


@pytest.mark.timeout(60)
async def test_sigterm_finishes_in_flight_work_and_exits_0(plain_url: str,
                                                          tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("jobs", visibility_timeout_s=30)
        for i in range(4):
            await q.send(f"job {i}")
        w = start(plain_url, "jobs", log, WORKERS_TEST_JOB_S="2")
        try:
            await until(lambda: sum(e["ev"] == "start" for e in events(log)) == 4, 20,
                        "4 running")
            w.send_signal(signal.SIGTERM)
            assert w.wait(timeout=20) == 0
        finally:
            stop(w)
        assert sum(e["ev"] == "end" for e in events(log)) == 4
        attrs = await q.attributes()
        assert (attrs["ApproximateNumberOfMessages"],
                attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")

        # past the grace period, unfinished messages are visible again at once
        log2 = tmp_path / "log2.jsonl"
        for i in range(3):
            await q.send(f"long {i}")
        w = start(plain_url, "jobs", log2, "--grace", "0.5", WORKERS_TEST_JOB_S="30")
        try:
            await until(lambda: sum(e["ev"] == "start" for e in events(log2)) == 3, 20,
                        "3 running")
            w.send_signal(signal.SIGTERM)
            assert w.wait(timeout=20) == 0
        finally:
            stop(w)
        attrs = await q.attributes()
        assert attrs["ApproximateNumberOfMessages"] == "3"  # not waiting out the 30 s


@pytest.mark.timeout(60)
async def test_long_handler_is_never_redelivered_while_it_runs(plain_url: str,
                                                              tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("slow", visibility_timeout_s=2)
        await q.send("a")
        await q.send("b")
        workers = [start(plain_url, "slow", log) for _ in range(2)]  # a redelivery would
        try:                                                        # be taken at once
            await until(lambda: sum(e["ev"] == "end" for e in events(log)) == 2, 30,
                        "both ended")
        finally:
            stop(*workers)
        starts = [e for e in events(log) if e["ev"] == "start"]
        assert len(starts) == 2 and all(e["rc"] == 1 for e in starts)


@pytest.mark.timeout(90)
async def test_failing_handler_retries_with_growing_delays_then_dead_letters(
        plain_url: str, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        dlq = await client.create_queue("failing-dlq")
        q = await client.create_queue("failing", visibility_timeout_s=30,
                                      dead_letter_queue=(dlq, 4))
        sent = await q.send("doomed")
        w = start(plain_url, "failing", log)
        try:
            await until(lambda: sum(e["ev"] == "attempt" for e in events(log)) == 4, 40,
                        "4 attempts")
            await asyncio.sleep(2.5)  # the worker's next receive moves it to the DLQ
        finally:
            stop(w)
        attempts = [e for e in events(log) if e["ev"] == "attempt"]
        assert [e["rc"] for e in attempts] == [1, 2, 3, 4]
        gaps = [b["t"] - a["t"] for a, b in zip(attempts, attempts[1:], strict=False)]
        # delays of [0.5, 1], [1, 2], [2, 4] s, rounded up to whole seconds
        assert 0.9 < gaps[0] < 2.5 and 0.9 < gaps[1] < 3.5 and 1.9 < gaps[2] < 5.5, gaps
        assert gaps[2] >= gaps[0]
        [dead] = await dlq.receive(1, wait_time_s=5)
        assert dead.id == sent.message_id and dead.receive_count >= 4


@pytest.mark.timeout(90)
async def test_fifo_order_holds_with_20_handlers_and_random_failures(
        plain_url: str, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    groups, per_group = 20, 15
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("ordered.fifo", content_based_deduplication=True,
                                      visibility_timeout_s=30)
        for i in range(per_group):
            for g in range(groups):
                await q.send(f"{g}:{i}", group_id=f"g{g}")
        w = start(plain_url, "fifo", log)
        try:
            await until(lambda: sum(e["ev"] == "done" for e in events(log))
                        == groups * per_group, 60, "all done")
        finally:
            stop(w)
        done: dict[str, list[int]] = {}
        for e in events(log):
            if e["ev"] == "done":
                done.setdefault(e["group"], []).append(int(e["body"].split(":")[1]))
        assert sum(e["ev"] == "fail" for e in events(log)) > 0  # failures did happen
        assert all(order == list(range(per_group)) for order in done.values()), done


@pytest.mark.timeout(60)
async def test_heartbeat_goes_on_while_sigterm_lets_handlers_finish(
        plain_url: str, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    async with Client(plain_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("jobs", visibility_timeout_s=2)
        await q.send("long job")
        first = start(plain_url, "jobs", log, WORKERS_TEST_JOB_S="6")
        second: subprocess.Popen[str] | None = None
        try:
            await until(lambda: any(e["ev"] == "start" for e in events(log)), 20, "started")
            first.send_signal(signal.SIGTERM)  # it finishes the 6 s job within its grace
            second = start(plain_url, "jobs", log, WORKERS_TEST_JOB_S="0.1")
            assert first.wait(timeout=20) == 0
            await asyncio.sleep(3)  # more than the visibility timeout after the end
        finally:
            stop(first, *([second] if second else []))
        runs = [(e["ev"], e["pid"]) for e in events(log)]
        assert runs == [("start", first.pid), ("end", first.pid)]  # never redelivered
