"""``broker serve`` as a real process, and the server's housekeeping."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from broker import Client, ManualClock
from broker.engine import Engine
from broker.engine.keys import QueueKeys
from broker.server.housekeeping import Housekeeper


@pytest.mark.timeout(60)
def test_serve_answers_and_shuts_down_on_sigterm(plain_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "BROKER_LOG_LEVEL": "info"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker", "serve", "--port", "0", "--redis-url", plain_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("broker: serving http://127.0.0.1:"), first
        url = first.split()[2]
        assert "SigV4 off" in first
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as r:
            assert r.status == 200
        req = urllib.request.Request(url + "/", data=b"Action=ListQueues", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert b"<ListQueuesResponse" in r.read()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "shutting down" in out
    # the access log: one JSON line per request, no bodies or handles
    assert '"action":"ListQueues"' in err and '"status":200' in err


def test_serve_refuses_a_bad_credentials_file(plain_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "creds.json"
    bad.write_text('{"credentials": [{"access_key_id": "AKID"}]}')
    r = subprocess.run(
        [sys.executable, "-m", "broker", "serve", "--port", "0", "--redis-url", plain_url,
         "--credentials-file", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("broker: cannot start the server:")
    assert r.stderr.count("\n") == 1


async def test_housekeeping_sweeps_expired_messages_of_idle_queues(plain_url: str) -> None:
    clock = ManualClock()
    async with Client(plain_url, clock=clock) as client, Engine.from_url(
            plain_url, clock=clock) as engine:
        q = await client.create_queue("idle", retention_s=60)
        for start in (0, 10, 20):
            await q.send_batch([f"m{i}" for i in range(start, min(start + 10, 25))])
        keeper = Housekeeper(engine, ["000000000000"])
        assert await keeper.run_once() == 0  # nothing expired yet
        clock.advance(61)
        assert await keeper.run_once() == 25
        keys = QueueKeys("000000000000", "idle")
        assert await engine.redis.hlen(keys.msgs) == 0
        assert await q.receive() == []
        keeper.start()  # the background task runs and stops cleanly
        await asyncio.sleep(0)
        await keeper.close()
