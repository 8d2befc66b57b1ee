"""loadtest.hdr: percentiles within 0.1 % of the exact ones, merging, serialising, and
the coordinated-omission correction."""

from __future__ import annotations

import random

from loadtest.hdr import Histogram, bucket_of, highest_of, lowest_of


def exact(values: list[int], p: float) -> int:
    s = sorted(values)
    rank = max(1, -(-len(s) * p // 100))
    return s[int(rank) - 1]


def test_buckets_cover_every_value_once() -> None:
    for v in [*range(0, 5000), 2**20 + 12345, 2**40 + 7, 10**15]:
        b = bucket_of(v)
        assert lowest_of(b) <= v <= highest_of(b)
        assert (highest_of(b) - lowest_of(b)) <= max(0, v) / 1000


def test_percentiles_within_a_tenth_of_a_percent() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(8, 2)) for _ in range(50_000)]
    h = Histogram()
    for v in values:
        h.record(v)
    assert h.count == len(values) and h.max == max(values) and h.min == min(values)
    for p in (1, 50, 90, 99, 99.9, 99.99):
        want = exact(values, p)
        got = h.percentile(p)
        assert abs(got - want) <= want / 1000 + 1, (p, got, want)
    assert h.percentile(100) == max(values)
    assert abs(h.mean - sum(values) / len(values)) < 1e-6 * h.mean


def test_merge_and_round_trip() -> None:
    a, b = Histogram(), Histogram()
    for v in range(1, 1001):
        a.record(v)
        b.record(v * 1000)
    a.merge(b)
    assert a.count == 2000 and a.max == 1_000_000 and a.min == 1
    again = Histogram.from_dict(a.to_dict())
    assert again.summary() == a.summary()
    assert again.spectrum()[-1] == (100.0, 1_000_000)


def test_corrected_recording_fills_in_the_stalled_requests() -> None:
    h = Histogram()
    h.record_corrected(1000, 100)  # one 1 ms stall at one request per 100 us
    assert h.count == 10  # 1000, 900, ..., 100
    assert h.min == 100 and h.max == 1000
    empty = Histogram()
    assert empty.percentile(99) == 0 and empty.spectrum() == []
