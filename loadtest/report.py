"""The report of a run: every figure as JSON (``FORMAT``), and the text summary printed
at the end. ``loadtest.report_html`` draws the same data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtest.hdr import Histogram
from loadtest.recorder import Recorder
from loadtest.runner import Outcome
from loadtest.workload import Workload

FORMAT = "redcurrent-loadtest-report/1"


def build(wl: Workload, outcome: Outcome, target: dict[str, str], meta: dict[str, Any]
          ) -> dict[str, Any]:
    rec = outcome.recorder
    window = wl.duration_s
    lost = rec.lost
    checks = {
        "lost": lost,
        "duplicates": rec.duplicates,
        "unexpected": rec.unexpected,
        "order_violations": rec.order_violations,
        "uncertain_delivered": rec.uncertain_delivered,
        "drained": outcome.drained,
    }
    summary = {
        "produced": rec.produced,
        "expected_deliveries": sum(rec.expected),
        "delivered": sum(rec.delivered_expected),
        "deliveries": rec.deliveries,
        "produce_rate": round(rec.produced_in_window / window, 1),
        "consume_rate": round(rec.consumed_in_window / window, 1),
        "target_rate": wl.rate,
        "latency_ms": rec.e2e.summary(1000.0),
        "send_latency_ms": rec.send.summary(1000.0),
        "send_service_time_ms": rec.service.summary(1000.0),
        "errors": dict(sorted(rec.errors.items())),
        "error_count": sum(rec.errors.values()),
        "drain_s": round(outcome.drain_s, 3),
        "missed": rec.missed,
        **checks,
        # a correct run: something was sent, all of it arrived, nothing else did, in
        # order, and FIFO queues delivered each message once
        "ok": rec.produced > 0 and lost == 0 and rec.unexpected == 0
        and rec.order_violations == 0 and outcome.drained
        and (wl.kind != "fifo" or rec.duplicates == 0),
    }
    return {
        "format": FORMAT,
        "workload": wl.describe(),
        "target": target,
        "consumer": outcome.consumer,
        **meta,
        "summary": summary,
        "destinations": [{"expected": e, "delivered": d}
                         for e, d in zip(rec.expected, rec.delivered_expected, strict=True)],
        "timeseries": timeseries(rec),
        "histograms": {"latency_us": rec.e2e.to_dict(), "send_us": rec.send.to_dict(),
                       "send_service_us": rec.service.to_dict()},
        "teardown_errors": outcome.teardown_errors,
    }


def timeseries(rec: Recorder) -> list[dict[str, Any]]:
    out = []
    for i, s in enumerate(rec.seconds):
        row: dict[str, Any] = {"t": i, "produced": s.produced, "consumed": s.consumed,
                               "errors": s.errors, "backlog": s.backlog, "depth": s.depth}
        if s.latency.count:
            row["latency_p50_ms"] = round(s.latency.percentile(50) / 1000, 3)
            row["latency_p99_ms"] = round(s.latency.percentile(99) / 1000, 3)
            row["latency_max_ms"] = round(s.latency.max / 1000, 3)
        out.append(row)
    return out


def load(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a loadtest report ({FORMAT})")
    return data


def latency_histogram(report: dict[str, Any], name: str = "latency_us") -> Histogram:
    return Histogram.from_dict(report["histograms"][name])


def text(report: dict[str, Any]) -> str:
    s = report["summary"]
    wl = report["workload"]
    lat, send = s["latency_ms"], s["send_latency_ms"]
    rate = f"{wl['rate']:,.0f}/s" if wl["rate"] else "max"
    lines = [
        f"workload {wl['name']} ({wl['kind']}) on {report['target']['label']}: "
        f"{wl['producers']} producers, {wl['consumers']} consumers, rate {rate}, "
        f"{wl['duration_s']:g} s after {wl['warmup_s']:g} s of warm-up",
        f"  produced     {s['produced']:>12,}   {s['produce_rate']:>12,.1f} msgs/s",
        f"  delivered    {s['deliveries']:>12,}   {s['consume_rate']:>12,.1f} deliveries/s"
        f"   (expected {s['expected_deliveries']:,})",
        "  end-to-end latency ms (send to consumer): " + _pcts(lat),
        "  send call latency ms (from intended start): " + _pcts(send),
        f"  lost {s['lost']:,} · duplicates {s['duplicates']:,} · unexpected "
        f"{s['unexpected']:,} · order violations {s['order_violations']:,} · "
        f"drained in {s['drain_s']:.2f} s" + ("" if s["drained"] else " (TIMED OUT)"),
        "  errors: " + (", ".join(f"{k} {v:,}" for k, v in s["errors"].items()) or "none"),
    ]
    if s.get("missed"):
        lines.append(f"  WARNING: the producers fell behind the rate: {s['missed']:,} messages "
                     f"had slots after the window closed and were not sent")
    if s["produced"] == 0:
        lines.append("  FAILED: nothing was accepted")
    return "\n".join(lines)


def _pcts(h: dict[str, float]) -> str:
    if not h["count"]:
        return "no samples"
    return (f"p50 {h['p50']:.2f}  p90 {h['p90']:.2f}  p99 {h['p99']:.2f}  "
            f"p99.9 {h['p99.9']:.2f}  max {h['max']:.2f}  ({h['count']:,} samples)")
