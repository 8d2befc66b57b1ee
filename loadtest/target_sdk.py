"""The SDK as a load-test target: in-process on Redis, or over HTTP to a broker."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from broker import Client, message, publication, record
from broker.sdk.transport import EngineTransport
from loadtest.targets import OutMessage, redact


class SdkTarget:
    def __init__(self, url: str) -> None:
        self.client = Client(url)
        self.in_process = isinstance(self.client.transport, EngineTransport)
        self.kind = "sdk" if self.in_process else "sdk-http"
        self.label = f"{self.kind} {redact(url)}"
        self._scheme = urlsplit(url).scheme

    async def start(self) -> None:
        await self.client.__aenter__()

    async def close(self) -> None:
        await self.client.close()

    # -- queues ----------------------------------------------------------------------------

    async def create_queue(self, name: str, fifo: bool, visibility_timeout_s: int) -> str:
        q = await self.client.create_queue(
            name + (".fifo" if fifo else ""), visibility_timeout_s=visibility_timeout_s)
        return q.url

    async def delete_queue(self, queue: str) -> None:
        await self.client.queue(queue).delete_queue()

    async def send_batch(self, queue: str, entries: Sequence[OutMessage]) -> list[str | None]:
        res = await self.client.queue(queue).send_batch([
            message(e.body, id=str(i), attributes=dict(e.attributes) or None,
                    group_id=e.group_id, deduplication_id=e.deduplication_id)
            for i, e in enumerate(entries)])
        return _per_entry(len(entries), {f.id: f.code for f in res.failed})

    async def receive(self, queue: str, max_messages: int, wait_s: int
                      ) -> list[tuple[str, str]]:
        got = await self.client.queue(queue).receive(
            max_messages, wait_time_s=wait_s, attribute_names=(),
            message_attribute_names=())
        return [(m.body, m.receipt_handle) for m in got]

    async def delete_batch(self, queue: str, receipts: Sequence[str]) -> list[str | None]:
        res = await self.client.queue(queue).delete_batch(receipts)
        return _per_entry(len(receipts), {f.id: f.code for f in res.failed})

    async def depth(self, queue: str) -> int:
        attrs = await self.client.queue(queue).attributes(
            ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"))
        return sum(int(v) for v in attrs.values())

    # -- topics ----------------------------------------------------------------------------

    async def create_topic(self, name: str) -> str:
        return (await self.client.create_topic(name)).arn

    async def delete_topic(self, topic: str) -> None:
        await self.client.topic(topic).delete()

    async def subscribe(self, topic: str, queue: str, filter_policy: str | None) -> None:
        await self.client.topic(topic).subscribe_queue(
            self.client.queue(queue), raw=True, filter_policy=filter_policy)

    async def publish_batch(self, topic: str, entries: Sequence[OutMessage]
                            ) -> list[str | None]:
        res = await self.client.topic(topic).publish_batch([
            publication(e.body, id=str(i), attributes=dict(e.attributes) or None)
            for i, e in enumerate(entries)])
        return _per_entry(len(entries), {f.id: f.code for f in res.failed})

    # -- streams ---------------------------------------------------------------------------

    async def create_stream(self, name: str, shards: int) -> str:
        await self.client.create_stream(name, shards)
        return name

    async def delete_stream(self, stream: str) -> None:
        await self.client.stream(stream).delete()

    async def put_records(self, stream: str, records: Sequence[tuple[bytes, str]]
                          ) -> list[str | None]:
        res = await self.client.stream(stream).put_batch([record(d, k) for d, k in records])
        return [r.error_code for r in res]

    async def shard_ids(self, stream: str) -> list[str]:
        return [s.shard_id for s in await self.client.stream(stream).shards()]

    async def iterator(self, stream: str, shard_id: str) -> str:
        return await self.client.stream(stream).iterator(shard_id, "TRIM_HORIZON")

    async def get_records(self, iterator: str, limit: int
                          ) -> tuple[list[bytes], str | None]:
        got = await self.client.stream("-").get_records(iterator, limit)
        return [r.data for r in got.records], got.next_iterator


def _per_entry(n: int, failed: dict[str, str]) -> list[str | None]:
    return [failed.get(str(i)) for i in range(n)]
