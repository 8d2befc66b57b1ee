"""The README's SDK example runs as written (against the test Redis)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.broker_servers import serving_in_thread

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def block(marker: str) -> str:
    """The README's Python example that contains ``marker``."""
    [found] = [b for b in python_blocks() if marker in b]
    return found


def test_sdk_example_runs(plain_url: str) -> None:
    example = block("send_batch([message(f\"order {i}\"")
    code = example.replace("redis://localhost:6379", plain_url)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "plain text body" in r.stdout and "QueueDoesNotExist" in r.stdout
    assert "order 9" in r.stdout


def test_fifo_and_redrive_example_runs(plain_url: str) -> None:
    example = block("orders.fifo")
    code = example.replace("redis://localhost:6379", plain_url)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("order-1 0") and lines[0].endswith(" order 1 created")
    assert "'urgent'" in lines[-2] and lines[-1] == "['poison']"


def test_topics_example_runs(plain_url: str) -> None:
    code = block("create_topic").replace("redis://localhost:6379", plain_url)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sorted(lines[:2]) == [
        "audit: cpu hot arn:aws:sns:us-east-1:000000000000:alerts",
        "audit: disk full arn:aws:sns:us-east-1:000000000000:alerts"]
    assert lines[2] == "pager: ['disk full']"


def test_streams_example_runs(plain_url: str) -> None:
    code = block("clicks.subscribe(consumer").replace("redis://localhost:6379", plain_url)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("shardId-00000000000") and "user-1" in lines[0]
    assert lines[1:] == ["4 open shards", "pushed: b'live'"]


def test_boto3_example_runs(plain_url: str) -> None:
    example = block("boto3.client")
    with serving_in_thread(plain_url) as server:
        code = example.replace("http://localhost:4566", server.url)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["invoice 1 acme", "AWS.SimpleQueueService.NonExistentQueue"]


def test_stream_consumer_example_runs(plain_url: str) -> None:
    code = block("StreamConsumer(client").replace("redis://localhost:6379", plain_url)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str([f"click {i}" for i in range(10)])


def test_workers_example_checks(plain_url: str, tmp_path: Path) -> None:
    code = block("@app.queue(\"orders\"").replace("redis://localhost:6379", plain_url)
    (tmp_path / "readme_app.py").write_text(code)
    setup = ("import asyncio\nfrom broker import Client\n"
             "async def main():\n"
             f"    async with Client({plain_url!r}) as c:\n"
             "        await c.create_queue('orders')\n"
             "        await c.create_queue('emails')\n"
             "        await c.create_stream('clicks', 1)\n"
             "asyncio.run(main())\n")
    subprocess.run([sys.executable, "-c", setup], check=True, timeout=60)
    r = subprocess.run([sys.executable, "-m", "workers", "check", "readme_app:app"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "4 handlers, connection ok" in r.stdout
