"""Runs one stream handler through the KCL-style consumer: each batch is handed to the
handler (record by record, or as a list) and checkpointed once the handler returned."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from broker.engine.stream_types import Record
from broker.sdk import Client
from workers.app import StreamHandler
from workers.calling import HandlerCall
from workers.kcl import Checkpointer, RecordProcessor, StreamConsumer
from workers.middleware import Chain, HandlerContext


class HandlerProcessor(RecordProcessor):
    def __init__(self, spec: StreamHandler, chain: Chain, pool: ThreadPoolExecutor) -> None:
        self._spec = spec
        self._chain = chain
        self._call = HandlerCall(spec.func, pool)

    async def process_records(self, records: list[Record], checkpointer: Checkpointer,
                              millis_behind_latest: int) -> None:
        ctx = HandlerContext(self._spec.name, self._spec.source, records)
        await self._chain.before(ctx)
        try:
            if self._spec.batch:
                await self._call(records)
            else:
                for r in records:
                    await self._call(r)
        except Exception as exc:
            await self._chain.error(ctx, exc)
            raise  # the consumer retries the batch after a pause
        await self._chain.after(ctx)
        await checkpointer.checkpoint()

    async def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        await checkpointer.checkpoint()


def stream_consumer(client: Client, spec: StreamHandler, chain: Chain, worker_id: str,
                    pool: ThreadPoolExecutor, registry: Any) -> StreamConsumer:
    return StreamConsumer(client, spec.stream, spec.application,
                          lambda: HandlerProcessor(spec, chain, pool), worker_id=worker_id,
                          config=spec.config, registry=registry)
