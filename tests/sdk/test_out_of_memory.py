"""A Redis at maxmemory refuses sends whole, and still lets queues drain."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from broker import Client, errors


@pytest.fixture
async def squeezed(plain_url: str) -> AsyncIterator[Redis]:
    r = Redis.from_url(plain_url)
    yield r
    await r.config_set("maxmemory", 0)
    await r.aclose()


async def test_full_redis_refuses_sends_but_drains(plain_url: str, squeezed: Redis) -> None:
    async with Client(plain_url) as client:
        q = await client.create_queue("full")
        await q.send_batch([f"m{i}" for i in range(5)])
        used = (await squeezed.info("memory"))["used_memory"]
        await squeezed.config_set("maxmemory", max(1, used // 2))
        with pytest.raises(errors.ServiceUnavailable) as exc:
            await q.send("one too many")
        assert exc.value.retriable and exc.value.http_status == 503
        got = await q.receive(10)
        assert len(got) == 5
        await q.delete_batch([m.receipt_handle for m in got])
        await squeezed.config_set("maxmemory", 0)
        attrs = await q.attributes()
        assert attrs["ApproximateNumberOfMessages"] == "0"
        assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
