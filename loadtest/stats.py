"""Small statistics helpers: percentiles and latency summaries (no numpy needed)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of already sorted values, interpolating linearly
    between the two closest ranks (numpy's default "linear" method)."""
    if not sorted_values:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {p}")
    k = (len(sorted_values) - 1) * p / 100
    lo = math.floor(k)
    hi = math.ceil(k)
    if lo == hi:
        return float(sorted_values[lo])
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summarize(values: Iterable[float], scale: float = 1.0) -> dict[str, Any]:
    """count, mean, min, p50, p90, p99, p99.9 and max of ``values`` multiplied by ``scale``
    (e.g. 1e-6 to turn nanoseconds into milliseconds)."""
    data = sorted(v * scale for v in values)
    if not data:
        return {"count": 0}
    return {
        "count": len(data),
        "mean": sum(data) / len(data),
        "min": data[0],
        "p50": percentile(data, 50),
        "p90": percentile(data, 90),
        "p99": percentile(data, 99),
        "p99.9": percentile(data, 99.9),
        "max": data[-1],
    }


def fmt_latency(s: dict[str, Any], unit: str = "ms") -> str:
    """One line: ``p50 0.412 ms  p90 ...  p99 ...  max ...  (n=2000)``."""
    if not s.get("count"):
        return "no samples"
    return (f"p50 {s['p50']:.3f} {unit}  p90 {s['p90']:.3f} {unit}  "
            f"p99 {s['p99']:.3f} {unit}  max {s['max']:.3f} {unit}  "
            f"mean {s['mean']:.3f} {unit}  (n={s['count']})")
