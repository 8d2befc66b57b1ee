"""Where the broker's Redis comes from: the configured URL, or an embedded redis-server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from broker.config import Settings
from broker.embedded import EmbeddedRedis


@contextlib.asynccontextmanager
async def redis_url(settings: Settings) -> AsyncIterator[str]:
    """Yield a Redis URL; with none configured, run an embedded redis-server (AOF on, data
    under ``settings.data_dir``) for the duration."""
    if settings.redis_url:
        yield settings.redis_url
        return
    async with EmbeddedRedis(data_dir=settings.data_dir) as server:
        yield server.url
