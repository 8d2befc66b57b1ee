"""One workload against one target: create what it needs, run producers and consumers
for warm-up + duration, drain, tear down. Everything lands in a ``Recorder``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from loadtest.payload import decode, encode
from loadtest.recorder import Recorder
from loadtest.targets import OutMessage, Target, error_code
from loadtest.workload import Workload

#: Kinesis allows 5 GetRecords calls a second per shard
GET_RECORDS_INTERVAL_S = 0.2
GET_RECORDS_LIMIT = 10_000


@dataclass(slots=True)
class Outcome:
    recorder: Recorder
    drain_s: float
    drained: bool
    consumer: str
    """how the records of a stream were read (``kcl`` or ``polling``), else ``queue``"""
    resources: dict[str, object] = field(default_factory=dict)
    teardown_errors: list[str] = field(default_factory=list)


def filter_matches(wl: Workload) -> list[list[bool]] | None:
    """Which subscription gets which attribute combination (topics), or None when every
    destination gets every message. Evaluated with the broker's filter-policy engine."""
    if wl.kind != "topic" or all(s.filter_policy is None for s in wl.subscriptions):
        return None
    from broker.engine.filter_policy import compile_policy

    combos = wl.attribute_combinations()
    out = []
    for s in wl.subscriptions:
        if s.filter_policy is None:
            out.append([True] * len(combos))
            continue
        matcher = compile_policy(s.filter_policy)
        out.append([matcher.matches_attributes(
            {k: {"DataType": "String", "StringValue": v} for k, v in c.items()})
            for c in combos])
    return out


class Run:
    def __init__(self, wl: Workload, target: Target, run_id: str,
                 on_second: Callable[[Recorder, float], None] | None = None) -> None:
        self.wl = wl
        self.target = target
        self.run_id = run_id
        self._on_second = on_second
        self._queues: list[str] = []
        self._topic: str | None = None
        self._stream: str | None = None
        self._combos = wl.attribute_combinations()
        self._stop = asyncio.Event()

    # -- set-up and tear-down --------------------------------------------------------------

    async def setup(self) -> dict[str, object]:
        wl, t, name = self.wl, self.target, f"lt-{self.run_id}"
        if wl.kind in ("queue", "fifo"):
            self._queues = [await t.create_queue(name, wl.kind == "fifo",
                                                 wl.visibility_timeout_s)]
            return {"queues": list(self._queues)}
        if wl.kind == "topic":
            self._topic = await t.create_topic(name)
            for i, sub in enumerate(wl.subscriptions):
                q = await t.create_queue(f"{name}-{i}", False, wl.visibility_timeout_s)
                self._queues.append(q)
                await t.subscribe(self._topic, q, sub.filter_policy)
            return {"topic": self._topic, "queues": list(self._queues)}
        self._stream = await t.create_stream(name, wl.shards)
        return {"stream": self._stream}

    async def teardown(self) -> list[str]:
        t = self.target
        calls: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        if self._topic is not None:
            calls.append(("topic", functools.partial(t.delete_topic, self._topic)))
        calls += [("queue", functools.partial(t.delete_queue, q)) for q in self._queues]
        if self._stream is not None:
            calls.append(("stream", functools.partial(t.delete_stream, self._stream)))
            from loadtest.target_sdk import SdkTarget

            if isinstance(t, SdkTarget) and t.in_process:  # the KCL group's lease table
                table = t.client.lease_table(f"lt-{self.run_id}", self._stream)
                calls.append(("lease table", table.delete))
        errors = []
        for what, call in calls:
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 (reported, the run's figures stand)
                errors.append(f"deleting the {what}: {error_code(exc)}: {exc}")
        return errors

    # -- the run ---------------------------------------------------------------------------

    async def execute(self) -> Outcome:
        wl = self.wl
        consumer = "queue"
        drain_s, drained = 0.0, False
        try:
            resources = await self.setup()
            start_ns = time.perf_counter_ns() + 50_000_000
            order_keys = wl.groups if wl.kind == "fifo" else \
                wl.partition_keys if wl.kind == "stream" else 0
            rec = Recorder(max(1, len(self._queues)), start_ns, wl.warmup_s, wl.duration_s,
                           filter_matches(wl), order_keys)
            async with asyncio.TaskGroup() as consumers:
                if wl.kind == "stream":
                    consumer = await self._start_stream_consumers(rec, consumers)
                else:
                    for i in range(wl.consumers):
                        dest = i % len(self._queues)
                        consumers.create_task(self._consume_queue(rec, dest))
                sampler = consumers.create_task(self._sample(rec))
                async with asyncio.TaskGroup() as producers:
                    for p in range(wl.producers):
                        producers.create_task(self._produce(rec, p))
                began = time.perf_counter()
                drained = await self._drain(rec)
                drain_s = time.perf_counter() - began
                self._stop.set()
                sampler.cancel()
        finally:
            self._stop.set()
            teardown_errors = await self.teardown()
        rec.sample(time.perf_counter_ns(), None)
        return Outcome(rec, drain_s, drained, consumer, resources, teardown_errors)

    async def _drain(self, rec: Recorder) -> bool:
        deadline = time.monotonic() + self.wl.drain_timeout_s
        while rec.outstanding > 0:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _sample(self, rec: Recorder) -> None:
        began = time.perf_counter_ns()
        tick = 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, (began + tick * 1_000_000_000
                                          - time.perf_counter_ns()) / 1e9))
            depth = None
            if self._queues:
                with contextlib.suppress(Exception):
                    depth = sum(await asyncio.wait_for(
                        asyncio.gather(*(self.target.depth(q) for q in self._queues)), 2))
            now = time.perf_counter_ns()
            rec.sample(now, depth)
            if self._on_second is not None:
                self._on_second(rec, (now - rec.start_ns) / 1e9)

    # -- producing -------------------------------------------------------------------------

    async def _produce(self, rec: Recorder, p: int) -> None:
        wl = self.wl
        batch = wl.batch_size
        interval_ns = int(batch * wl.producers / wl.rate * 1e9) if wl.rate else 0
        # producers start spread over one interval, not all at once
        first_ns = rec.start_ns + (interval_ns * p // wl.producers if interval_ns else 0)
        rng = wl.sizes.sampler(seed=p)
        seq, k = 0, 0
        await asyncio.sleep(max(0.0, (first_ns - time.perf_counter_ns()) / 1e9))
        while True:
            now = time.perf_counter_ns()
            if interval_ns:
                intended = first_ns + k * interval_ns
                if intended >= rec.window_end_ns:
                    return
                if now >= rec.window_end_ns:  # behind schedule: the rest are not sent
                    rec.missed += batch * (-(-(rec.window_end_ns - intended) // interval_ns))
                    return
                if intended > now:
                    await asyncio.sleep((intended - now) / 1e9)
            else:
                intended = now
                if intended >= rec.window_end_ns:
                    return
            warm = intended < rec.window_start_ns
            seqs = list(range(seq, seq + batch))
            seq += batch
            k += 1
            bodies = [encode(self.run_id, p, s, intended, warm, wl.sizes.draw(rng))
                      for s in seqs]
            op = "put" if wl.kind == "stream" else "publish" if wl.kind == "topic" else "send"
            rec.sending(p, seqs[0], seqs[-1] + 1)
            started = time.perf_counter_ns()
            try:
                codes = await self._send(p, seqs, bodies)
            except Exception as exc:  # noqa: BLE001 (an unknown outcome, counted)
                rec.unknown(p, seqs, op, error_code(exc), time.perf_counter_ns())
                await asyncio.sleep(0.05)
                continue
            rec.sent(p, seqs, codes, op, intended, started, time.perf_counter_ns(), warm)
            if any(c is not None for c in codes):
                await asyncio.sleep(0.01)  # throttled: back off a little

    async def _send(self, p: int, seqs: Sequence[int], bodies: Sequence[str]
                    ) -> list[str | None]:
        wl, t = self.wl, self.target
        if wl.kind == "stream":
            assert self._stream is not None
            return await t.put_records(self._stream, [
                (b.encode(), f"pk{s % wl.partition_keys}") for s, b in zip(seqs, bodies,
                                                                           strict=True)])
        if wl.kind == "topic":
            assert self._topic is not None
            combos = self._combos
            return await t.publish_batch(self._topic, [
                OutMessage(b, attributes=combos[s % len(combos)])
                for s, b in zip(seqs, bodies, strict=True)])
        if wl.kind == "fifo":
            return await t.send_batch(self._queues[0], [
                OutMessage(b, group_id=f"g{s % wl.groups}", deduplication_id=f"{p}-{s}")
                for s, b in zip(seqs, bodies, strict=True)])
        return await t.send_batch(self._queues[0], [OutMessage(b) for b in bodies])

    # -- consuming -------------------------------------------------------------------------

    async def _consume_queue(self, rec: Recorder, dest: int) -> None:
        wl, t, queue = self.wl, self.target, self._queues[dest]
        while not self._stop.is_set():
            try:
                got = await t.receive(queue, wl.receive_batch, wl.wait_time_s)
            except Exception as exc:  # noqa: BLE001 (counted; the loop goes on)
                rec.error("receive", error_code(exc), time.perf_counter_ns())
                await asyncio.sleep(0.1)
                continue
            if not got:
                continue
            now = time.perf_counter_ns()
            for body, _ in got:
                stamp = decode(self.run_id, body)
                if stamp is not None:
                    rec.delivered(dest, stamp, now)
            try:
                codes = await t.delete_batch(queue, [h for _, h in got])
            except Exception as exc:  # noqa: BLE001
                rec.error("delete", error_code(exc), time.perf_counter_ns(), len(got))
                continue
            for code in codes:
                if code is not None:
                    rec.error("delete", code, time.perf_counter_ns())

    async def _start_stream_consumers(self, rec: Recorder, group: asyncio.TaskGroup) -> str:
        from loadtest.target_sdk import SdkTarget

        assert self._stream is not None
        if isinstance(self.target, SdkTarget) and self.target.in_process:
            from loadtest.kcl_group import start_group

            start_group(self, rec, group, self._stop)
            return "kcl"
        shards = await self.target.shard_ids(self._stream)
        for i in range(self.wl.consumers):
            mine = shards[i::self.wl.consumers]
            if mine:
                group.create_task(self._poll_shards(rec, mine))
        return "polling"

    def stream_name(self) -> str:
        assert self._stream is not None
        return self._stream

    def stop_event(self) -> asyncio.Event:
        return self._stop

    async def _poll_shards(self, rec: Recorder, shard_ids: Sequence[str]) -> None:
        """GetRecords loops over some shards, at most 5 calls a second per shard."""
        t, stream = self.target, self.stream_name()
        iterators: dict[str, str] = {}
        for sid in shard_ids:
            while sid not in iterators and not self._stop.is_set():
                try:
                    iterators[sid] = await t.iterator(stream, sid)
                except Exception as exc:  # noqa: BLE001 (counted; retried)
                    rec.error("get_shard_iterator", error_code(exc), time.perf_counter_ns())
                    await asyncio.sleep(0.5)
        while iterators and not self._stop.is_set():
            began = time.monotonic()
            for sid, it in list(iterators.items()):
                try:
                    records, nxt = await t.get_records(it, GET_RECORDS_LIMIT)
                except Exception as exc:  # noqa: BLE001 (counted; retried next round)
                    rec.error("get_records", error_code(exc), time.perf_counter_ns())
                    continue
                now = time.perf_counter_ns()
                for data in records:
                    stamp = decode(self.run_id, data)
                    if stamp is not None:
                        rec.delivered(0, stamp, now)
                if nxt is None:
                    del iterators[sid]
                else:
                    iterators[sid] = nxt
            elapsed = time.monotonic() - began
            if elapsed < GET_RECORDS_INTERVAL_S:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), GET_RECORDS_INTERVAL_S - elapsed)
