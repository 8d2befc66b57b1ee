"""Model-based test: one standard queue against a small pure-Python model, on virtual time.

A hypothesis ``RuleBasedStateMachine`` sends, receives, deletes (with current and stale
receipt handles), changes visibility and moves a ``ManualClock`` forward, and after every
step compares what the SDK answers with what the model allows:

* a received message was visible in the model (not delayed, not in flight, not deleted,
  not dead-lettered), with the receive count, SentTimestamp and first-receive timestamp
  the model expects, and a receive returns ``min(max, visible)`` messages (which visible
  ones is the engine's choice: the model accepts any subset of the right size);
* ``ApproximateNumberOfMessages`` / ``...NotVisible`` / ``...Delayed`` equal the model's;
* nothing is lost: a drain (clock moved past every timeout, then receive until empty)
  returns every live message exactly once, both as a rule and at teardown.

``DeadLetterQueueModel`` runs the same machine with a RedrivePolicy (maxReceiveCount 3):
the dead-letter queue is emptied after every receive, so the model knows exactly which
messages moved, and checks they were visible and at their last allowed receive.

The SUT is async and state machines are sync: each machine owns a private event loop and
runs every rule's coroutine on it with ``run_until_complete``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pytest
import redis
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from broker import Client, ManualClock, Message, Queue, errors, message

T = TypeVar("T")

#: the queue's VisibilityTimeout and DelaySeconds (a message's own delay overrides it)
QUEUE_VT_S = 10
QUEUE_DELAY_S = 2
#: the longest retention SQS allows, so nothing expires during a run (see LONG_VT_BUDGET_MS)
RETENTION_S = 14 * 24 * 3600
#: a ~12 h visibility change is only tried while this little virtual time has passed, so
#: the drains it forces can never carry the clock past the retention period
LONG_VT_BUDGET_MS = 5 * 24 * 3600 * 1000
#: SQS's cap on the total visibility of one receive
MAX_TOTAL_VT_MS = 43_200 * 1000
#: system attributes every receive asks for
ATTRS = ("All",)
COUNT_NAMES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)

DELAYS = st.sampled_from([None, 0, 5])
ADVANCES = st.one_of(
    st.sampled_from([5.0, 10.0, 30.0]),
    st.integers(min_value=500, max_value=40_000).map(lambda ms: ms / 1000),
)


@dataclass
class ModelMessage:
    id: str
    body: str
    sent_ms: int
    visible_at: int
    receive_count: int = 0
    first_receive_ms: int = 0
    last_receive_ms: int = 0
    handle: str | None = None
    #: None while in the queue; "deleted" or "dead-lettered" once gone
    gone: str | None = None

    def state(self, now: int) -> str:
        if self.gone:
            return self.gone
        if self.visible_at <= now:
            return "visible"
        return "delayed" if self.receive_count == 0 else "in-flight"


class QueueModel(RuleBasedStateMachine):
    """One standard queue (VisibilityTimeout 10 s, DelaySeconds 2 s, no dead-letter queue)
    vs. the model."""

    #: set by the ``machine_url`` fixture: a standalone Redis, flushed per example
    url: ClassVar[str] = ""
    #: RedrivePolicy maxReceiveCount, or None for no dead-letter queue
    max_receives: ClassVar[int | None] = None

    def __init__(self) -> None:
        super().__init__()
        assert self.url, "the machine_url fixture sets the Redis URL"
        with redis.Redis.from_url(self.url) as r:
            r.flushall()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock()
        self.start_ms = self.now
        self.client = Client(self.url, clock=self.clock)
        self.dlq: Queue | None = None
        try:
            self.run(self.client.__aenter__())
            self.queue = self.run(self._create_queues())
        except BaseException:
            self._close()
            raise
        self.messages: dict[str, ModelMessage] = {}
        #: every receipt handle ever issued -> (message id, receive count it names)
        self.handles: dict[str, tuple[str, int]] = {}
        self.sent = 0

    async def _create_queues(self) -> Queue:
        dead_letter = None
        if self.max_receives is not None:
            self.dlq = await self.client.create_queue("model-dlq", retention_s=RETENTION_S)
            dead_letter = (self.dlq, self.max_receives)
        return await self.client.create_queue(
            "model", visibility_timeout_s=QUEUE_VT_S, delay_s=QUEUE_DELAY_S,
            retention_s=RETENTION_S, dead_letter_queue=dead_letter)

    # -- plumbing ------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    @property
    def now(self) -> int:
        now = self.clock.now_ms()
        assert now is not None
        return now

    def _advance_ms(self, ms: int) -> None:
        """Move the clock exactly ``ms`` forward (``advance`` takes float seconds)."""
        target = self.now + ms
        self.clock.advance(ms / 1000)
        while self.now < target:
            self.clock.advance(0.001)
        assert self.now == target

    def _close(self) -> None:
        try:
            self.run(self.client.close())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def teardown(self) -> None:
        try:
            if sys.exc_info()[1] is None:  # a failed step keeps its own error
                self._drain()
        finally:
            self._close()

    # -- model queries -------------------------------------------------------------------

    def _in_state(self, state: str) -> list[ModelMessage]:
        now = self.now
        return [m for m in self.messages.values() if m.state(now) == state]

    def _live(self) -> list[ModelMessage]:
        return [m for m in self.messages.values() if m.gone is None]

    def _with_current_handle(self) -> list[ModelMessage]:
        return [m for m in self._live() if m.handle is not None]

    def _old_handles(self) -> list[str]:
        """Handles that name no live receive: superseded, or of a gone message."""
        return [h for h, (mid, count) in self.handles.items()
                if self.messages[mid].gone or self.messages[mid].receive_count != count]

    def _is_current(self, handle: str) -> bool:
        mid, count = self.handles[handle]
        m = self.messages[mid]
        return m.gone is None and m.receive_count == count

    def _change_outcome(self, handle: str, vt_s: int) -> str:
        """What ChangeMessageVisibility must do: "changed", "noop", "stale", "too-long"."""
        if not self._is_current(handle):
            return "stale"
        m = self.messages[self.handles[handle][0]]
        now = self.now
        if m.visible_at <= now:  # the receive's timeout ran out and nobody received it
            return "noop"
        if now + vt_s * 1000 - m.last_receive_ms > MAX_TOTAL_VT_MS:
            return "too-long"
        m.visible_at = now + vt_s * 1000
        return "changed"

    # -- send ----------------------------------------------------------------------------

    def _add(self, message_id: str, body: str, delay_s: int | None) -> None:
        assert message_id not in self.messages, "message ids are unique"
        now = self.now
        self.messages[message_id] = ModelMessage(
            id=message_id, body=body, sent_ms=now,
            visible_at=now + (QUEUE_DELAY_S if delay_s is None else delay_s) * 1000)

    def _body(self) -> str:
        self.sent += 1
        return f"body-{self.sent}"

    @rule(n=st.integers(min_value=1, max_value=3), delay_s=DELAYS)
    def send(self, n: int, delay_s: int | None) -> None:
        for _ in range(n):
            body = self._body()
            res = self.run(self.queue.send(body, delay_s=delay_s))
            self._add(res.message_id, body, delay_s)

    @rule(delays=st.lists(DELAYS, min_size=1, max_size=10))
    def send_batch(self, delays: list[int | None]) -> None:
        bodies = [self._body() for _ in delays]
        res = self.run(self.queue.send_batch(
            [message(b, delay_s=d) for b, d in zip(bodies, delays, strict=True)]))
        assert res.failed == []
        assert sorted(res.successful) == sorted(str(i) for i in range(len(delays)))
        for i, (body, delay_s) in enumerate(zip(bodies, delays, strict=True)):
            self._add(res.successful[str(i)].message_id, body, delay_s)

    # -- receive -------------------------------------------------------------------------

    def _receive(self, max_messages: int, vt_s: int | None) -> tuple[list[str], list[str]]:
        """One ReceiveMessage checked against the model; returns (received ids, ids moved
        to the dead-letter queue by it)."""
        now = self.now
        visible = {m.id for m in self._in_state("visible")}
        got = self.run(self.queue.receive(
            max_messages, wait_time_s=0, visibility_timeout_s=vt_s, attribute_names=ATTRS))
        moved = self._empty_dead_letter_queue()
        ids = [m.id for m in got]
        assert len(set(ids)) == len(ids), f"a receive returned a message twice: {ids}"
        assert len(set(moved)) == len(moved), f"a message was dead-lettered twice: {moved}"
        assert not set(ids) & set(moved), "a message was both received and dead-lettered"
        assert len(got) <= max_messages
        for m in got:
            self._check_received(m, visible, now)
        for mid in moved:
            mm = self.messages.get(mid)
            assert mm is not None and mid in visible, f"dead-lettered a non-visible {mid}"
            assert self.max_receives is not None
            assert mm.receive_count >= self.max_receives, (
                f"{mid} dead-lettered after {mm.receive_count} receives")
        if self.max_receives is None:
            assert len(got) == min(max_messages, len(visible)), (
                f"received {len(got)} of {len(visible)} visible (max {max_messages})")
        else:
            # messages moved to the DLQ use up candidate slots, never fewer than that
            assert len(got) + len(moved) >= min(max_messages, len(visible))
        for m in got:
            mm = self.messages[m.id]
            if mm.receive_count == 0:
                mm.first_receive_ms = now
            mm.receive_count += 1
            mm.last_receive_ms = now
            mm.visible_at = now + (QUEUE_VT_S if vt_s is None else vt_s) * 1000
            mm.handle = m.receipt_handle
            assert m.receipt_handle not in self.handles, "receipt handles are fresh"
            self.handles[m.receipt_handle] = (m.id, mm.receive_count)
        for mid in moved:
            self.messages[mid].gone = "dead-lettered"
        return ids, moved

    def _check_received(self, m: Message, visible: set[str], now: int) -> None:
        mm = self.messages.get(m.id)
        assert mm is not None, f"received an unknown message {m.id}"
        assert m.id in visible, f"received {m.id} while {mm.state(now)}"
        assert m.body == mm.body
        if self.max_receives is not None:
            assert mm.receive_count < self.max_receives, (
                f"{m.id} delivered after {mm.receive_count} receives, "
                f"maxReceiveCount {self.max_receives}")
        assert m.receive_count == mm.receive_count + 1
        assert m.attributes["SentTimestamp"] == str(mm.sent_ms)
        first = now if mm.receive_count == 0 else mm.first_receive_ms
        assert m.attributes["ApproximateFirstReceiveTimestamp"] == str(first)

    def _empty_dead_letter_queue(self) -> list[str]:
        """Receive and delete everything in the DLQ; return the message ids, checked."""
        if self.dlq is None:
            return []
        out: list[str] = []
        while True:
            got = self.run(self.dlq.receive(
                10, wait_time_s=0, visibility_timeout_s=30, attribute_names=ATTRS))
            if not got:
                return out
            for m in got:
                mm = self.messages.get(m.id)
                assert mm is not None, f"unknown message {m.id} in the dead-letter queue"
                assert m.body == mm.body
                assert m.attributes["DeadLetterQueueSourceArn"] == self.queue.arn
                assert m.attributes["SentTimestamp"] == str(mm.sent_ms)
                out.append(m.id)
            self.run(self.dlq.delete_batch([m.receipt_handle for m in got]))

    @rule(max_messages=st.integers(min_value=1, max_value=10),
          vt_s=st.sampled_from([None, 0, 5, 30]))
    def receive(self, max_messages: int, vt_s: int | None) -> None:
        self._receive(max_messages, vt_s)

    def _drain(self) -> None:
        """Move past every delay and timeout, then receive until the queue is empty:
        every live message comes back exactly once (or moves to the DLQ)."""
        live = self._live()
        latest = max((m.visible_at for m in live), default=self.now)
        if latest > self.now:
            self._advance_ms(latest - self.now)
        expected = {m.id for m in live}
        seen: list[str] = []
        for _ in range(len(expected) + 2):
            ids, moved = self._receive(10, 30)
            seen += ids + moved
            if not ids and not moved:
                break
        assert len(seen) == len(set(seen)), "a drain returned a message twice"
        assert set(seen) == expected, (
            f"lost: {sorted(expected - set(seen))}, extra: {sorted(set(seen) - expected)}")

    @precondition(lambda self: self._live())
    @rule()
    def drain(self) -> None:
        self._drain()

    # -- delete --------------------------------------------------------------------------

    @precondition(lambda self: self._with_current_handle())
    @rule(data=st.data())
    def delete_current(self, data: st.DataObject) -> None:
        """Deleting with the latest handle deletes, even after its timeout ran out."""
        m = data.draw(st.sampled_from(self._with_current_handle()), label="message")
        assert m.handle is not None
        self.run(self.queue.delete(m.handle))
        m.gone = "deleted"

    @precondition(lambda self: self._old_handles())
    @rule(data=st.data())
    def delete_old(self, data: st.DataObject) -> None:
        """A superseded handle, or one of a deleted message, succeeds and deletes nothing."""
        handle = data.draw(st.sampled_from(self._old_handles()), label="handle")
        self.run(self.queue.delete(handle))

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def delete_batch(self, data: st.DataObject) -> None:
        handles = data.draw(st.lists(st.sampled_from(sorted(self.handles)), min_size=1,
                                     max_size=10, unique=True), label="handles")
        current = [h for h in handles if self._is_current(h)]
        res = self.run(self.queue.delete_batch(handles))
        assert res.failed == []
        assert sorted(res.successful) == sorted(str(i) for i in range(len(handles)))
        for h in current:
            self.messages[self.handles[h][0]].gone = "deleted"

    # -- change visibility ---------------------------------------------------------------

    def _change(self, handle: str, vt_s: int) -> None:
        outcome = self._change_outcome(handle, vt_s)
        if outcome in ("stale", "too-long"):
            with pytest.raises(errors.InvalidParameterValue):
                self.run(self.queue.change_visibility(handle, vt_s))
        else:
            self.run(self.queue.change_visibility(handle, vt_s))

    @precondition(lambda self: self._with_current_handle())
    @rule(data=st.data(), vt_s=st.sampled_from([0, 5, 60]))
    def change_visibility_current(self, data: st.DataObject, vt_s: int) -> None:
        """Counts from now while in flight; a no-op once the timeout ran out."""
        m = data.draw(st.sampled_from(self._with_current_handle()), label="message")
        assert m.handle is not None
        self._change(m.handle, vt_s)

    @precondition(lambda self: self._with_current_handle()
                  and self.now - self.start_ms < LONG_VT_BUDGET_MS)
    @rule(data=st.data(), vt_s=st.sampled_from([43_180, 43_200]))
    def change_visibility_long(self, data: st.DataObject, vt_s: int) -> None:
        """The total visibility of one receive is capped at 12 hours."""
        m = data.draw(st.sampled_from(self._with_current_handle()), label="message")
        assert m.handle is not None
        self._change(m.handle, vt_s)

    @precondition(lambda self: self._old_handles())
    @rule(data=st.data(), vt_s=st.sampled_from([0, 5, 60]))
    def change_visibility_old(self, data: st.DataObject, vt_s: int) -> None:
        handle = data.draw(st.sampled_from(self._old_handles()), label="handle")
        self._change(handle, vt_s)

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def change_visibility_batch(self, data: st.DataObject) -> None:
        handles = data.draw(st.lists(st.sampled_from(sorted(self.handles)), min_size=1,
                                     max_size=10, unique=True), label="handles")
        vts = data.draw(st.lists(st.sampled_from([0, 5, 60]), min_size=len(handles),
                                 max_size=len(handles)), label="timeouts")
        # entries apply in order, so later entries see earlier ones' effect
        outcomes = [self._change_outcome(h, vt) for h, vt in zip(handles, vts, strict=True)]
        res = self.run(self.queue.change_visibility_batch(
            list(zip(handles, vts, strict=True))))
        failed = {e.id: e.code for e in res.failed}
        for i, outcome in enumerate(outcomes):
            if outcome in ("stale", "too-long"):
                assert failed.get(str(i)) == "InvalidParameterValue", (i, outcome, res)
            else:
                assert str(i) in res.successful, (i, outcome, res)

    # -- time ----------------------------------------------------------------------------

    @rule(seconds=ADVANCES)
    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: any(m.visible_at > self.now for m in self._live()))
    @rule(data=st.data(), offset_ms=st.sampled_from([-1, 0, 1]))
    def advance_to_boundary(self, data: st.DataObject, offset_ms: int) -> None:
        """Land exactly on (or 1 ms either side of) a delay or visibility deadline."""
        now = self.now
        deadlines = sorted({m.visible_at for m in self._live() if m.visible_at > now})
        target = data.draw(st.sampled_from(deadlines), label="deadline") + offset_ms
        if target > now:
            self._advance_ms(target - now)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def counts_match(self) -> None:
        attrs = self.run(self.queue.attributes(COUNT_NAMES))
        now = self.now
        states = [m.state(now) for m in self.messages.values()]
        expected = {
            "ApproximateNumberOfMessages": str(states.count("visible")),
            "ApproximateNumberOfMessagesNotVisible": str(states.count("in-flight")),
            "ApproximateNumberOfMessagesDelayed": str(states.count("delayed")),
        }
        assert attrs == expected
        if self.dlq is not None:  # emptied after every receive
            dlq_attrs = self.run(self.dlq.attributes(COUNT_NAMES))
            assert dlq_attrs == dict.fromkeys(COUNT_NAMES, "0")


class DeadLetterQueueModel(QueueModel):
    """The same queue with RedrivePolicy maxReceiveCount 3 into a dead-letter queue."""

    max_receives = 3


@pytest.fixture
def machine_url(standalone_url: str) -> str:
    QueueModel.url = standalone_url
    return standalone_url


def _settings(max_examples: int) -> settings:
    # no explain phase: it replays a failure many more times than shrinking needs
    return settings(max_examples=max_examples, stateful_step_count=30, deadline=None,
                    phases=[p for p in Phase if p is not Phase.explain])


def test_standard_queue_matches_model(machine_url: str) -> None:
    run_state_machine_as_test(QueueModel, settings=_settings(120))


def test_dead_letter_queue_matches_model(machine_url: str) -> None:
    run_state_machine_as_test(DeadLetterQueueModel, settings=_settings(100))
