"""Kinesis actions for the server: botocore-shaped request dicts in, response dicts out
(the JSON codec turns them into and from awsJson1_1). No semantics of their own: they
translate to the engine's stream calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from broker import errors
from broker.engine import Engine
from broker.engine.stream_admin import StreamRef, stream_in_token
from broker.engine.streams import PutEntry
from broker.server.caller import Caller

Params = dict[str, Any]
Result = dict[str, Any]
Handler = Callable[["KinesisActions", Params, Caller], Awaitable[Result]]


class KinesisActions:
    """Dispatches Kinesis operations by name to the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.admin = engine.stream_admin
        self.streams = engine.streams

    async def handle(self, operation: str, params: Params, caller: Caller) -> Result:
        handler = _HANDLERS.get(operation)
        if handler is None:
            raise errors.UnsupportedOperation(
                f"{operation} is not supported by this broker over the wire (streams, "
                f"shards, resharding, records, iterators, consumers, retention and tags "
                f"are; SubscribeToShard is served to the Python SDK in-process)."
                if operation == "SubscribeToShard" else
                f"{operation} is not supported by this broker (streams, shards, "
                f"resharding, records, iterators, consumers, retention and tags are).")
        return await handler(self, params, caller)

    def _ref(self, p: Params, caller: Caller) -> StreamRef:
        ref = self.admin.ref_from(caller.account_id, p.get("StreamName"), p.get("StreamARN"))
        return self._own(ref, caller)

    @staticmethod
    def _own(ref: StreamRef, caller: Caller) -> StreamRef:
        if ref.account != caller.account_id:
            raise errors.AccessDenied(
                f"User is not authorized to access stream {ref.name} of account "
                f"{ref.account}.")
        return ref

    # -- streams -------------------------------------------------------------------------

    async def create_stream(self, p: Params, caller: Caller) -> Result:
        mode = (p.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
        await self.admin.create(self.admin.ref_from(caller.account_id, p.get("StreamName"), None),
                                p.get("ShardCount"), mode, p.get("Tags"))
        return {}

    async def delete_stream(self, p: Params, caller: Caller) -> Result:
        await self.admin.delete(self._ref(p, caller))
        return {}

    async def list_streams(self, p: Params, caller: Caller) -> Result:
        streams, more, token = await self.admin.list_streams(
            caller.account_id, p.get("Limit"), p.get("ExclusiveStartStreamName"),
            p.get("NextToken"))
        out: Result = {"StreamNames": [s.name for s in streams], "HasMoreStreams": more,
                       "StreamSummaries": [
                           {k: v for k, v in s.summary_wire().items()
                            if k in ("StreamName", "StreamARN", "StreamStatus",
                                     "StreamModeDetails", "StreamCreationTimestamp")}
                           for s in streams]}
        if token:
            out["NextToken"] = token
        return out

    async def describe_stream(self, p: Params, caller: Caller) -> Result:
        info, more = await self.admin.describe(self._ref(p, caller), p.get("Limit"),
                                               p.get("ExclusiveStartShardId"))
        summary = info.summary_wire()
        description = {k: summary[k] for k in (
            "StreamName", "StreamARN", "StreamStatus", "StreamModeDetails",
            "RetentionPeriodHours", "StreamCreationTimestamp", "EnhancedMonitoring",
            "EncryptionType")}
        description["Shards"] = [s.to_wire() for s in info.shards]
        description["HasMoreShards"] = more
        return {"StreamDescription": description}

    async def describe_stream_summary(self, p: Params, caller: Caller) -> Result:
        info = await self.admin.summary(self._ref(p, caller))
        return {"StreamDescriptionSummary": info.summary_wire()}

    async def list_shards(self, p: Params, caller: Caller) -> Result:
        if p.get("NextToken") and (p.get("StreamName") or p.get("ExclusiveStartShardId")):
            raise errors.InvalidArgumentException(
                "NextToken and StreamName cannot be provided together.")
        token = p.get("NextToken")
        ref = self._own(stream_in_token(token), caller) if token and not p.get("StreamARN") \
            else self._ref(p, caller)
        shards, next_token = await self.admin.list_shards(
            ref, max_results=p.get("MaxResults"),
            exclusive_start_shard_id=p.get("ExclusiveStartShardId"), next_token=token,
            shard_filter=p.get("ShardFilter"))
        out: Result = {"Shards": [s.to_wire() for s in shards]}
        if next_token:
            out["NextToken"] = next_token
        return out

    async def increase_retention(self, p: Params, caller: Caller) -> Result:
        await self.admin.set_retention(self._ref(p, caller), p.get("RetentionPeriodHours") or 0,
                                       increase=True)
        return {}

    async def decrease_retention(self, p: Params, caller: Caller) -> Result:
        await self.admin.set_retention(self._ref(p, caller), p.get("RetentionPeriodHours") or 0,
                                       increase=False)
        return {}

    async def describe_limits(self, p: Params, caller: Caller) -> Result:
        return await self.admin.limits(caller.account_id)

    async def add_tags(self, p: Params, caller: Caller) -> Result:
        await self.admin.add_tags(self._ref(p, caller), p.get("Tags") or {})
        return {}

    async def remove_tags(self, p: Params, caller: Caller) -> Result:
        await self.admin.remove_tags(self._ref(p, caller), p.get("TagKeys") or [])
        return {}

    async def list_tags(self, p: Params, caller: Caller) -> Result:
        tags, more = await self.admin.list_tags(self._ref(p, caller),
                                                p.get("ExclusiveStartTagKey"), p.get("Limit"))
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                "HasMoreTags": more}

    # -- resharding ----------------------------------------------------------------------

    async def split_shard(self, p: Params, caller: Caller) -> Result:
        await self.engine.resharding.split(self._ref(p, caller), p.get("ShardToSplit") or "",
                                           p.get("NewStartingHashKey") or "")
        return {}

    async def merge_shards(self, p: Params, caller: Caller) -> Result:
        await self.engine.resharding.merge(self._ref(p, caller), p.get("ShardToMerge") or "",
                                           p.get("AdjacentShardToMerge") or "")
        return {}

    async def update_shard_count(self, p: Params, caller: Caller) -> Result:
        ref = self._ref(p, caller)
        target = p.get("TargetShardCount") or 0
        before = await self.engine.resharding.update_shard_count(
            ref, target, p.get("ScalingType") or "")
        return {"StreamName": ref.name, "StreamARN": self.admin.arn(ref),
                "CurrentShardCount": before, "TargetShardCount": target}

    # -- enhanced fan-out ----------------------------------------------------------------

    def _stream_arn(self, p: Params, caller: Caller) -> str:
        return self.admin.arn(self._own(self.admin.ref_from(caller.account_id, None,
                                                            p.get("StreamARN") or ""),
                                        caller))

    async def register_consumer(self, p: Params, caller: Caller) -> Result:
        consumer = await self.engine.stream_consumers.register(self._stream_arn(p, caller),
                                                               p.get("ConsumerName") or "")
        return {"Consumer": consumer.to_wire()}

    def _consumer_stream(self, p: Params, caller: Caller) -> str | None:
        """The stream a consumer request names (checked to be the caller's)."""
        arn = p.get("StreamARN") or (p.get("ConsumerARN") or "").partition("/consumer/")[0]
        if arn:
            self._own(self.admin.ref_from(caller.account_id, None, arn), caller)
        return p.get("StreamARN")

    async def deregister_consumer(self, p: Params, caller: Caller) -> Result:
        await self.engine.stream_consumers.deregister(
            self._consumer_stream(p, caller), p.get("ConsumerName"), p.get("ConsumerARN"))
        return {}

    async def describe_consumer(self, p: Params, caller: Caller) -> Result:
        consumer = await self.engine.stream_consumers.describe(
            self._consumer_stream(p, caller), p.get("ConsumerName"), p.get("ConsumerARN"))
        return {"ConsumerDescription": consumer.to_wire(with_stream=True)}

    async def list_consumers(self, p: Params, caller: Caller) -> Result:
        consumers, token = await self.engine.stream_consumers.list(
            self._stream_arn(p, caller), p.get("MaxResults"), p.get("NextToken"))
        out: Result = {"Consumers": [c.to_wire() for c in consumers]}
        if token:
            out["NextToken"] = token
        return out

    # -- records -------------------------------------------------------------------------

    async def put_record(self, p: Params, caller: Caller) -> Result:
        r = await self.streams.put_record(
            self._ref(p, caller),
            PutEntry(p.get("Data") or b"", p.get("PartitionKey") or "",
                     p.get("ExplicitHashKey")),
            p.get("SequenceNumberForOrdering"))
        return {**r.to_wire(), "EncryptionType": "NONE"}

    async def put_records(self, p: Params, caller: Caller) -> Result:
        entries = [PutEntry(r.get("Data") or b"", r.get("PartitionKey") or "",
                            r.get("ExplicitHashKey")) for r in p.get("Records") or []]
        results, failed = await self.streams.put_records(self._ref(p, caller), entries)
        return {"FailedRecordCount": failed, "Records": [r.to_wire() for r in results],
                "EncryptionType": "NONE"}

    async def get_shard_iterator(self, p: Params, caller: Caller) -> Result:
        it = await self.streams.get_shard_iterator(
            self._ref(p, caller), p.get("ShardId") or "", p.get("ShardIteratorType") or "",
            p.get("StartingSequenceNumber"), p.get("Timestamp"))
        return {"ShardIterator": it}

    async def get_records(self, p: Params, caller: Caller) -> Result:
        result = await self.streams.get_records(p.get("ShardIterator") or "", p.get("Limit"),
                                                account=caller.account_id)
        return result.to_wire()


_HANDLERS: dict[str, Handler] = {
    "CreateStream": KinesisActions.create_stream,
    "DeleteStream": KinesisActions.delete_stream,
    "ListStreams": KinesisActions.list_streams,
    "DescribeStream": KinesisActions.describe_stream,
    "DescribeStreamSummary": KinesisActions.describe_stream_summary,
    "ListShards": KinesisActions.list_shards,
    "IncreaseStreamRetentionPeriod": KinesisActions.increase_retention,
    "DecreaseStreamRetentionPeriod": KinesisActions.decrease_retention,
    "DescribeLimits": KinesisActions.describe_limits,
    "AddTagsToStream": KinesisActions.add_tags,
    "RemoveTagsFromStream": KinesisActions.remove_tags,
    "ListTagsForStream": KinesisActions.list_tags,
    "SplitShard": KinesisActions.split_shard,
    "MergeShards": KinesisActions.merge_shards,
    "UpdateShardCount": KinesisActions.update_shard_count,
    "RegisterStreamConsumer": KinesisActions.register_consumer,
    "DeregisterStreamConsumer": KinesisActions.deregister_consumer,
    "DescribeStreamConsumer": KinesisActions.describe_consumer,
    "ListStreamConsumers": KinesisActions.list_consumers,
    "PutRecord": KinesisActions.put_record,
    "PutRecords": KinesisActions.put_records,
    "GetShardIterator": KinesisActions.get_shard_iterator,
    "GetRecords": KinesisActions.get_records,
}
