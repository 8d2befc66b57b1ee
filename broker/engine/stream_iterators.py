"""Shard iterators: opaque, tamper-proof tokens that name a position in one shard of one
incarnation of a stream, and expire 5 minutes after they were issued.

A token is base64url(msgpack [account, stream, shard, epoch, entry id, 'at'|'after',
issued ms] + the first 16 bytes of its HMAC-SHA256). The HMAC key is kept in Redis
(made on first use), so every broker process issues and accepts the same tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

import msgpack

from broker import errors
from broker.engine.keys import ITERATOR_SECRET
from broker.engine.scripts import AnyRedis

#: how long an iterator stays valid (Kinesis: 5 minutes)
ITERATOR_TTL_MS = 300_000
_MAC_BYTES = 16


@dataclass(frozen=True, slots=True)
class Position:
    account: str
    stream: str
    shard_id: str
    epoch: str
    entry_id: str
    mode: str  # 'at' | 'after'
    issued_ms: int


class IteratorCodec:
    """Issues and checks shard iterators with the Redis-wide key."""

    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis
        self._key: bytes | None = None

    async def _secret(self) -> bytes:
        if self._key is None:
            await self._redis.set(ITERATOR_SECRET, os.urandom(32), nx=True)
            key = await self._redis.get(ITERATOR_SECRET)
            assert isinstance(key, bytes)
            self._key = key
        return self._key

    async def issue(self, p: Position) -> str:
        body = msgpack.packb([p.account, p.stream, p.shard_id, p.epoch, p.entry_id, p.mode,
                              p.issued_ms])
        mac = hmac.new(await self._secret(), body, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    async def read(self, token: str, now_ms: int) -> Position:
        """The position of a token; InvalidArgumentException when it is not one of ours
        (or was altered), ExpiredIteratorException when it is older than 5 minutes."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError, TypeError):
            raw = b""
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        good = hmac.new(await self._secret(), body, hashlib.sha256).digest()[:_MAC_BYTES]
        if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, good):
            raise errors.InvalidArgumentException("Invalid ShardIterator.")
        p = Position(*msgpack.unpackb(body))
        if now_ms - p.issued_ms > ITERATOR_TTL_MS:
            raise errors.ExpiredIteratorException(
                f"Iterator expired. The iterator was created at time {p.issued_ms} while "
                f"right now it is {now_ms} which is further in the future than the "
                f"tolerated delay of {ITERATOR_TTL_MS} milliseconds.")
        return p
