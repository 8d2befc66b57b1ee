"""The HTML report opens in a browser: headless Chromium lays out all four plots with
their lines, and a screenshot of the page holds the plots' line colours."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from loadtest.run_command import execute, write
from loadtest.workload import parse

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
#: the first two line colours of loadtest.report_html
BLUE, RED = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; ./dev test installs it")
    pytest.skip("chromium not installed")


def browse(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, channels, rows


def count_color(width: int, channels: int, rows: list[bytes], rgb: tuple[int, ...]) -> int:
    n = 0
    for row in rows:
        for x in range(0, width * channels, channels):
            if tuple(row[x:x + 3]) == rgb:
                n += 1
    return n


async def test_report_renders_in_headless_chromium(standalone_url: str,
                                                   tmp_path: Path) -> None:
    wl = parse({"kind": "queue", "name": "browser", "rate": 300, "duration": 2,
                "warmup": 0.5, "message_size": 128})
    rep = await execute(wl, standalone_url, quiet=True)
    _, html_path = write(rep, tmp_path)

    dom = browse(["--dump-dom", html_path.as_uri()], tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-plots="4"' in dom.stdout
    assert 'data-plots-rendered="4"' in dom.stdout, "not every plot has a visible line"
    assert dom.stdout.count('class="plot"') == 4

    shot = tmp_path / "report.png"
    done = browse([f"--screenshot={shot}", "--window-size=1400,2200", html_path.as_uri()],
                  tmp_path / "p2")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    width, channels, rows = png_pixels(shot.read_bytes())
    assert width == 1400 and len(rows) == 2200
    assert len({row for row in rows}) > 100, "the screenshot is (nearly) blank"
    # the produced/s and p50 lines are blue, consumed/s and p99 red: drawn, not just text
    assert count_color(width, channels, rows, BLUE) > 500
    assert count_color(width, channels, rows, RED) > 200
