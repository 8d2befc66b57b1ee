"""Dead-letter moves at receive time, and long polling that wakes on send."""

from __future__ import annotations

import asyncio
import time

from broker import Client, ManualClock
from broker.engine import Engine


async def test_message_moves_to_dlq_past_max_receive_count(
        clocked_client: Client, clock: ManualClock) -> None:
    dlq = await clocked_client.create_queue("dead")
    src = await clocked_client.create_queue("work", visibility_timeout_s=10,
                                            dead_letter_queue=(dlq, 2))
    sent = await src.send("poison", attributes={"k": "v"})
    for expected in (1, 2):
        [m] = await src.receive()
        assert m.receive_count == expected
        clock.advance(11)
    assert await src.receive() == []  # the third receive moves it instead
    [dead] = await dlq.receive()
    assert dead.id == sent.message_id and dead.body == "poison"
    assert dead.message_attributes["k"]["StringValue"] == "v"
    assert dead.attributes["DeadLetterQueueSourceArn"] == src.arn
    assert dead.receive_count == 3  # counts survive the move
    attrs = await src.attributes()
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


async def test_dlq_deleted_keeps_message_in_source(clocked_client: Client,
                                                   clock: ManualClock) -> None:
    dlq = await clocked_client.create_queue("dead2")
    src = await clocked_client.create_queue("work2", visibility_timeout_s=10,
                                            dead_letter_queue=(dlq, 1))
    await src.send("keep me")
    await src.receive()
    clock.advance(11)
    await dlq.delete_queue()
    [m] = await src.receive()  # the move fails: SQS keeps delivering from the source
    assert (m.body, m.receive_count) == ("keep me", 2)


async def test_long_poll_wakes_on_send(client: Client) -> None:
    q = await client.create_queue("poll")

    async def send_later() -> None:
        await asyncio.sleep(0.2)
        await q.send("wake")

    task = asyncio.create_task(send_later())
    started = time.monotonic()
    got = await q.receive(wait_time_s=10)
    elapsed = time.monotonic() - started
    await task
    assert [m.body for m in got] == ["wake"]
    assert 0.15 < elapsed < 2.0


async def test_long_poll_times_out_empty(client: Client) -> None:
    q = await client.create_queue("quiet")
    started = time.monotonic()
    assert await q.receive(wait_time_s=1) == []
    assert 0.9 < time.monotonic() - started < 3


async def test_queue_wait_time_attribute_long_polls(client: Client) -> None:
    q = await client.create_queue("defaultwait", wait_time_s=1)
    started = time.monotonic()
    assert await q.receive() == []
    assert time.monotonic() - started > 0.9
    assert await q.receive(wait_time_s=0) == []


async def test_long_poll_wakes_when_visibility_runs_out(client: Client) -> None:
    q = await client.create_queue("vtwake", visibility_timeout_s=1)
    await q.send("retry me")
    [m] = await q.receive()
    started = time.monotonic()
    [again] = await q.receive(wait_time_s=5)
    assert again.id == m.id and 0.5 < time.monotonic() - started < 2.5


async def test_many_waiters_share_messages(client: Client) -> None:
    q = await client.create_queue("fanin")
    waiters = [asyncio.create_task(q.receive(wait_time_s=5)) for _ in range(5)]
    await asyncio.sleep(0.1)
    await q.send_batch([f"m{i}" for i in range(5)])
    results = await asyncio.gather(*waiters)
    bodies = sorted(m.body for r in results for m in r)
    assert bodies == [f"m{i}" for i in range(5)]


async def test_interrupted_dlq_move_is_finished_by_the_next_receive(
        clocked_client: Client, clock: ManualClock, redis_url: str) -> None:
    """A receiver that dies after the move into the outbox but before the DLQ stored the
    message: the next receive on the source finishes the move, exactly once."""
    from broker.engine.keys import QueueKeys
    from broker.engine.scripts import Scripts

    dlq = await clocked_client.create_queue("dead3")
    src = await clocked_client.create_queue("work3", visibility_timeout_s=10,
                                            dead_letter_queue=(dlq, 1))
    await src.send("stranded")
    await src.receive()
    clock.advance(11)
    # Do only the first half of a receive (the script), as a crashed receiver would.
    # (A separate engine on the same Redis, so this works over either transport.)
    keys = QueueKeys(src.ref.account, src.ref.name)
    async with Engine.from_url(redis_url, clock=clock) as engine:
        scripts: Scripts = engine.scripts
        reply = await scripts.call(
            "receive", [keys.meta, keys.msgs, keys.avail, keys.inflight, keys.dlqout,
                        keys.waiters], [str(clock.now_ms()), 10, "", "", 0, 1000])
    assert reply[2] == [] and len(reply[3]) == 2
    assert await dlq.receive() == []
    assert await src.receive() == []  # finishes the move
    [dead] = await dlq.receive()
    assert dead.body == "stranded"
    assert await src.receive() == [] and await dlq.receive() == []
