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


def test_sdk_example_runs(plain_url: str) -> None:
    example = python_blocks()[0]
    code = example.replace("redis://localhost:6379", plain_url)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "plain text body" in r.stdout and "QueueDoesNotExist" in r.stdout
    assert "order 9" in r.stdout


def test_fifo_and_redrive_example_runs(plain_url: str) -> None:
    example = python_blocks()[1]
    code = example.replace("redis://localhost:6379", plain_url)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("order-1 0") and lines[0].endswith(" order 1 created")
    assert "'urgent'" in lines[-2] and lines[-1] == "['poison']"


def test_boto3_example_runs(plain_url: str) -> None:
    example = python_blocks()[2]
    with serving_in_thread(plain_url) as server:
        code = example.replace("http://localhost:4566", server.url)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["invoice 1 acme", "AWS.SimpleQueueService.NonExistentQueue"]
