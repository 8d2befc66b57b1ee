"""The README's SDK example runs as written (against the test Redis)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_sdk_example_runs(plain_url: str) -> None:
    [example] = python_blocks()
    code = example.replace("redis://localhost:6379", plain_url)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "plain text body" in r.stdout and "QueueDoesNotExist" in r.stdout
    assert "order 9" in r.stdout
