"""Lease tables of stream consumer applications (what KCL keeps in DynamoDB).

One table per (account, stream, application), in one Redis slot: shard id -> lease. A
lease says which worker processes the shard now (``owner``), how far the application
got (``checkpoint``: a sequence number, or TRIM_HORIZON / LATEST / AT_TIMESTAMP before
the first checkpoint, or SHARD_END once a closed shard is done), and the shard's lineage
(``parents``, ``children``). Next to it, a registry of live workers.

Every transition is one function (``lua/lease_*.lua``):

* ``lease_take`` is conditional on the lease counter the taker saw, and makes a new
  acquisition (``token``); ``lease_renew`` is conditional on the owner, its token and the
  counter, and moves the counter;
* ``lease_checkpoint`` and ``lease_release`` are fenced by the token: a worker that lost
  the lease, or holds an older acquisition of it, can never write over the new owner;
* ``lease_handoff`` asks an owner to hand a lease over after checkpointing (KCL 3);
* expiry is judged against Redis server time (``renewed_ms``, and the ``now_ms`` that
  ``lease_table`` returns with every read), never against a worker's clock.

The balancing that decides what to take or steal lives with the consumer (``workers``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import LeaseKeys
from broker.engine.records import as_text

SHARD_END = "SHARD_END"
TRIM_HORIZON = "TRIM_HORIZON"
LATEST = "LATEST"
AT_TIMESTAMP = "AT_TIMESTAMP"
#: checkpoints that are not sequence numbers
SENTINELS = (TRIM_HORIZON, LATEST, AT_TIMESTAMP, SHARD_END)

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
#: leases per script call (bounds the work of one call)
BATCH = 100


@dataclass(frozen=True, slots=True)
class LeaseTableRef:
    """The lease table of one consumer application of one stream."""

    account: str
    stream: str
    application: str

    def __post_init__(self) -> None:
        for what, name in (("application", self.application), ("stream", self.stream)):
            if not _NAME.match(name):
                raise ValueError(f"invalid {what} name {name!r}: use 1-128 of A-Z a-z 0-9 _ . -")

    @property
    def keys(self) -> LeaseKeys:
        return LeaseKeys(self.account, self.stream, self.application)


@dataclass(frozen=True, slots=True)
class Lease:
    shard_id: str
    owner: str = ""
    """The worker processing the shard ('' nobody)."""
    counter: int = 0
    """Moves on every take, renewal and release."""
    token: int = 0
    """The counter at the owner's acquisition: fences its checkpoints and releases."""
    checkpoint: str = TRIM_HORIZON
    pending: str = ""
    """A prepared checkpoint not yet committed ('' none)."""
    switches: int = 0
    """Owner changes since the last checkpoint."""
    parents: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    renewed_ms: int = 0
    """Redis server time of the last take, renewal or release."""
    handoff_to: str = ""
    """A worker that asked for the lease in a graceful handoff ('' none)."""
    handoff_ms: int = 0

    @property
    def finished(self) -> bool:
        return self.checkpoint == SHARD_END

    def expired(self, now_ms: int, failover_ms: int) -> bool:
        """Unowned, or not renewed for ``failover_ms`` of server time."""
        return not self.owner or now_ms - self.renewed_ms > failover_ms

    def pack(self) -> bytes:
        return bytes(msgpack.packb({
            "owner": self.owner, "counter": self.counter, "token": self.token,
            "checkpoint": self.checkpoint, "pending": self.pending,
            "switches": self.switches, "parents": list(self.parents),
            "children": list(self.children), "renewed_ms": self.renewed_ms,
            "handoff_to": self.handoff_to, "handoff_ms": self.handoff_ms}))

    @classmethod
    def unpack(cls, shard_id: str, raw: bytes) -> Lease:
        d: dict[str, Any] = msgpack.unpackb(raw)
        return cls(shard_id, as_text(d["owner"]), int(d["counter"]), int(d["token"]),
                   as_text(d["checkpoint"]), as_text(d["pending"]), int(d["switches"]),
                   tuple(as_text(p) for p in d["parents"] or ()),
                   tuple(as_text(c) for c in d["children"] or ()), int(d["renewed_ms"]),
                   as_text(d["handoff_to"]), int(d["handoff_ms"]))


@dataclass(frozen=True, slots=True)
class LeaseTableState:
    """One consistent read: the leases, the live workers, and Redis's time then."""

    now_ms: int
    leases: dict[str, Lease]
    workers: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Renewal:
    shard_id: str
    counter: int
    """The counter after the renewal; 0 when the lease is lost."""
    handoff_to: str = ""

    @property
    def lost(self) -> bool:
        return self.counter == 0


class LeaseTables:
    """The lease-table operations of the engine."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def _now(self) -> str:
        return clock_arg(self._ctx.clock)

    async def read(self, ref: LeaseTableRef, live_ms: int) -> LeaseTableState:
        k = ref.keys
        now, flat, workers = await self._ctx.scripts.call(
            "lease_table", [k.leases, k.workers], [self._now(), live_ms])
        leases = {}
        for i in range(0, len(flat), 2):
            sid = as_text(flat[i])
            leases[sid] = Lease.unpack(sid, flat[i + 1])
        return LeaseTableState(int(now), leases, [as_text(w) for w in workers])

    async def create(self, ref: LeaseTableRef, leases: Sequence[Lease]) -> int:
        """Create the leases that do not exist yet; returns how many were created."""
        created = 0
        for i in range(0, len(leases), BATCH):
            args: list[Any] = [self._now()]
            for lease in leases[i:i + BATCH]:
                args += [lease.shard_id, lease.pack()]
            created += int(await self._ctx.scripts.call("lease_create", [ref.keys.leases],
                                                        args))
        return created

    async def renew(self, ref: LeaseTableRef, worker: str,
                    held: Sequence[tuple[str, int, int]], forget_ms: int,
                    live: bool = True) -> list[Renewal]:
        """Renew ``(shard id, token, counter)`` leases and mark the worker live (or, with
        ``live=False``, a stopping worker out of the registry)."""
        k = ref.keys
        out: list[Renewal] = []
        for i in range(0, max(len(held), 1), BATCH):
            chunk = held[i:i + BATCH]
            args: list[Any] = [self._now(), worker, forget_ms, "1" if live else "0"]
            for sid, token, counter in chunk:
                args += [sid, token, counter]
            reply = await self._ctx.scripts.call("lease_renew", [k.leases, k.workers], args)
            out += [Renewal(sid, int(reply[2 * j]), as_text(reply[2 * j + 1]))
                    for j, (sid, _, _) in enumerate(chunk)]
        return out

    async def take(self, ref: LeaseTableRef, worker: str,
                   wanted: Sequence[tuple[str, int]]) -> list[Lease]:
        """Take ``(shard id, counter seen)`` leases; returns the ones taken."""
        taken: list[Lease] = []
        for i in range(0, len(wanted), BATCH):
            chunk = wanted[i:i + BATCH]
            args: list[Any] = [self._now(), worker]
            for sid, counter in chunk:
                args += [sid, counter]
            reply = await self._ctx.scripts.call("lease_take", [ref.keys.leases], args)
            taken += [Lease.unpack(sid, raw) for (sid, _), raw in zip(chunk, reply, strict=True)
                      if raw]
        return taken

    async def get(self, ref: LeaseTableRef, shard_ids: Sequence[str]) -> dict[str, Lease]:
        """The leases of some shards (missing ones are left out): one HMGET."""
        if not shard_ids:
            return {}
        raws = await self._ctx.redis.hmget(ref.keys.leases, list(shard_ids))
        return {sid: Lease.unpack(sid, raw) for sid, raw in zip(shard_ids, raws, strict=True)
                if raw is not None}

    async def request_handoff(self, ref: LeaseTableRef, shard_id: str, owner: str,
                              to: str) -> bool:
        return bool(await self._ctx.scripts.call(
            "lease_handoff", [ref.keys.leases], [self._now(), shard_id, owner, to]))

    async def release(self, ref: LeaseTableRef, worker: str, shard_id: str, token: int,
                      live_ms: int) -> str | None:
        """Give a lease up: to the worker that asked for it in a handoff if that worker
        renewed within ``live_ms``, else to nobody. Returns the new owner ('' nobody), or
        None if it was not this worker's acquisition any more."""
        k = ref.keys
        reply = await self._ctx.scripts.call(
            "lease_release", [k.leases, k.workers], [self._now(), worker, shard_id, token,
                                                     live_ms])
        return as_text(reply[1]) if int(reply[0]) else None

    async def checkpoint(self, ref: LeaseTableRef, worker: str, shard_id: str, token: int,
                         value: str, *, prepare: bool = False,
                         children: Sequence[Lease] = ()) -> int:
        """Record a checkpoint (or, with ``prepare``, a pending one); with SHARD_END,
        create the children's leases. 1 done; 0 when the worker lost this acquisition;
        -1 when the lease is finished already (SHARD_END is final)."""
        args: list[Any] = [self._now(), shard_id, worker, token,
                           "prepare" if prepare else "checkpoint", value]
        if value == SHARD_END and not prepare:
            for child in children:
                args += [child.shard_id, child.pack()]
        return int(await self._ctx.scripts.call("lease_checkpoint", [ref.keys.leases],
                                                args))

    async def forget(self, ref: LeaseTableRef, shard_ids: Sequence[str]) -> int:
        """Drop finished leases of the given shards (unfinished ones stay)."""
        dropped = 0
        for i in range(0, len(shard_ids), BATCH):
            dropped += int(await self._ctx.scripts.call(
                "lease_forget", [ref.keys.leases], list(shard_ids[i:i + BATCH])))
        return dropped

    async def leave(self, ref: LeaseTableRef, worker: str) -> None:
        """Take a stopping worker out of the registry (one command: no script needed), so
        the others count it out at once."""
        await self._ctx.redis.zrem(ref.keys.workers, worker)

    async def delete_table(self, ref: LeaseTableRef) -> None:
        """Drop the whole table and its worker registry (the application starts over)."""
        k = ref.keys
        await self._ctx.redis.delete(k.leases)
        await self._ctx.redis.delete(k.workers)
