"""Drive ``wrk`` (https://github.com/wg/wrk, Debian package ``wrk``) for the closed-loop
throughput phase of the ``server`` benchmark: a Lua script sets the method, headers and
body, and its ``done()`` hook prints the figures as one JSON line."""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: marks the line the Lua ``done()`` hook prints
MARK = "WRKJSON "
PERCENTILES = (50, 90, 99, 99.9)

_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({%(percentiles)s}) do
    p[#p + 1] = string.format('"%%s": %%.1f', tostring(q), latency:percentile(q))
  end
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect": %%d, ' ..
    '"read": %%d, "write": %%d, "status": %%d, "timeout": %%d, "latency_us": ' ..
    '{"min": %%.1f, "mean": %%.1f, "max": %%.1f, %%s}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.min, latency.mean, latency.max, table.concat(p, ", ")))
end
"""


def find() -> str | None:
    return shutil.which("wrk")


async def version(path: str) -> str:
    """``wrk 4.1.0 [epoll] ...`` (first line of ``wrk -v``)."""
    proc = await asyncio.create_subprocess_exec(
        path, "-v", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return out.decode(errors="replace").strip().splitlines()[0] if out else "wrk"


def _lua_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped.replace(chr(13), chr(92) + "r")}"'


def script(method: str, headers: Mapping[str, str], body: str) -> str:
    """The Lua script: request template plus the JSON-printing ``done()``."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    lines.append(f"wrk.body = {_lua_string(body)}")
    done = _DONE % {"percentiles": ", ".join(str(p) for p in PERCENTILES), "mark": MARK}
    return "\n".join(lines) + "\n" + done


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    #: non-2xx/3xx responses (wrk counts status > 399)
    status_errors: int
    #: socket errors by kind: connect, read, write, timeout
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]
    #: CPU wrk used (user + system, from the rusage of the reaped child)
    cpu_s: float
    command: list[str]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def ok(self) -> int:
        return self.requests - self.status_errors

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "duration_s": self.duration_s,
                "requests_per_s": self.requests_per_s, "ok": self.ok(),
                "non_2xx": self.status_errors, "socket_errors": self.socket_errors,
                "latency_ms": self.latency_ms, "generator_cpu_s": self.cpu_s,
                "command": self.command}


def parse(output: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith(MARK):
            parsed: dict[str, Any] = json.loads(line[len(MARK):])
            return parsed
    raise RuntimeError(f"wrk printed no results:\n{output[-2000:]}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run(path: str, url: str, script_path: Path, *, connections: int, threads: int,
              duration_s: float, timeout_s: float = 10.0) -> WrkResult:
    """One wrk run; raises if it fails. No other child process may exit meanwhile (its
    CPU would be charged to wrk)."""
    command = [path, f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s",
               f"--timeout={timeout_s:g}s", "-s", str(script_path), url]
    cpu0 = _children_cpu()
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    wall = time.monotonic() - t0
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}:\n{text[-2000:]}")
    data = parse(text)
    lat = data["latency_us"]
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=int(data["duration_us"]) / 1e6 or wall,
        status_errors=int(data["status"]),
        socket_errors={k: int(data[k]) for k in ("connect", "read", "write", "timeout")},
        latency_ms={(k if k in ("min", "mean", "max") else f"p{k}"): float(v) / 1e3
                    for k, v in lat.items()},
        cpu_s=_children_cpu() - cpu0,
        command=command)
