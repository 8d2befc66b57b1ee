"""An HDR histogram of integer values (microseconds here): three significant digits from
1 to 2**62, constant memory per order of magnitude, mergeable and serialisable.

Values below 2,048 have a bucket each; above, every power of two is split into 1,024
buckets, so a recorded value is off by less than 0.1 % (the HdrHistogram layout with 3
significant digits). ``record_corrected`` adds the samples a stalled, rate-limited
sender would have seen (HdrHistogram's ``recordValueWithExpectedInterval``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

_EXACT = 2048
_SUB = 1024
#: the percentiles reports print
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def bucket_of(value: int) -> int:
    if value < _EXACT:
        return value
    shift = value.bit_length() - 11  # value >> shift is in [1024, 2047]
    return _EXACT + (shift - 1) * _SUB + ((value >> shift) - _SUB)


def lowest_of(bucket: int) -> int:
    """The smallest value of a bucket."""
    if bucket < _EXACT:
        return bucket
    shift, offset = divmod(bucket - _EXACT, _SUB)
    return (offset + _SUB) << (shift + 1)


def highest_of(bucket: int) -> int:
    """The largest value of a bucket."""
    return lowest_of(bucket + 1) - 1


class Histogram:
    """Counts of non-negative integer values; negative values are recorded as 0."""

    __slots__ = ("_counts", "count", "max", "min", "total")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def record(self, value: int, count: int = 1) -> None:
        value = max(0, int(value))
        b = bucket_of(value)
        self._counts[b] = self._counts.get(b, 0) + count
        if self.count == 0 or value < self.min:
            self.min = value
        self.max = max(self.max, value)
        self.count += count
        self.total += value * count

    def record_corrected(self, value: int, expected_interval: int) -> None:
        """Record ``value`` and, when it exceeds ``expected_interval``, the values the
        requests queued behind it would have seen (value - interval, value - 2 x
        interval, ... down to the interval)."""
        self.record(value)
        if expected_interval <= 0:
            return
        missing = value - expected_interval
        while missing >= expected_interval:
            self.record(missing)
            missing -= expected_interval

    def merge(self, other: Histogram) -> None:
        if other.count == 0:
            return
        for b, n in other._counts.items():
            self._counts[b] = self._counts.get(b, 0) + n
        self.min = other.min if self.count == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.count += other.count
        self.total += other.total

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, p: float) -> int:
        """The value at or below which ``p`` percent of the recorded values lie (the
        highest value of its bucket, capped by the maximum); 0 when empty."""
        if self.count == 0:
            return 0
        if p >= 100.0:
            return self.max
        rank = max(1, -(-self.count * p // 100))  # ceil, at least the first value
        seen = 0
        for b in sorted(self._counts):
            seen += self._counts[b]
            if seen >= rank:
                return min(highest_of(b), self.max)
        return self.max

    def buckets(self) -> Iterator[tuple[int, int]]:
        """(bucket's highest value, count) in increasing order."""
        for b in sorted(self._counts):
            yield min(highest_of(b), self.max), self._counts[b]

    def summary(self, scale: float = 1.0) -> dict[str, float]:
        """count, mean, min, p50/p90/p99/p99.9, max; values divided by ``scale``."""
        out: dict[str, float] = {"count": self.count, "mean": round(self.mean / scale, 4),
                                 "min": round(self.min / scale, 4)}
        for p in PERCENTILES:
            out[f"p{p:g}"] = round(self.percentile(p) / scale, 4)
        out["max"] = round(self.max / scale, 4)
        return out

    def spectrum(self, scale: float = 1.0) -> list[tuple[float, float]]:
        """(percentile, value / scale) at 0, 50, 75, 87.5 ... up to the maximum: the
        percentile distribution plot's points."""
        if self.count == 0:
            return []
        points: list[tuple[float, float]] = []
        p, step = 0.0, 50.0
        while p < 100.0 - 1e-9 and step > 1e-7:
            points.append((p, self.percentile(p) / scale))
            if 100.0 - p <= 100.0 / self.count:
                break
            p += step
            step /= 2
        points.append((100.0, self.max / scale))
        return points

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form: ``{"buckets": [[bucket, count], ...], ...}``."""
        return {"count": self.count, "total": self.total, "min": self.min, "max": self.max,
                "buckets": sorted([b, n] for b, n in self._counts.items())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        h = cls()
        h._counts = {int(b): int(n) for b, n in data.get("buckets", [])}
        h.count = int(data.get("count", sum(h._counts.values())))
        h.total = int(data.get("total", 0))
        h.min = int(data.get("min", 0))
        h.max = int(data.get("max", 0))
        return h
