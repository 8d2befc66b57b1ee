"""DLQ redrive through message move tasks: back to each message's source queue or to a
destination, rate, cancel, one active task per queue, failures, errors, and a task that
survives the process that ran it (nothing lost or duplicated)."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from broker import Client, ManualClock, errors
from broker.engine import Engine
from broker.engine.keys import QueueKeys
from broker.engine.move_tasks import LEASE_MS
from broker.sdk.client import Message, Queue
from broker.server.housekeeping import Housekeeper
from tests.conftest import TEST_LIMITS


async def _dead_letters(client: Client, clock: ManualClock, dlq: Queue, source: Queue,
                        bodies: list[str]) -> None:
    """Send ``bodies`` to ``source`` and let each run out its one receive into ``dlq``."""
    before = int((await dlq.attributes())["ApproximateNumberOfMessages"])
    for b in bodies:
        await source.send(b)
    got = []
    while len(got) < len(bodies):
        batch = await source.receive(10)
        assert batch
        got += batch
    clock.advance(11)
    assert await source.receive(10) == []  # the next receive moves them all
    attrs = await dlq.attributes()
    assert attrs["ApproximateNumberOfMessages"] == str(before + len(bodies))


async def _until(check: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_redrive_back_to_sources(clocked_client: Client, clock: ManualClock) -> None:
    c = clocked_client
    dlq = await c.create_queue("dlq")
    a = await c.create_queue("src-a", visibility_timeout_s=10, dead_letter_queue=(dlq, 1))
    b = await c.create_queue("src-b", visibility_timeout_s=10, dead_letter_queue=(dlq, 1))
    await _dead_letters(c, clock, dlq, a, ["a1", "a2", "a3"])
    await _dead_letters(c, clock, dlq, b, ["b1", "b2"])
    originals = {m.id for m in await dlq.receive(10, visibility_timeout_s=0)}
    handle = await c.start_message_move_task(dlq)

    async def completed() -> bool:
        [t] = await c.list_message_move_tasks(dlq)
        return t.status == "COMPLETED"

    await _until(completed)
    [task] = await c.list_message_move_tasks(dlq)
    assert (task.moved, task.to_move, task.task_handle) == (5, 5, None)
    assert task.source_arn == dlq.arn and task.destination_arn is None
    got_a = await a.receive(10, attribute_names=["All"])
    got_b = await b.receive(10)
    assert sorted(m.body for m in got_a) == ["a1", "a2", "a3"]
    assert sorted(m.body for m in got_b) == ["b1", "b2"]
    # redriven messages are new messages: receive count from zero, no DLQ source
    assert all(m.receive_count == 1 for m in got_a)
    assert all("DeadLetterQueueSourceArn" not in m.attributes for m in got_a)
    assert not originals & {m.id for m in got_a}
    assert (await dlq.attributes())["ApproximateNumberOfMessages"] == "0"
    with pytest.raises(errors.ResourceNotFoundException, match="Task does not exist"):
        await c.cancel_message_move_task(handle)


async def test_redrive_to_destination_with_rate_and_cancel(
        clocked_client: Client, clock: ManualClock) -> None:
    c = clocked_client
    dlq = await c.create_queue("dlq2")
    src = await c.create_queue("src2", visibility_timeout_s=10, dead_letter_queue=(dlq, 1))
    other = await c.create_queue("other")
    await _dead_letters(c, clock, dlq, src, [f"m{i}" for i in range(20)])
    handle = await c.start_message_move_task(dlq, other, max_per_second=10)
    with pytest.raises(errors.InvalidParameterValue, match="already a task running"):
        await c.start_message_move_task(dlq)
    [running] = await c.list_message_move_tasks(dlq)
    assert running.status == "RUNNING" and running.task_handle == handle
    assert running.max_messages_per_second == 10 and running.destination_arn == other.arn

    async def started() -> bool:
        [t] = await c.list_message_move_tasks(dlq)
        return t.moved > 0

    await _until(started)  # (a busy machine may take a while to move the first ones)
    moved = await c.cancel_message_move_task(handle)
    assert 0 <= moved < 20

    async def cancelled() -> bool:
        [t] = await c.list_message_move_tasks(dlq)
        return t.status == "CANCELLED"

    await _until(cancelled)
    [task] = await c.list_message_move_tasks(dlq)
    assert 0 < task.moved < 20
    in_other = int((await other.attributes())["ApproximateNumberOfMessages"])
    left = int((await dlq.attributes())["ApproximateNumberOfMessages"])
    assert (in_other, in_other + left) == (task.moved, 20)  # nothing lost or doubled
    assert await src.receive(10) == []
    # a new task may start once the old one ended; the list shows both, newest first
    await c.start_message_move_task(dlq, other)
    tasks = await c.list_message_move_tasks(dlq)
    assert [t.status for t in tasks][1] == "CANCELLED"
    assert len(await c.list_message_move_tasks(dlq, max_results=1)) == 1


async def test_destination_deleted_fails_the_task(clocked_client: Client,
                                                  clock: ManualClock) -> None:
    c = clocked_client
    dlq = await c.create_queue("dlq3")
    src = await c.create_queue("src3", visibility_timeout_s=10, dead_letter_queue=(dlq, 1))
    await _dead_letters(c, clock, dlq, src, ["x", "y"])
    await src.delete_queue()  # the messages' original source is gone
    await c.start_message_move_task(dlq)

    async def failed() -> bool:
        [t] = await c.list_message_move_tasks(dlq)
        return t.status == "FAILED"

    await _until(failed)
    [task] = await c.list_message_move_tasks(dlq)
    assert task.failure_reason == "AWS.SimpleQueueService.NonExistentQueue"
    assert (await dlq.attributes())["ApproximateNumberOfMessages"] == "2"  # kept


async def test_move_task_errors(client: Client) -> None:
    c = client
    plain = await c.create_queue("not-a-dlq")
    with pytest.raises(errors.InvalidParameterValue, match="Dead Letter Queue"):
        await c.start_message_move_task(plain)
    missing = plain.arn + "-missing"
    with pytest.raises(errors.ResourceNotFoundException, match="SourceArn"):
        await c.start_message_move_task(missing)
    dlq = await c.create_queue("dlq4")
    await c.create_queue("src4", dead_letter_queue=(dlq, 3))
    with pytest.raises(errors.ResourceNotFoundException, match="DestinationArn"):
        await c.start_message_move_task(dlq, missing)
    with pytest.raises(errors.InvalidParameterValue, match="MaxNumberOfMessagesPerSecond"):
        await c.start_message_move_task(dlq, max_per_second=501)
    fifo = await c.create_queue("dest.fifo")
    with pytest.raises(errors.InvalidParameterValue, match="same type"):
        await c.start_message_move_task(dlq, fifo)
    with pytest.raises(errors.InvalidParameterValue, match="TaskHandle"):
        await c.cancel_message_move_task("not a handle")
    with pytest.raises(errors.InvalidParameterValue, match="SourceArn"):
        await c.start_message_move_task("arn:aws:sns:us-east-1:000000000000:topic")
    assert await c.list_message_move_tasks(dlq) == []


async def test_fifo_redrive_keeps_group_order(clocked_client: Client,
                                              clock: ManualClock) -> None:
    c = clocked_client
    dlq = await c.create_queue("dlq5.fifo")
    src = await c.create_queue("src5.fifo", visibility_timeout_s=10,
                               dead_letter_queue=(dlq, 1), content_based_deduplication=True)
    for i in range(3):
        await src.send(f"m{i}", group_id="g")
    assert len(await src.receive(10)) == 3  # one receive each: 1 = maxReceiveCount
    clock.advance(11)
    for _ in range(3):
        assert await src.receive(10) == []  # each receive moves the group's first one
    [dead] = await dlq.receive(1, attribute_names=["All"])
    assert dead.attributes["MessageDeduplicationId"] == dead.id  # as SQS does on a move
    await dead.change_visibility(0)
    await c.start_message_move_task(dlq)

    async def completed() -> bool:
        [t] = await c.list_message_move_tasks(dlq)
        return t.status == "COMPLETED"

    await _until(completed)
    got = await src.receive(10)
    assert [m.body for m in got] == ["m0", "m1", "m2"]


async def test_task_survives_its_runner(redis_url: str, clock: ManualClock) -> None:
    """A runner stops between steps (its process exits) and one that died mid-step
    (claimed messages left in the outbox): another engine adopts the task once the lease
    ran out and finishes it, without losing or duplicating a message."""
    async with Client(redis_url, clock=clock, limits=TEST_LIMITS) as c:
        dlq = await c.create_queue("dlq6")
        src = await c.create_queue("src6", visibility_timeout_s=10,
                                   dead_letter_queue=(dlq, 1))
        dest = await c.create_queue("dest6")
        await _dead_letters(c, clock, dlq, src, [f"m{i}" for i in range(30)])
    async with Engine.from_url(redis_url, clock=clock, limits=TEST_LIMITS) as first:
        handle = await first.moves.start(dlq.arn, dest.arn, max_messages_per_second=20)
        await asyncio.sleep(0.3)
    # the first engine closed mid-task; simulate a second runner dying mid-step too
    async with Engine.from_url(redis_url, clock=clock, limits=TEST_LIMITS) as second:
        keys = QueueKeys(dlq.ref.account, dlq.ref.name)
        assert await second.moves.resume_abandoned(dlq.ref.account) == 0  # lease holds
        clock.advance(LEASE_MS / 1000 + 1)
        assert await second.moves.resume_abandoned(dlq.ref.account) == 1
        await second.moves.close()  # its runner stops between two steps
        task_id = (await second.redis.hget(keys.meta, "x_move_task") or b"").decode()
        now = str(clock.now_ms())
        status, claimed = await second.scripts.call(
            "move_claim", [keys.meta, keys.msgs, keys.avail, keys.moving, keys.move_tasks,
                           *keys.fifo_keys, keys.inflight, *keys.fair_keys],
            [now, task_id, second.ctx.engine_id, 5, 1])
        assert status == b"RUNNING" and len(claimed) == 10
        # ... and "dies" after storing the first claimed message on the destination,
        # before settling any: the next runner must not store it twice
        d = QueueKeys(dest.ref.account, dest.ref.name)
        fields = msgpack.unpackb(claimed[1], raw=True)
        fields[0] = b"\x01" * 16
        stored = await second.scripts.call(
            "dlq_accept",
            [*d.accept_keys, d.moved_marker(f"{task_id}:{claimed[0].decode()}")],
            [now, d.wake_channel, "", 3_600_000, "1", "",
             msgpack.packb(fields, use_bin_type=False)])
        assert stored == [1]
    async with Engine.from_url(redis_url, clock=clock, limits=TEST_LIMITS) as third:
        clock.advance(LEASE_MS / 1000 + 1)
        assert await third.moves.resume_abandoned(dlq.ref.account) in (0, 1)
        await third.moves.wait(handle)
        tasks = await third.moves.list(dlq.arn)
    assert tasks[0].status == "COMPLETED"
    async with Client(redis_url, clock=clock, limits=TEST_LIMITS) as c:
        bodies = []
        while got := await c.queue("dest6").receive(10):
            bodies += [m.body for m in got]
        assert sorted(bodies) == sorted(f"m{i}" for i in range(30))
        assert (await c.queue("dlq6").attributes())["ApproximateNumberOfMessages"] == "0"


async def test_server_housekeeping_adopts_an_abandoned_task(
        redis_url: str, clock: ManualClock) -> None:
    async with Client(redis_url, clock=clock, limits=TEST_LIMITS) as c:
        dlq = await c.create_queue("dlq7")
        src = await c.create_queue("src7", visibility_timeout_s=10,
                                   dead_letter_queue=(dlq, 1))
        await _dead_letters(c, clock, dlq, src, [f"m{i}" for i in range(12)])
        handle = await c.start_message_move_task(dlq, max_per_second=1)
    # that client is gone; a broker server's housekeeping finds the task once its lease
    # ran out
    async with Engine.from_url(redis_url, clock=clock, limits=TEST_LIMITS) as server:
        keeper = Housekeeper(server, [dlq.ref.account])
        await keeper.run_once()
        [task] = await server.moves.list(dlq.arn)
        assert task.status == "RUNNING" and task.moved < 12  # not adopted: lease holds
        clock.advance(LEASE_MS / 1000 + 1)
        await keeper.run_once()
        await server.moves.cancel(handle)
        await server.moves.wait(handle)
        [task] = await server.moves.list(dlq.arn)
        assert task.status == "CANCELLED"
        in_src = int((await server.admin.get_attributes(
            src.ref, ["ApproximateNumberOfMessages"]))["ApproximateNumberOfMessages"])
        left = int((await server.admin.get_attributes(
            dlq.ref, ["ApproximateNumberOfMessages"]))["ApproximateNumberOfMessages"])
        assert in_src + left == 12 and in_src == task.moved


async def test_cancel_finishes_a_dead_runners_outbox(redis_url: str,
                                                     clock: ManualClock) -> None:
    """A runner dies mid-step (claimed messages in the outbox, one already stored), then
    the task is cancelled: the adopting runner still settles the outbox, so every message
    ends up exactly once in the destination or the DLQ; the dead runner's late settle
    is refused."""
    async with Client(redis_url, clock=clock, limits=TEST_LIMITS) as c:
        dlq = await c.create_queue("dlq8")
        src = await c.create_queue("src8", visibility_timeout_s=10,
                                   dead_letter_queue=(dlq, 1))
        dest = await c.create_queue("dest8")
        await _dead_letters(c, clock, dlq, src, [f"m{i}" for i in range(20)])
    keys = QueueKeys(dlq.ref.account, dlq.ref.name)
    settle_keys = [keys.meta, keys.msgs, keys.avail, keys.moving, keys.move_tasks,
                   *keys.fifo_keys, keys.waiters, *keys.fair_keys]
    async with Engine.from_url(redis_url, clock=clock, limits=TEST_LIMITS) as first:
        handle = await first.moves.start(dlq.arn, dest.arn, max_messages_per_second=1)
        await first.moves.close()  # its runner stops; the task stays RUNNING
        task_id = (await first.redis.hget(keys.meta, "x_move_task") or b"").decode()
        now = str(clock.now_ms())
        status, claimed = await first.scripts.call(
            "move_claim", [keys.meta, keys.msgs, keys.avail, keys.moving, keys.move_tasks,
                           *keys.fifo_keys, keys.inflight, *keys.fair_keys],
            [now, task_id, first.ctx.engine_id, 4, 1])
        assert status == b"RUNNING" and len(claimed) == 8
        d = QueueKeys(dest.ref.account, dest.ref.name)
        fields = msgpack.unpackb(claimed[1], raw=True)
        fields[0] = b"\x02" * 16
        assert await first.scripts.call(
            "dlq_accept",
            [*d.accept_keys, d.moved_marker(f"{task_id}:{claimed[0].decode()}")],
            [now, d.wake_channel, "", 3_600_000, "1", "",
             msgpack.packb(fields, use_bin_type=False)]) == [1]
        dead_runner = first.ctx.engine_id
    async with Engine.from_url(redis_url, clock=clock, limits=TEST_LIMITS) as second:
        await second.moves.cancel(handle)
        clock.advance(LEASE_MS / 1000 + 1)
        assert await second.moves.resume_abandoned(dlq.ref.account) == 1
        await second.moves.wait(handle)
        [task] = await second.moves.list(dlq.arn)
        assert task.status == "CANCELLED" and task.moved == 4
        assert await second.redis.hlen(keys.moving) == 0
        # the dead runner wakes up and settles what it claimed: refused, nothing changes
        assert await second.scripts.call(
            "move_settle", settle_keys,
            [str(clock.now_ms()), task_id, "return", keys.wake_channel, dead_runner,
             claimed[0].decode()]) == -1
    async with Client(redis_url, clock=clock, limits=TEST_LIMITS) as c:
        moved = [m.body for m in await _drain(c.queue("dest8"))]
        left = [m.body for m in await _drain(c.queue("dlq8"))]
    assert len(moved) == 4
    assert sorted(moved + left) == sorted(f"m{i}" for i in range(20))


async def _drain(queue: Queue) -> list[Message]:
    out: list[Message] = []
    while got := await queue.receive(10):
        out += got
    return out
