"""What a ``loadtest run`` saw: every accepted, failed and delivered message, accounted
per destination (a queue, a topic's subscription queue, or the stream) in bitmaps, the
end-to-end and send latencies as HDR histograms, and a series per second."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from loadtest.hdr import Histogram
from loadtest.payload import Stamp


@dataclass(slots=True)
class Second:
    produced: int = 0
    consumed: int = 0
    errors: int = 0
    latency: Histogram = field(default_factory=Histogram)
    backlog: int | None = None
    depth: int | None = None


class Recorder:
    """``matches[d][c]``: whether destination ``d`` gets a message of attribute
    combination ``c`` (topics with filter policies); ``order_key``: the number of
    ordering keys (FIFO groups, partition keys) whose per-producer order is checked, 0
    for none."""

    def __init__(self, destinations: int, start_ns: int, warmup_s: float, duration_s: float,
                 matches: Sequence[Sequence[bool]] | None = None, order_keys: int = 0) -> None:
        self.destinations = destinations
        self.start_ns = start_ns
        self.window_start_ns = start_ns + int(warmup_s * 1e9)
        self.window_end_ns = self.window_start_ns + int(duration_s * 1e9)
        self._matches = [list(m) for m in matches] if matches else None
        self._order_keys = order_keys
        self.e2e = Histogram()
        """send (intended time) to delivery, microseconds, messages sent after warm-up"""
        self.send = Histogram()
        """a send call's response time from its intended start, microseconds"""
        self.service = Histogram()
        """a send call's response time from its actual start, microseconds"""
        self.produced = 0
        self.produced_in_window = 0
        self.expected = [0] * destinations
        self.delivered_expected = [0] * destinations
        self.deliveries = 0
        self.consumed_in_window = 0
        self.duplicates = 0
        self.unexpected = 0
        self.uncertain_delivered = 0
        self.order_violations = 0
        self.errors: Counter[str] = Counter()
        self.seconds: list[Second] = []
        self._seen: dict[tuple[int, int], bytearray] = {}
        self._failed: dict[int, set[int]] = {}
        self._unknown: dict[int, set[int]] = {}
        self._last: dict[tuple[int, int, int], int] = {}
        self._inflight: dict[int, tuple[int, int]] = {}
        self._early: dict[int, list[tuple[int, int]]] = {}
        self.missed = 0
        """messages whose slot in the rate schedule came after the window closed: the
        producers fell behind the rate"""

    # -- producing -------------------------------------------------------------------------

    def sending(self, producer: int, first: int, end: int) -> None:
        """Sequence numbers ``first`` to ``end - 1`` of a producer are in a call: a
        delivery seen before the call answers is classified when it does."""
        self._inflight[producer] = (first, end)

    def sent(self, producer: int, seqs: Sequence[int], codes: Sequence[str | None],
             op: str, intended_ns: int, started_ns: int, done_ns: int, warm: bool) -> None:
        self._inflight.pop(producer, None)
        ok = 0
        for seq, code in zip(seqs, codes, strict=True):
            if code is None:
                ok += 1
                self._expect(seq)
            else:
                self._failed.setdefault(producer, set()).add(seq)
                self.error(op, code, done_ns)
        self.produced += ok
        self._settle(producer)
        if not warm:  # its slot (or start) is in the window, and it started before the end
            self.produced_in_window += ok
            self.send.record((done_ns - intended_ns) // 1000)
            self.service.record((done_ns - started_ns) // 1000)
        self._second(done_ns).produced += ok

    def unknown(self, producer: int, seqs: Sequence[int], op: str, code: str,
                now_ns: int) -> None:
        """A call whose outcome is unknown (an exception): its messages may arrive."""
        self._inflight.pop(producer, None)
        self._unknown.setdefault(producer, set()).update(seqs)
        self.error(op, code, now_ns, len(seqs))
        self._settle(producer)

    def _settle(self, producer: int) -> None:
        for destination, seq in self._early.pop(producer, ()):
            self._classify(destination, producer, seq)

    def _expect(self, seq: int) -> None:
        if self._matches is None:
            for d in range(self.destinations):
                self.expected[d] += 1
            return
        combo = seq % len(self._matches[0])
        for d, m in enumerate(self._matches):
            if m[combo]:
                self.expected[d] += 1

    def error(self, op: str, code: str, now_ns: int, count: int = 1) -> None:
        self.errors[f"{op}:{code}"] += count
        self._second(now_ns).errors += count

    # -- consuming -------------------------------------------------------------------------

    def delivered(self, destination: int, stamp: Stamp, now_ns: int) -> None:
        self.deliveries += 1
        second = self._second(now_ns)
        second.consumed += 1
        if self.window_start_ns <= now_ns < self.window_end_ns:
            self.consumed_in_window += 1
        bits = self._seen.setdefault((destination, stamp.producer), bytearray())
        byte, bit = divmod(stamp.seq, 8)
        if byte >= len(bits):
            bits.extend(bytes(byte - len(bits) + 1 + len(bits) // 2))
        if bits[byte] & (1 << bit):
            self.duplicates += 1
            return
        bits[byte] |= 1 << bit
        first, end = self._inflight.get(stamp.producer, (0, 0))
        if first <= stamp.seq < end:  # delivered before its send call answered
            self._early.setdefault(stamp.producer, []).append((destination, stamp.seq))
        else:
            self._classify(destination, stamp.producer, stamp.seq)
        if self._order_keys:
            key = (destination, stamp.producer, stamp.seq % self._order_keys)
            if stamp.seq < self._last.get(key, -1):
                self.order_violations += 1
            else:
                self._last[key] = stamp.seq
        if not stamp.warm:
            micros = (now_ns - stamp.intended_ns) // 1000
            self.e2e.record(micros)
            second.latency.record(micros)

    def _classify(self, destination: int, producer: int, seq: int) -> None:
        if self._refused(destination, producer, seq):
            self.unexpected += 1
        elif seq in self._unknown.get(producer, ()):
            self.uncertain_delivered += 1
        else:
            self.delivered_expected[destination] += 1

    def _refused(self, destination: int, producer: int, seq: int) -> bool:
        """Whether this delivery should not exist: its send failed, or the
        destination's filter policy rejects it."""
        if seq in self._failed.get(producer, ()):
            return True
        m = self._matches
        return m is not None and not m[destination][seq % len(m[0])]

    # -- totals ----------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Accepted deliveries not delivered yet (the backlog as the harness counts it)."""
        return sum(self.expected) - sum(self.delivered_expected)

    @property
    def lost(self) -> int:
        return self.outstanding

    def _second(self, now_ns: int) -> Second:
        i = max(0, (now_ns - self.start_ns) // 1_000_000_000)
        while len(self.seconds) <= i:
            self.seconds.append(Second())
        return self.seconds[i]

    def sample(self, now_ns: int, depth: int | None) -> None:
        """The backlog (and the server's depth, when known) at this second."""
        s = self._second(now_ns)
        s.backlog = self.outstanding
        s.depth = depth
