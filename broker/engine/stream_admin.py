"""Kinesis stream management: create, delete, list, describe, shards, retention, tags,
limits. The records themselves are in ``broker.engine.streams``.

Creating a stream spans slots (the stream's metadata, and each shard in a slot of its
own), so it goes in steps that can be repeated: ``stream_create`` records the stream as
CREATING with its shards, each shard is opened (``stream_open_shard``), then the stream
becomes ACTIVE. Deleting marks it DELETING, drops every shard, then the metadata. A step
interrupted by a crash is finished by the next describe (or create/delete) of the
stream; until then the stream reports the status it is in.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

import msgpack

from broker import errors
from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import AccountKeys, StreamKeys
from broker.engine.records import as_text
from broker.engine.stream_routing import STREAM_NAME, even_ranges, sequence_number, shard_id
from broker.engine.stream_types import Shard, StreamInfo

if TYPE_CHECKING:
    from broker.engine.resharding import Resharding

MODES = ("PROVISIONED", "ON_DEMAND")
#: shards an on-demand stream starts with (Kinesis: 4 MB/s of write capacity)
ON_DEMAND_SHARDS = 4
#: the tag that switches a stream's throughput limits off (value ``off``)
LIMITS_TAG = "redcurrent:throughput-limits"
DEFAULT_RETENTION_H = 24
MAX_RETENTION_H = 8760
#: how long a process keeps a stream's shard map before reading it again
MAP_TTL_S = 1.0
#: how long a create or delete may stay unfinished before another caller finishes it
STALE_TRANSITION_MS = 10_000


@dataclass(frozen=True, slots=True)
class StreamRef:
    account: str
    name: str


@dataclass(frozen=True, slots=True)
class ShardMap:
    """What a put or a read needs to know of a stream: its incarnation, retention and
    shards (open and closed)."""

    epoch: str
    retention_ms: int
    shards: tuple[Shard, ...]
    throttled: bool = False
    """Whether the shards' throughput limits apply (provisioned, not switched off)."""
    read_at: float = 0.0
    """When it was read (monotonic s): a process re-reads it after ``MAP_TTL_S``, so
    retention and limit changes made elsewhere reach it within that."""
    _open: list[Shard] = field(init=False, repr=False, compare=False)
    _starts: list[int] = field(init=False, repr=False, compare=False)

    def shard(self, shard_id: str) -> Shard | None:
        return next((s for s in self.shards if s.shard_id == shard_id), None)

    def __post_init__(self) -> None:
        live = sorted((s for s in self.shards if s.open), key=lambda s: s.start_hash)
        object.__setattr__(self, "_open", live)
        object.__setattr__(self, "_starts", [s.start_hash for s in live])

    def route(self, hash_key: int) -> Shard:
        """The open shard whose range holds ``hash_key`` (a binary search)."""
        i = bisect.bisect_right(self._starts, hash_key) - 1
        if i >= 0 and self._open[i].holds(hash_key):
            return self._open[i]
        raise errors.ServiceUnavailable("The stream has no open shard for this hash key.")


def validation_error(value: Any, member: str, constraint: str) -> errors.ValidationException:
    return errors.ValidationException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}")


def check_name(name: str, member: str = "streamName") -> None:
    if not isinstance(name, str) or not STREAM_NAME.fullmatch(name):
        raise validation_error(name, member, "Member must satisfy regular expression "
                                             "pattern: [a-zA-Z0-9_.-]+")


class StreamAdmin:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._maps: dict[StreamRef, ShardMap] = {}
        self.resharding: Resharding | None = None
        """Set by the engine: finishes a reshard a crash left unfinished."""

    def arn(self, ref: StreamRef) -> str:
        return f"arn:aws:kinesis:{self._ctx.identity.region}:{ref.account}:stream/{ref.name}"

    def ref_from(self, account: str, name: str | None, arn: str | None) -> StreamRef:
        """The stream a request names by StreamName or StreamARN (one of them)."""
        if arn:
            parts = arn.split(":", 5)
            if len(parts) != 6 or parts[2] != "kinesis" or not parts[5].startswith("stream/"):
                raise errors.InvalidArgumentException(f"Invalid StreamARN: {arn}")
            name_in_arn = parts[5][len("stream/"):]
            if name and name != name_in_arn:
                raise errors.InvalidArgumentException(
                    "StreamARN and StreamName do not name the same stream.")
            check_name(name_in_arn, "streamARN")
            return StreamRef(parts[4], name_in_arn)
        if not name:
            raise errors.InvalidArgumentException(
                "Either StreamName or StreamARN should be provided.")
        check_name(name)
        return StreamRef(account, name)

    @staticmethod
    def not_found(ref: StreamRef) -> errors.ResourceNotFoundException:
        return errors.ResourceNotFoundException(
            f"Stream {ref.name} under account {ref.account} not found.")

    # -- create / delete -----------------------------------------------------------------

    async def create(self, ref: StreamRef, shard_count: int | None, mode: str = "PROVISIONED",
                     tags: Mapping[str, str] | None = None) -> None:
        """CreateStream: ``shard_count`` even shards (ON_DEMAND: 4 unless given)."""
        check_name(ref.name)
        if mode not in MODES:
            raise validation_error(mode, "streamModeDetails.streamMode",
                                   "Member must satisfy enum value set: [PROVISIONED, "
                                   "ON_DEMAND]")
        if shard_count is None:
            if mode == "PROVISIONED":
                raise errors.InvalidArgumentException(
                    "ShardCount is required for streams in PROVISIONED mode.")
            shard_count = ON_DEMAND_SHARDS
        if not isinstance(shard_count, int) or shard_count < 1:
            raise validation_error(shard_count, "shardCount",
                                   "Member must have value greater than or equal to 1")
        if tags:
            self._check_tags(tags, 0)
        await self._check_limits(ref, shard_count, mode)
        keys = StreamKeys(ref.account, ref.name)
        epoch = os.urandom(8).hex()
        args: list[Any] = [clock_arg(self._ctx.clock), self.arn(ref), mode,
                           DEFAULT_RETENTION_H, epoch, shard_count]
        start_seq = sequence_number(f"{await self.now_ms()}-0")
        for i, (lo, hi) in enumerate(even_ranges(shard_count)):
            args += [shard_id(i), msgpack.packb(Shard(shard_id(i), lo, hi, start_seq).pack())]
        for k, v in (tags or {}).items():
            args += [k, v]
        await self._ctx.scripts.call("stream_create", [keys.meta, keys.shards, keys.tags],
                                     args)
        await self._ctx.redis.zadd(AccountKeys(ref.account).streams, {ref.name: 0})
        if tags and LIMITS_TAG in tags:
            await self._switch_limits(ref, tags[LIMITS_TAG])
        await self._activate(ref, epoch)

    async def _activate(self, ref: StreamRef, epoch: str) -> None:
        keys = StreamKeys(ref.account, ref.name)
        for sid in await self._ctx.redis.hkeys(keys.shards):
            await self._ctx.scripts.call("stream_open_shard",
                                         [keys.shard(as_text(sid)).state], [epoch])
        await self._ctx.scripts.call("stream_status", [keys.meta], [epoch, "CREATING",
                                                                     "ACTIVE"])

    async def delete(self, ref: StreamRef) -> None:
        """DeleteStream: the stream and every record in it."""
        check_name(ref.name)
        keys = StreamKeys(ref.account, ref.name)
        epoch = await self._ctx.redis.hget(keys.meta, "epoch")
        if epoch is None:
            raise self.not_found(ref)
        await self._ctx.scripts.call("stream_status", [keys.meta], [as_text(epoch), "",
                                                                     "DELETING"])
        await self._drop(ref)

    async def _drop(self, ref: StreamRef) -> None:
        keys = StreamKeys(ref.account, ref.name)
        allocated = int(await self._ctx.redis.hget(keys.meta, "next_shard") or 0)
        for i in range(allocated):  # every shard id ever handed out, mapped or not yet
            shard = keys.shard(shard_id(i))
            await self._ctx.redis.unlink(shard.state, shard.data)
        await self._ctx.redis.unlink(keys.meta, keys.shards, keys.tags, keys.consumers)
        await self._ctx.redis.zrem(AccountKeys(ref.account).streams, ref.name)
        self._maps.pop(ref, None)

    async def check_shard_limit(self, ref: StreamRef, new_shards: int) -> None:
        await self._check_limits(ref, new_shards, "PROVISIONED")

    def forget(self, ref: StreamRef) -> None:
        """Drop the cached shard map (it changed)."""
        self._maps.pop(ref, None)

    async def _check_limits(self, ref: StreamRef, new_shards: int, mode: str) -> None:
        limits = self._ctx.limits
        open_shards, on_demand = await self._usage(ref.account)
        if mode == "ON_DEMAND" and on_demand >= limits.max_on_demand_streams:
            raise errors.LimitExceededException(
                f"This request would exceed the on-demand stream limit for the account "
                f"{ref.account}: {limits.max_on_demand_streams}.")
        if open_shards + new_shards > limits.max_shards_per_account:
            raise errors.LimitExceededException(
                f"This request would exceed the shard limit for the account {ref.account} "
                f"in {self._ctx.identity.region}. Current shard count for the account: "
                f"{open_shards}. Limit: {limits.max_shards_per_account}. Number of "
                f"additional shards that would have resulted from this request: "
                f"{new_shards}.")

    async def _usage(self, account: str) -> tuple[int, int]:
        """(open shards, on-demand streams) of an account."""
        names = [as_text(n) for n in cast("list[bytes]", await self._ctx.redis.zrange(
            AccountKeys(account).streams, 0, -1))]
        open_shards, on_demand = 0, 0
        for name in names:
            found = await self.meta(StreamRef(account, name))
            if found is not None:
                open_shards += sum(1 for s in found[1] if s.open)
                on_demand += found[0].get("mode") == "ON_DEMAND"
        return open_shards, on_demand

    # -- reading the metadata ------------------------------------------------------------

    async def meta(self, ref: StreamRef) -> tuple[dict[str, str], list[Shard]] | None:
        keys = StreamKeys(ref.account, ref.name)
        async with self._ctx.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.meta)
            pipe.hgetall(keys.shards)
            meta_raw, shards_raw = await pipe.execute()
        if not meta_raw:
            return None
        meta = {as_text(k): as_text(v) for k, v in meta_raw.items()}
        shards = sorted((Shard.unpack(as_text(k), msgpack.unpackb(v))
                         for k, v in shards_raw.items()), key=lambda s: s.shard_id)
        return meta, shards

    async def _settled(self, ref: StreamRef) -> tuple[dict[str, str], list[Shard]]:
        """The stream's metadata, finishing a create or delete a crash interrupted."""
        found = await self.meta(ref)
        if found is None:
            raise self.not_found(ref)
        meta, _ = found
        if meta["status"] == "UPDATING" and self.resharding is not None and \
                await self.resharding.finish(ref):
            found = await self.meta(ref)
            if found is None:
                raise self.not_found(ref)
            meta, _ = found
        now = await self.now_ms()
        if meta["status"] in ("CREATING", "DELETING") and \
                now - int(meta["created_ms"]) > STALE_TRANSITION_MS:
            if meta["status"] == "CREATING":
                await self._activate(ref, meta["epoch"])
            else:
                await self._drop(ref)
            found = await self.meta(ref)
            if found is None:
                raise self.not_found(ref)
        return found

    async def now_ms(self) -> int:
        now = self._ctx.clock.now_ms()
        if now is not None:
            return now
        secs, micros = await self._ctx.redis.time()
        return int(secs) * 1000 + int(micros) // 1000

    async def shard_map(self, ref: StreamRef, refresh: bool = False) -> ShardMap:
        """The stream's shards for routing and reading (cached; ``refresh`` re-reads)."""
        cached = self._maps.get(ref)
        if cached is not None and not refresh and \
                time.monotonic() - cached.read_at < MAP_TTL_S:
            return cached
        found = await self.meta(ref)
        if found is None or found[0]["status"] not in ("ACTIVE", "UPDATING"):
            self._maps.pop(ref, None)
            raise self.not_found(ref)
        meta, shards = found
        throttled = self._ctx.limits.stream_throughput_limits and \
            meta["mode"] == "PROVISIONED" and meta.get("limits") != "off"
        smap = ShardMap(meta["epoch"], int(meta["retention_h"]) * 3_600_000, tuple(shards),
                        throttled, time.monotonic())
        self._maps[ref] = smap
        return smap

    def _info(self, ref: StreamRef, meta: Mapping[str, str], shards: list[Shard],
              listed: list[Shard] | None = None) -> StreamInfo:
        return StreamInfo(ref.name, meta["arn"], meta["status"], meta["mode"],
                          int(meta["retention_h"]), int(meta["created_ms"]),
                          sum(1 for s in shards if s.open), listed or [])

    async def describe(self, ref: StreamRef, limit: int | None = None,
                       exclusive_start_shard_id: str | None = None
                       ) -> tuple[StreamInfo, bool]:
        """DescribeStream: the stream with up to ``limit`` (100) shards; and whether
        there are more."""
        limit = _bounded(limit, 100, 10_000, "limit")
        meta, shards = await self._settled(ref)
        after = [s for s in shards if not exclusive_start_shard_id
                 or s.shard_id > exclusive_start_shard_id]
        return self._info(ref, meta, shards, after[:limit]), len(after) > limit

    async def summary(self, ref: StreamRef) -> StreamInfo:
        """DescribeStreamSummary (with ConsumerCount)."""
        meta, shards = await self._settled(ref)
        consumers = await self._ctx.redis.hlen(StreamKeys(ref.account, ref.name).consumers)
        return replace(self._info(ref, meta, shards), consumers=int(consumers))

    async def list_streams(self, account: str, limit: int | None = None,
                           exclusive_start: str | None = None, next_token: str | None = None
                           ) -> tuple[list[StreamInfo], bool, str | None]:
        """ListStreams: (streams, has more, next token)."""
        limit = _bounded(limit, 100, 10_000, "limit")
        if next_token:
            exclusive_start = _read_token(next_token, "streams")
        lo = f"({exclusive_start}" if exclusive_start else "-"
        names = [as_text(n) for n in await self._ctx.redis.zrangebylex(
            AccountKeys(account).streams, lo, "+", start=0, num=limit + 1)]
        more = len(names) > limit
        out = []
        for name in names[:limit]:
            found = await self.meta(StreamRef(account, name))
            if found is not None:
                out.append(self._info(StreamRef(account, name), *found))
        token = _token("streams", names[limit - 1]) if more else None
        return out, more, token

    async def list_shards(self, ref: StreamRef, *, max_results: int | None = None,
                          exclusive_start_shard_id: str | None = None,
                          next_token: str | None = None,
                          shard_filter: Mapping[str, Any] | None = None
                          ) -> tuple[list[Shard], str | None]:
        """ListShards, with ShardFilter and pagination (NextToken)."""
        limit = _bounded(max_results, 1000, 10_000, "maxResults")
        after = exclusive_start_shard_id
        if next_token:
            token_stream, _, token_after = _read_token(next_token, "shards").partition("\0")
            if token_stream != f"{ref.account}/{ref.name}":
                raise errors.InvalidArgumentException("NextToken is for another stream.")
            after = token_after or None
        _, shards = await self._settled(ref)
        kind = (shard_filter or {}).get("Type")
        if kind == "AFTER_SHARD_ID":
            if not (shard_filter or {}).get("ShardId"):
                raise errors.InvalidArgumentException(
                    "ShardId must be provided with ShardFilter type AFTER_SHARD_ID.")
            after = max(after or "", str((shard_filter or {}).get("ShardId")))
        elif kind == "AT_LATEST":
            shards = [s for s in shards if s.open]
        elif kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP"):
            shards = [s for s in shards if s.open or kind == "FROM_TIMESTAMP"
                      or s.ending_sequence is not None]
        elif kind not in (None, "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON"):
            raise validation_error(kind, "shardFilter.type", "Member must satisfy enum "
                                   "value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, "
                                   "FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, "
                                   "FROM_TIMESTAMP]")
        if after:
            shards = [s for s in shards if s.shard_id > after]
        page = shards[:limit]
        more = len(shards) > limit
        token = _token("shards", f"{ref.account}/{ref.name}\0{page[-1].shard_id}") \
            if more else None
        return page, token

    # -- retention -----------------------------------------------------------------------

    async def set_retention(self, ref: StreamRef, hours: int, increase: bool) -> None:
        """Increase/DecreaseStreamRetentionPeriod."""
        if not isinstance(hours, int) or hours < DEFAULT_RETENTION_H:
            raise errors.InvalidArgumentException(
                f"Minimum allowed retention period is {DEFAULT_RETENTION_H} hours. "
                f"Requested retention period ({hours} hours) is too short.")
        if hours > MAX_RETENTION_H:
            raise errors.InvalidArgumentException(
                f"Maximum allowed retention period is {MAX_RETENTION_H} hours. Requested "
                f"retention period ({hours} hours) is too long.")
        meta, _ = await self._settled(ref)
        current = int(meta["retention_h"])
        if increase and hours < current:
            raise errors.InvalidArgumentException(
                f"Requested retention period ({hours} hours) for stream {ref.name} can not "
                f"be shorter than existing retention period ({current} hours). Use "
                f"DecreaseRetentionPeriod API.")
        if not increase and hours > current:
            raise errors.InvalidArgumentException(
                f"Requested retention period ({hours} hours) for stream {ref.name} can not "
                f"be longer than existing retention period ({current} hours). Use "
                f"IncreaseRetentionPeriod API.")
        await self._ctx.redis.hset(StreamKeys(ref.account, ref.name).meta, "retention_h",
                                   hours)
        self._maps.pop(ref, None)

    # -- tags ----------------------------------------------------------------------------

    def _check_tags(self, tags: Mapping[str, str], existing: int) -> None:
        for k, v in tags.items():
            if not isinstance(k, str) or not 1 <= len(k) <= 128:
                raise errors.InvalidArgumentException("Tag keys must be 1-128 characters.")
            if not isinstance(v, str) or len(v) > 256:
                raise errors.InvalidArgumentException("Tag values must be 0-256 characters.")
        if existing + len(tags) > self._ctx.limits.max_tags_per_stream:
            raise errors.LimitExceededException(
                f"A stream cannot have more than {self._ctx.limits.max_tags_per_stream} "
                f"tags.")

    async def add_tags(self, ref: StreamRef, tags: Mapping[str, str]) -> None:
        if not tags:
            raise validation_error("{}", "tags", "Member must have length greater than "
                                                 "or equal to 1")
        await self._settled(ref)
        key = StreamKeys(ref.account, ref.name).tags
        current = {as_text(k) for k in await self._ctx.redis.hkeys(key)}
        self._check_tags(tags, len(current | set(tags)) - len(tags))
        await self._ctx.redis.hset(key, items=[x for kv in tags.items() for x in kv])
        if LIMITS_TAG in tags:
            await self._switch_limits(ref, tags[LIMITS_TAG])

    async def remove_tags(self, ref: StreamRef, keys: Sequence[str]) -> None:
        await self._settled(ref)
        if keys:
            await self._ctx.redis.hdel(StreamKeys(ref.account, ref.name).tags, *keys)
        if LIMITS_TAG in keys:
            await self._switch_limits(ref, "on")

    async def _switch_limits(self, ref: StreamRef, value: str) -> None:
        await self._ctx.redis.hset(StreamKeys(ref.account, ref.name).meta, "limits",
                                   "off" if value.lower() == "off" else "on")
        self.forget(ref)

    async def list_tags(self, ref: StreamRef, exclusive_start: str | None = None,
                        limit: int | None = None) -> tuple[dict[str, str], bool]:
        limit = _bounded(limit, 50, 50, "limit")
        await self._settled(ref)
        raw = await self._ctx.redis.hgetall(StreamKeys(ref.account, ref.name).tags)
        tags = sorted((as_text(k), as_text(v)) for k, v in raw.items())
        if exclusive_start:
            tags = [t for t in tags if t[0] > exclusive_start]
        return dict(tags[:limit]), len(tags) > limit

    async def limits(self, account: str) -> dict[str, int]:
        """DescribeLimits."""
        open_shards, on_demand = await self._usage(account)
        return {"ShardLimit": self._ctx.limits.max_shards_per_account,
                "OpenShardCount": open_shards, "OnDemandStreamCount": on_demand,
                "OnDemandStreamCountLimit": self._ctx.limits.max_on_demand_streams}


def _bounded(value: int | None, default: int, high: int, member: str) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or value < 1:
        raise validation_error(value, member, "Member must have value greater than or "
                                              "equal to 1")
    if value > high:
        raise validation_error(value, member, f"Member must have value less than or equal "
                                              f"to {high}")
    return value


def _token(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, value]).encode()).decode()


def _read_token(token: str, kind: str) -> str:
    try:
        got_kind, value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, TypeError):
        got_kind, value = None, None
    if got_kind != kind or not isinstance(value, str):
        raise errors.InvalidArgumentException(f"Invalid NextToken: {token}")
    return value


def stream_in_token(token: str) -> StreamRef:
    """The stream a ListShards NextToken was made for."""
    stream, _, _ = _read_token(token, "shards").partition("\0")
    account, _, name = stream.partition("/")
    return StreamRef(account, name)
