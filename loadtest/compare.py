"""``python -m loadtest compare A.json B.json ...``: the figures of several reports side
by side, each as a ratio to the first, and (``--html``) their plots overlaid."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadtest import report, report_html

#: (name, figure, higher is better)
METRICS: tuple[tuple[str, Callable[[dict[str, Any]], float], bool], ...] = (
    ("produce msgs/s", lambda s: s["produce_rate"], True),
    ("deliveries/s", lambda s: s["consume_rate"], True),
    ("latency p50 ms", lambda s: s["latency_ms"]["p50"], False),
    ("latency p90 ms", lambda s: s["latency_ms"]["p90"], False),
    ("latency p99 ms", lambda s: s["latency_ms"]["p99"], False),
    ("latency p99.9 ms", lambda s: s["latency_ms"]["p99.9"], False),
    ("latency max ms", lambda s: s["latency_ms"]["max"], False),
    ("send p99 ms", lambda s: s["send_latency_ms"]["p99"], False),
    ("errors", lambda s: s["error_count"], False),
    ("lost", lambda s: s["lost"], False),
    ("duplicates", lambda s: s["duplicates"], False),
)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "compare", help="compare run reports (ratios to the first, overlaid plots)",
        description=__doc__)
    p.add_argument("reports", nargs="+", metavar="REPORT.json")
    p.add_argument("--html", default=None, metavar="PATH",
                   help="also write one HTML page with the plots overlaid")
    p.set_defaults(func=main, parser=p)
    return p


def main(args: argparse.Namespace) -> int:
    try:
        reports = [report.load(path) for path in args.reports]
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(reports))
    if args.html:
        Path(args.html).write_text(report_html.render(reports, "loadtest comparison"))
        print(f"\nplots: {args.html}")
    return 0


def ratio(value: float, base: float) -> str:
    if base == 0:
        return "=" if value == 0 else "-"
    return f"{value / base:.2f}x"


def table(reports: Sequence[dict[str, Any]]) -> str:
    """Every metric of every report, and its ratio to the first report's."""
    labels = [str(r.get("label") or r["target"]["label"]) for r in reports]
    width = max(12, *(min(len(lb), 28) for lb in labels))
    head = f"{'':18}" + "".join(f"{lb[:28]:>{width + 9}}" for lb in labels)
    lines = [head]
    for name, get, _ in METRICS:
        base = float(get(reports[0]["summary"]))
        cells = []
        for i, r in enumerate(reports):
            v = float(get(r["summary"]))
            text = f"{v:,.1f}" if abs(v) < 1e6 else f"{v:,.0f}"
            cells.append(f"{text:>{width}}" + (" " * 9 if i == 0 else f" {ratio(v, base):>8}"))
        lines.append(f"{name:18}" + "".join(cells))
    lines.append("ratios: each report against the first; for latencies, errors and losses "
                 "lower is better")
    return "\n".join(lines)
