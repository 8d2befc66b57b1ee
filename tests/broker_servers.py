"""Broker servers for tests: in the test's event loop (for the async SDK) or in a thread
of their own (for boto3 and the aws CLI, which block)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from broker.config import Settings
from broker.engine import Clock, Engine, Limits
from broker.server.app import BrokerServer
from broker.server.credentials import CredentialStore


@contextlib.asynccontextmanager
async def serving(redis_url: str, *, clock: Clock | None = None, limits: Limits | None = None,
                  credentials: CredentialStore | None = None, **settings: Any
                  ) -> AsyncIterator[BrokerServer]:
    """A broker server on a free port of 127.0.0.1, in the running loop."""
    async with (
        Engine.from_url(redis_url, clock=clock, limits=limits) as engine,
        BrokerServer(engine, Settings(port=0, **settings), credentials=credentials) as server,
    ):
        yield server


@contextlib.contextmanager
def serving_in_thread(redis_url: str, **kwargs: Any) -> Iterator[BrokerServer]:
    """``serving()`` in a thread with its own event loop, for blocking clients."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[BrokerServer] = loop.create_future()
    stop = asyncio.Event()

    async def run() -> None:
        try:
            async with serving(redis_url, **kwargs) as server:
                ready.set_result(server)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(run())
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="broker-server", daemon=True)
    thread.start()
    try:
        server = asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(timeout=30)
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)


async def _wait(ready: asyncio.Future[BrokerServer]) -> BrokerServer:
    return await ready
