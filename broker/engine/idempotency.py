"""Idempotency markers for worker handlers: "this key was processed" within a TTL.

Each marker is one Redis string, so any cluster slot will do:

* ``claim`` sets ``running <owner>`` if no marker exists (``SET NX PX``): the caller may
  run the handler. Otherwise it reports what is there: ``done`` (skip the message) or
  ``running`` (another worker has it now).
* ``complete`` replaces the caller's claim by ``done`` for the TTL.
* ``release`` drops the caller's claim after a failure (compare-and-delete,
  ``lua/idem_release.lua``), so a retry may run; a claim left by a dead worker expires.
"""

from __future__ import annotations

from enum import Enum

from broker.engine.context import Context
from broker.engine.keys import idempotency_key


class Claim(Enum):
    CLAIMED = "claimed"
    """No marker: the caller runs the handler."""
    DONE = "done"
    """Processed already, within the TTL."""
    RUNNING = "running"
    """Another worker claimed it and has not finished (or died: the claim expires)."""


class Idempotency:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _key(self, namespace: str, key: str) -> str:
        return idempotency_key(self._ctx.identity.account_id, namespace, key)

    async def claim(self, namespace: str, key: str, owner: str, claim_ms: int) -> Claim:
        k = self._key(namespace, key)
        if await self._ctx.redis.set(k, f"running {owner}", nx=True, px=claim_ms):
            return Claim.CLAIMED
        current = await self._ctx.redis.get(k)
        if current == b"done":
            return Claim.DONE
        if current is None:  # expired in between: try once more
            ok = await self._ctx.redis.set(k, f"running {owner}", nx=True, px=claim_ms)
            return Claim.CLAIMED if ok else Claim.RUNNING
        return Claim.RUNNING

    async def complete(self, namespace: str, key: str, ttl_ms: int) -> None:
        await self._ctx.redis.set(self._key(namespace, key), "done", px=ttl_ms)

    async def release(self, namespace: str, key: str, owner: str) -> None:
        await self._ctx.scripts.call("idem_release", [self._key(namespace, key)],
                                     [f"running {owner}"])
