"""Resharding with Kinesis's lineage: SplitShard, MergeShards, UpdateShardCount.

One reshard spans slots (the stream's metadata, each parent's and each child's slot), so
it goes in steps, each idempotent, driven by a plan stored in the stream's metadata:

1. ``stream_reshard_begin``: the stream turns UPDATING, the plan is stored, child ids
   are allocated.
2. ``stream_close_shard`` on each parent: a put to it now answers CLOSED, so a writer
   re-reads the shard map (and waits for step 4: the parent's records all come before
   any child's).
3. ``stream_open_shard`` on each child.
4. ``stream_reshard_end``: the parents get their ending sequence numbers, the children
   (with ParentShardId / AdjacentParentShardId) join the map, the stream is ACTIVE.

A crash between steps leaves the plan; the next caller that finds it stale finishes it.
UpdateShardCount (UNIFORM_SCALING) is a series of splits at the new even boundaries,
then merges of the pieces, two at a time (the short-lived shards Kinesis also makes), so
every child has at most two parents.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import msgpack

from broker import errors
from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import StreamKeys
from broker.engine.records import as_text
from broker.engine.stream_admin import StreamAdmin, StreamRef, validation_error
from broker.engine.stream_routing import even_ranges, parse_hash_key, sequence_number, shard_id
from broker.engine.stream_types import Shard

#: an unfinished reshard older than this is taken over by whoever finds it
STALE_RESHARD_MS = 10_000


class Resharding:
    def __init__(self, ctx: Context, admin: StreamAdmin) -> None:
        self._ctx = ctx
        self._admin = admin

    # -- the three actions ---------------------------------------------------------------

    async def split(self, ref: StreamRef, parent_id: str, new_starting_hash_key: str) -> None:
        """SplitShard: ``parent_id`` becomes two children, split at the hash key."""
        epoch, shards = await self._provisioned(ref, "SplitShard")
        parent = self._open_shard(ref, shards, parent_id)
        key = parse_hash_key(new_starting_hash_key)
        if key is None or not parent.start_hash < key <= parent.end_hash:
            raise errors.InvalidArgumentException(
                f"NewStartingHashKey {new_starting_hash_key} used in SplitShard() on shard "
                f"{parent_id} in stream {ref.name} under account {ref.account} is not "
                f"both greater than the shard's StartingHashKey {parent.start_hash} and "
                f"at most its EndingHashKey {parent.end_hash}.")
        await self._admin.check_shard_limit(ref, 1)
        await self._reshard(ref, epoch, [parent_id], [
            {"s": str(parent.start_hash), "e": str(key - 1), "p": parent_id},
            {"s": str(key), "e": str(parent.end_hash), "p": parent_id}])

    async def merge(self, ref: StreamRef, shard_a: str, shard_b: str) -> None:
        """MergeShards: two adjacent open shards become one child (``shard_a`` its
        ParentShardId, ``shard_b`` its AdjacentParentShardId)."""
        epoch, shards = await self._provisioned(ref, "MergeShards")
        a = self._open_shard(ref, shards, shard_a)
        b = self._open_shard(ref, shards, shard_b)
        if a.end_hash + 1 != b.start_hash and b.end_hash + 1 != a.start_hash:
            raise errors.InvalidArgumentException(
                f"Shards {shard_a} and {shard_b} in stream {ref.name} under account "
                f"{ref.account} are not an adjacent pair of shards eligible for merging")
        await self._reshard(ref, epoch, [shard_a, shard_b], [
            {"s": str(min(a.start_hash, b.start_hash)), "e": str(max(a.end_hash, b.end_hash)),
             "p": shard_a, "a": shard_b}])

    async def update_shard_count(self, ref: StreamRef, target: int,
                                 scaling_type: str = "UNIFORM_SCALING") -> int:
        """UpdateShardCount: returns the open shard count before."""
        if scaling_type != "UNIFORM_SCALING":
            raise validation_error(scaling_type, "scalingType",
                                   "Member must satisfy enum value set: [UNIFORM_SCALING]")
        if not isinstance(target, int) or target < 1:
            raise validation_error(target, "targetShardCount",
                                   "Member must have value greater than or equal to 1")
        _, shards = await self._provisioned(ref, "UpdateShardCount")
        current = sorted((s for s in shards if s.open), key=lambda s: s.start_hash)
        n = len(current)
        if target > 2 * n:
            raise errors.InvalidArgumentException(
                f"UpdateShardCount cannot scale up over double your current open shard "
                f"count. Current open shard count: {n} Target shard count: {target}")
        if target * 2 < n:
            raise errors.InvalidArgumentException(
                f"UpdateShardCount cannot scale down below half your current open shard "
                f"count. Current open shard count: {n} Target shard count: {target}")
        await self._admin.check_shard_limit(ref, max(0, target - n))
        ranges = _snapped(even_ranges(target), [s.start_hash for s in current])
        for lo, _ in ranges[1:]:  # split wherever a new range starts inside a shard
            shards = await self._open_now(ref)
            inside = next((s for s in shards if s.start_hash < lo <= s.end_hash), None)
            if inside is not None:
                await self.split(ref, inside.shard_id, str(lo))
        for lo, hi in ranges:  # merge the pieces of each new range, two at a time
            while True:
                pieces = sorted((s for s in await self._open_now(ref)
                                 if lo <= s.start_hash and s.end_hash <= hi),
                                key=lambda s: s.start_hash)
                if len(pieces) < 2:
                    break
                await self.merge(ref, pieces[0].shard_id, pieces[1].shard_id)
        return n

    # -- the steps -----------------------------------------------------------------------

    async def _reshard(self, ref: StreamRef, epoch: str, parents: list[str],
                       children: list[dict[str, Any]]) -> None:
        keys = StreamKeys(ref.account, ref.name)
        plan = json.dumps({"parents": parents, "children": children})
        first = await self._ctx.scripts.call(
            "stream_reshard_begin", [keys.meta, keys.shards],
            [clock_arg(self._ctx.clock), epoch, len(children), plan, *parents])
        await self._run(ref, epoch, parents, children, int(first))

    async def _run(self, ref: StreamRef, epoch: str, parents: list[str],
                   children: list[dict[str, Any]], first: int) -> None:
        keys = StreamKeys(ref.account, ref.name)
        ends: dict[str, str] = {}
        for pid in parents:
            shard = keys.shard(pid)
            end = as_text(await self._ctx.scripts.call(
                "stream_close_shard", [shard.data, shard.state],
                [clock_arg(self._ctx.clock), epoch]))
            if not end:
                raise self._admin.not_found(ref)
            ends[pid] = end
        opened = sequence_number(f"{await self._admin.now_ms()}-0")
        for i in range(len(children)):
            await self._ctx.scripts.call("stream_open_shard",
                                         [keys.shard(shard_id(first + i)).state], [epoch])
        found = await self._admin.meta(ref)
        if found is None:
            raise self._admin.not_found(ref)
        known = {s.shard_id: s for s in found[1]}
        updates: list[Any] = []
        for pid, end in ends.items():
            closed = replace(known[pid], ending_sequence=sequence_number(end))
            updates += [pid, msgpack.packb(closed.pack())]
        for i, c in enumerate(children):
            child = Shard(shard_id(first + i), int(c["s"]), int(c["e"]), opened, None,
                          c.get("p"), c.get("a"))
            updates += [child.shard_id, msgpack.packb(child.pack())]
        await self._ctx.scripts.call("stream_reshard_end", [keys.meta, keys.shards],
                                     [epoch, first, *updates])
        self._admin.forget(ref)

    async def finish(self, ref: StreamRef, stale_only: bool = True) -> bool:
        """Complete a reshard found unfinished (stale, unless ``stale_only`` is False);
        True when there was one."""
        found = await self._admin.meta(ref)
        if found is None or "reshard" not in found[0]:
            return False
        meta = found[0]
        if stale_only and await self._admin.now_ms() - int(meta["reshard_ms"]) \
                < STALE_RESHARD_MS:
            return False
        plan = json.loads(meta["reshard"])
        await self._run(ref, meta["epoch"], plan["parents"], plan["children"],
                        int(meta["reshard_first"]))
        return True

    # -- helpers -------------------------------------------------------------------------

    async def _provisioned(self, ref: StreamRef, action: str) -> tuple[str, list[Shard]]:
        found = await self._admin.meta(ref)
        if found is None:
            raise self._admin.not_found(ref)
        meta, shards = found
        if meta["mode"] == "ON_DEMAND":
            raise errors.ValidationException(
                f"{action} is not supported for streams in ON_DEMAND mode.")
        return meta["epoch"], shards

    async def _open_now(self, ref: StreamRef) -> list[Shard]:
        found = await self._admin.meta(ref)
        if found is None:
            raise self._admin.not_found(ref)
        return [s for s in found[1] if s.open]

    @staticmethod
    def _open_shard(ref: StreamRef, shards: list[Shard], sid: str) -> Shard:
        shard = next((s for s in shards if s.shard_id == sid), None)
        if shard is None:
            raise errors.ResourceNotFoundException(
                f"Could not find shard {sid} in stream {ref.name} under account "
                f"{ref.account}.")
        if not shard.open:
            raise errors.InvalidArgumentException(
                f"Shard {sid} in stream {ref.name} under account {ref.account} has "
                f"already been merged or split, and thus is not eligible for merging or "
                f"splitting.")
        return shard


def _snapped(ranges: list[tuple[int, int]], starts: list[int]) -> list[tuple[int, int]]:
    """The even ranges with each boundary moved onto an existing shard boundary when it
    is within a few keys of one: the integer division of the key space makes, say, the
    3-shard and 6-shard boundaries differ by one key, which would otherwise cost a split
    into a one-key shard and a merge back."""
    tolerance = len(ranges) + len(starts)
    bounds = [0]
    for lo, _ in ranges[1:]:
        near = min(starts, key=lambda x: abs(x - lo))
        bounds.append(near if abs(near - lo) <= tolerance and near > bounds[-1] else lo)
    ends = [b - 1 for b in bounds[1:]] + [ranges[-1][1]]
    return list(zip(bounds, ends, strict=True))
