"""Lease tables in the SDK: ``Client.lease_table(application, stream)``.

The table lives in the Redis the client talks to, so it needs an in-process client
(``redis://``, ``rediss://``, ``redis+cluster://``): KCL keeps its leases in a store of
its own (DynamoDB) too, next to the stream it reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.engine.leases import Lease, LeaseTableRef, LeaseTables, LeaseTableState, Renewal


class LeaseTable:
    """The lease table of one consumer application of one stream; every write is one
    conditional function in Redis (see ``broker.engine.leases``)."""

    def __init__(self, tables: LeaseTables, ref: LeaseTableRef) -> None:
        self._tables = tables
        self.ref = ref

    @property
    def application(self) -> str:
        return self.ref.application

    async def read(self, live_ms: int) -> LeaseTableState:
        """Every lease, the workers that renewed within ``live_ms``, and Redis's time."""
        return await self._tables.read(self.ref, live_ms)

    async def create(self, leases: Sequence[Lease]) -> int:
        return await self._tables.create(self.ref, leases)

    async def renew(self, worker: str, held: Sequence[tuple[str, int, int]],
                    forget_ms: int, live: bool = True) -> list[Renewal]:
        return await self._tables.renew(self.ref, worker, held, forget_ms, live)

    async def take(self, worker: str, wanted: Sequence[tuple[str, int]]) -> list[Lease]:
        return await self._tables.take(self.ref, worker, wanted)

    async def request_handoff(self, shard_id: str, owner: str, to: str) -> bool:
        return await self._tables.request_handoff(self.ref, shard_id, owner, to)

    async def get(self, shard_ids: Sequence[str]) -> dict[str, Lease]:
        return await self._tables.get(self.ref, shard_ids)

    async def release(self, worker: str, shard_id: str, token: int, live_ms: int
                      ) -> str | None:
        return await self._tables.release(self.ref, worker, shard_id, token, live_ms)

    async def checkpoint(self, worker: str, shard_id: str, token: int, value: str, *,
                         prepare: bool = False, children: Sequence[Lease] = ()) -> int:
        return await self._tables.checkpoint(self.ref, worker, shard_id, token, value,
                                             prepare=prepare, children=children)

    async def leave(self, worker: str) -> None:
        await self._tables.leave(self.ref, worker)

    async def forget(self, shard_ids: Sequence[str]) -> int:
        return await self._tables.forget(self.ref, shard_ids)

    async def delete(self) -> None:
        await self._tables.delete_table(self.ref)

    def __repr__(self) -> str:
        return f"LeaseTable({self.ref.application!r}, stream={self.ref.stream!r})"
