"""The load-test harness end to end on tiny workloads: every kind on the in-process SDK,
the SDK over HTTP, and boto3 against a broker server. Counts must add up: what was
accepted is delivered once (topics: once per matching subscription), nothing else."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broker.server.app import BrokerServer
from loadtest import compare, report
from loadtest.hdr import Histogram
from loadtest.run_command import execute
from loadtest.workload import Workload, parse
from tests.broker_servers import serving

ROOT = Path(__file__).resolve().parents[2]
TINY = {"producers": 2, "consumers": 2, "rate": 400, "duration": 1.5, "warmup": 0.5,
        "message_size": 200, "drain_timeout": 30}
KINDS: dict[str, dict[str, Any]] = {
    "queue": {"kind": "queue"},
    "fifo": {"kind": "fifo", "groups": 7},
    "topic": {"kind": "topic", "consumers": 3,
              "attributes": {"type": ["order", "refund", "ping"]},
              "subscriptions": [{}, {"filter_policy": {"type": ["order"]}},
                                {"filter_policy": {"type": [{"anything-but": ["ping"]}]}}]},
    "stream": {"kind": "stream", "shards": 2, "partition_keys": 13, "batch_size": 20,
               "checkpoint_every": 50},
}


def tiny(kind: str) -> Workload:
    return parse({**TINY, **KINDS[kind], "name": f"tiny-{kind}"})


@pytest.fixture
async def broker(standalone_url: str) -> AsyncIterator[BrokerServer]:
    async with serving(standalone_url) as server:
        yield server


def check_report(rep: dict[str, Any], wl: Workload) -> None:
    assert rep["format"] == report.FORMAT
    for key in ("workload", "target", "summary", "timeseries", "histograms", "destinations",
                "machine", "command", "started", "consumer"):
        assert key in rep, key
    s = rep["summary"]
    assert s["ok"], report.text(rep)
    assert s["lost"] == s["duplicates"] == s["unexpected"] == s["order_violations"] == 0
    assert s["drained"] and s["error_count"] == 0 and not rep["teardown_errors"]
    sent = int(wl.rate * wl.total_s)
    assert sent - wl.batch_size * wl.producers <= s["produced"] <= sent + wl.batch_size
    assert s["delivered"] == s["expected_deliveries"] == s["deliveries"]
    assert sum(d["expected"] for d in rep["destinations"]) == s["expected_deliveries"]
    assert sum(p["produced"] for p in rep["timeseries"]) == s["produced"]
    assert sum(p["consumed"] for p in rep["timeseries"]) == s["deliveries"]
    assert rep["timeseries"][-1]["backlog"] == 0
    latency = Histogram.from_dict(rep["histograms"]["latency_us"])
    assert latency.count == s["latency_ms"]["count"] > 0
    assert s["latency_ms"]["p50"] <= s["latency_ms"]["p99"] <= s["latency_ms"]["max"]
    assert s["produce_rate"] == pytest.approx(wl.rate, rel=0.1)
    if wl.kind == "topic":
        per = [d["expected"] for d in rep["destinations"]]
        # 1 in 3 messages is an order, 2 in 3 are not pings
        assert per[0] == s["produced"]
        assert per[1] == pytest.approx(s["produced"] / 3, abs=wl.batch_size)
        assert per[2] == pytest.approx(s["produced"] * 2 / 3, abs=wl.batch_size)
    else:
        assert s["expected_deliveries"] == s["produced"]


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_kind_in_process(standalone_url: str, kind: str) -> None:
    wl = tiny(kind)
    rep = await execute(wl, standalone_url, quiet=True)
    check_report(rep, wl)
    assert rep["target"]["kind"] == "sdk"
    assert rep["consumer"] == ("kcl" if kind == "stream" else "queue")


async def test_sdk_over_http(broker: BrokerServer) -> None:
    wl = tiny("fifo")
    rep = await execute(wl, broker.url, quiet=True)
    check_report(rep, wl)
    assert rep["target"]["kind"] == "sdk-http"


@pytest.mark.parametrize("kind", ["queue", "fifo", "topic", "stream"])
async def test_boto3_on_the_wire(broker: BrokerServer, kind: str) -> None:
    wl = tiny(kind)
    rep = await execute(wl, "aws+" + broker.url, quiet=True)
    check_report(rep, wl)
    assert rep["target"]["kind"] == "aws"
    assert rep["consumer"] == ("polling" if kind == "stream" else "queue")


def loadtest(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadtest", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_command_line_run_and_compare(standalone_url: str, tmp_path: Path) -> None:
    workload = tmp_path / "w.yaml"
    workload.write_text("kind: queue\nproducers: 1\nconsumers: 1\nrate: 200\n"
                        "duration: 1s\nwarmup: 0.5s\n")
    reports = tmp_path / "reports"
    for label in ("a", "b"):
        done = loadtest("run", str(workload), "--target", standalone_url, "--report",
                        str(reports), "--label", label, "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "lost 0 · duplicates 0" in done.stdout
        assert "reproduce" in done.stdout
    done = loadtest("run", str(workload), "--target", standalone_url, "--report",
                    str(reports / "progress"))
    # not a terminal: the live line is printed as lines (the first after 1 s)
    assert done.returncode == 0 and "[    1s/2s measure] sent " in done.stderr, done.stderr
    assert "backlog" in done.stderr and "p99" in done.stderr
    jsons = sorted(reports.glob("*.json"))
    assert len(jsons) == 2 and len(list(reports.glob("*.html"))) == 2
    done = loadtest("compare", *map(str, jsons), "--html", str(tmp_path / "c.html"))
    assert done.returncode == 0, done.stderr
    assert "deliveries/s" in done.stdout and "x" in done.stdout
    assert "<svg" in (tmp_path / "c.html").read_text()


def test_command_line_errors_are_explained(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: lake\n")
    good = tmp_path / "good.yaml"
    good.write_text("kind: topic\nsubscriptions: 2\nconsumers: 2\nduration: 1\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("kind: topic\nsubscriptions: [filter_policy: {type: order}]\n")
    for argv, message in (
        (["run", str(bad)], "error: kind: must be one of"),
        (["run", str(good), "--consumers", "1"], "error: consumers: 1 cannot read 2"),
        (["run", str(good), "--producers", "5000"], "error: producers: an integer from 1"),
        (["run", str(good), "--rate", "nan"], "error: rate: a number >= 0"),
        (["run", str(policy)], "error: subscriptions[0].filter_policy: "),
        (["run", str(good), "--target", "foo://x"], "error: the run stopped: ValueError: "
                                                      "--target foo://x: use redis://"),
        (["run", str(good), "--target", "redis://127.0.0.1:1"], "error: the run stopped: "),
        (["run", str(good), "--target", "http://127.0.0.1:1"], "error: the run stopped: "),
        (["compare", str(bad)], "error:"),
    ):
        done = loadtest(*argv)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert message in done.stderr, (argv, done.stderr)
        assert "Traceback" not in done.stderr, (argv, done.stderr)


def test_compare_table_ratios() -> None:
    rep: dict[str, Any] = {"label": "x", "target": {"label": "x"},
           "summary": {"produce_rate": 100.0, "consume_rate": 50.0, "error_count": 0,
                       "lost": 0, "duplicates": 0,
                       "latency_ms": {"p50": 1, "p90": 2, "p99": 4, "p99.9": 5, "max": 6},
                       "send_latency_ms": {"p99": 1}}}
    other = {**rep, "label": "y", "summary": {**rep["summary"], "consume_rate": 100.0}}
    text = compare.table([rep, other])
    assert "2.00x" in text.splitlines()[2]


@pytest.mark.timeout(900)
def test_peers_mode(tmp_path: Path) -> None:
    """``peers``: the worker benchmark (here without its peers, to keep it short) and a
    workload through boto3 against the broker's server and moto's, with ratios."""
    workload = tmp_path / "tiny.yaml"
    workload.write_text("kind: queue\nproducers: 1\nconsumers: 1\nrate: 100\n")
    done = subprocess.run(
        [sys.executable, "-m", "loadtest", "peers", "--workloads", str(workload),
         "--duration", "1.5s", "--warmup", "0.5s", "--worker-peers", "none",
         "--worker-count", "2000", "--report", str(tmp_path / "r")],
        cwd=ROOT, capture_output=True, text=True, timeout=840, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "redcurrent:" in out and "messages/s" in out  # the worker benchmark
    assert "tiny: deliveries" in out and "vs moto" in out and "lost 0 vs 0" in out
    reports = list((tmp_path / "r").glob("tiny-aws-*.json"))
    assert len(reports) == 2
    labels = sorted(report.load(p)["label"] for p in reports)
    assert labels == ["moto", "redcurrent"]
