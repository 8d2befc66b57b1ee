"""Reports as one self-contained HTML page (inline SVG, no network): throughput over
time, end-to-end latency over time, the latency percentile distribution, the backlog,
and the summary table. One report, or several overlaid (``loadtest compare``)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

from loadtest.hdr import Histogram

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2")
_W, _H = 680, 300
_L, _R, _T, _B = 70, 20, 34, 44
Series = tuple[str, list[tuple[float, float]], bool]
"""(label, points, dashed)"""


def _nice(top: float) -> float:
    if top <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(top))
    for step in (1, 2, 2.5, 5, 10):
        if top <= step * mag:
            return float(step * mag)
    return float(10 * mag)


def _fmt(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def chart(title: str, series: Sequence[Series], x_label: str, y_label: str,
          x_ticks: Sequence[tuple[float, str]] | None = None) -> str:
    """An SVG line chart (class ``plot``; every line is a ``polyline.series``)."""
    points = [p for _, pts, _ in series for p in pts]
    pw, ph = _W - _L - _R, _H - _T - _B
    out = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{_W}" '
           f'height="{_H}" viewBox="0 0 {_W} {_H}" role="img" '
           f'aria-label="{html.escape(title)}">',
           f'<text x="{_W / 2}" y="20" text-anchor="middle" class="title">'
           f'{html.escape(title)}</text>']
    if not points:
        out.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no data</text>')
        return "".join(out) + "</svg>"
    x0 = min(x for x, _ in points)
    x1 = max(x for x, _ in points)
    if x1 <= x0:
        x1 = x0 + 1
    y1 = _nice(max(y for _, y in points) * 1.05)

    def sx(x: float) -> float:
        return _L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return _T + ph - y / y1 * ph

    out.append(f'<rect x="{_L}" y="{_T}" width="{pw}" height="{ph}" class="frame"/>')
    for i in range(6):
        y = y1 * i / 5
        out.append(f'<line x1="{_L}" x2="{_L + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
                   f'class="grid"/><text x="{_L - 6}" y="{sy(y) + 4:.1f}" '
                   f'text-anchor="end">{_fmt(round(y, 6))}</text>')
    ticks = x_ticks or [(x0 + (x1 - x0) * i / 5, _fmt(round(x0 + (x1 - x0) * i / 5, 1)))
                        for i in range(6)]
    for x, label in ticks:
        if x0 <= x <= x1:
            out.append(f'<text x="{sx(x):.1f}" y="{_T + ph + 16}" text-anchor="middle">'
                       f'{html.escape(label)}</text>')
    out.append(f'<text x="{_L + pw / 2}" y="{_H - 6}" text-anchor="middle">'
               f'{html.escape(x_label)}</text>')
    out.append(f'<text x="14" y="{_T + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {_T + ph / 2})">{html.escape(y_label)}</text>')
    for i, (label, pts, dashed) in enumerate(series):
        color = _COLORS[i % len(_COLORS)]
        if pts:
            coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            dash = ' stroke-dasharray="6 4"' if dashed else ""
            out.append(f'<polyline class="series" fill="none" stroke="{color}" '
                       f'stroke-width="2"{dash} points="{coords}"><title>'
                       f'{html.escape(label)}</title></polyline>')
        ly = _T + 14 + 16 * i
        out.append(f'<line x1="{_L + 10}" x2="{_L + 30}" y1="{ly - 4}" y2="{ly - 4}" '
                   f'stroke="{color}" stroke-width="2"/><text x="{_L + 36}" y="{ly}" '
                   f'class="legend">{html.escape(label)}</text>')
    return "".join(out) + "</svg>"


def _pct_x(p: float) -> float:
    """The percentile plot's x: log10(1 / (1 - p)), 100 % drawn at 99.999 %."""
    return math.log10(1 / max(1e-5, 1 - p / 100))


_PCT_TICKS = [(_pct_x(p), label) for p, label in
              ((0, "0%"), (90, "90%"), (99, "99%"), (99.9, "99.9%"), (99.99, "99.99%"),
               (99.999, "99.999%"))]


def _label(report: dict[str, Any], many: bool) -> str:
    return str(report.get("label") or report["target"]["label"]) if many else ""


def _prefix(label: str, what: str) -> str:
    return f"{label}: {what}" if label else what


def charts(reports: Sequence[dict[str, Any]]) -> list[str]:
    many = len(reports) > 1
    thr: list[Series] = []
    lat: list[Series] = []
    dist: list[Series] = []
    back: list[Series] = []
    for r in reports:
        lb = _label(r, many)
        ts = r["timeseries"]
        thr.append((_prefix(lb, "produced/s"), [(p["t"], p["produced"]) for p in ts], False))
        thr.append((_prefix(lb, "consumed/s"), [(p["t"], p["consumed"]) for p in ts], True))
        lat.append((_prefix(lb, "p50"), [(p["t"], p["latency_p50_ms"]) for p in ts
                                        if "latency_p50_ms" in p], False))
        lat.append((_prefix(lb, "p99"), [(p["t"], p["latency_p99_ms"]) for p in ts
                                        if "latency_p99_ms" in p], True))
        h = Histogram.from_dict(r["histograms"]["latency_us"])
        dist.append((_prefix(lb, "end-to-end"),
                     [(_pct_x(p), v) for p, v in h.spectrum(1000.0)], False))
        back.append((_prefix(lb, "backlog (harness)"),
                     [(p["t"], p["backlog"]) for p in ts if p["backlog"] is not None], False))
        depth = [(p["t"], p["depth"]) for p in ts if p.get("depth") is not None]
        if depth:
            back.append((_prefix(lb, "queue depth (server)"), depth, True))
    return [
        chart("Throughput over time", thr, "seconds since start", "messages / s"),
        chart("End-to-end latency over time (messages sent after warm-up)", lat,
              "seconds since start", "ms"),
        chart("End-to-end latency by percentile", dist, "percentile", "ms", _PCT_TICKS),
        chart("Backlog over time", back, "seconds since start", "messages"),
    ]


Row = tuple[str, Callable[[dict[str, Any]], str]]


def _latency(key: str) -> Row:
    return f"latency {key} (ms)", lambda s: f"{s['latency_ms'][key]:.2f}"


def _count(label: str, key: str) -> Row:
    return label, lambda s: f"{s.get(key, 0):,}"


_ROWS: tuple[Row, ...] = (
    ("produce rate (msgs/s)", lambda s: f"{s['produce_rate']:,.1f}"),
    ("delivery rate (/s; topics: x matching subscriptions)",
     lambda s: f"{s['consume_rate']:,.1f}"),
    *(_latency(k) for k in ("p50", "p90", "p99", "p99.9", "max")),
    ("send latency p99 (ms)", lambda s: f"{s['send_latency_ms']['p99']:.2f}"),
    *(_count(label, key) for label, key in (
        ("produced", "produced"), ("deliveries", "deliveries"), ("lost", "lost"),
        ("duplicates", "duplicates"), ("unexpected", "unexpected"),
        ("missed slots (behind the rate)", "missed"),
        ("order violations", "order_violations"))),
    ("errors", lambda s: ", ".join(f"{k} {v:,}" for k, v in s["errors"].items()) or "none"),
)


def render(reports: Sequence[dict[str, Any]], title: str) -> str:
    many = len(reports) > 1
    head = "".join(f"<th>{html.escape(_label(r, True))}</th>" for r in reports)
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th>" +
        "".join(f"<td>{html.escape(get(r['summary']))}</td>" for r in reports) + "</tr>"
        for name, get in _ROWS)
    workloads = "".join(
        f"<li><b>{html.escape(_label(r, True))}</b>: workload "
        f"<code>{html.escape(r['workload']['name'])}</code> ({r['workload']['kind']}), "
        f"{html.escape(r.get('started', ''))}; <code>{html.escape(r.get('command', ''))}"
        f"</code></li>" for r in reports)
    body = "".join(f'<figure>{c}</figure>' for c in charts(reports))
    note = ("Latency is measured from each message's intended send time (its slot in the "
            "rate schedule), so a stalled producer shows in the figures instead of hiding "
            "(coordinated omission).")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 12px 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
th:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 8px; }}
svg text {{ font: 11px system-ui, sans-serif; fill: #333; }}
svg .title {{ font-size: 13px; font-weight: bold; }}
svg .frame {{ fill: #fafafa; stroke: #999; }}
svg .grid {{ stroke: #e4e4e4; }}
</style></head>
<body data-plots="{len(charts(reports[:1]))}" data-plots-rendered="0">
<h1>{html.escape(title)}</h1>
<ul>{workloads}</ul>
<table><tr><th></th>{head}</tr>{rows}</table>
<p>{note}{" Dashed lines: consumption, p99, server depth." if not many else ""}</p>
{body}
<script>
// how many plots the browser laid out with at least one visible line (tests read it)
document.body.dataset.plotsRendered = String(
  [...document.querySelectorAll("svg.plot")].filter(svg =>
    [...svg.querySelectorAll("polyline.series")].some(l => {{
      const b = l.getBBox(); return b.width > 0 || b.height > 0; }})).length);
</script>
</body></html>
"""
