"""What the stream engine hands out (shards, stream descriptions, records, put results),
and their Kinesis wire shapes: the server renders them with ``to_wire``, the SDK's HTTP
transport reads them back with ``from_wire``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


def _ts(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return int(float(value) * 1000)


@dataclass(frozen=True, slots=True)
class Shard:
    shard_id: str
    start_hash: int
    end_hash: int
    starting_sequence: str
    ending_sequence: str | None = None
    parent: str | None = None
    adjacent_parent: str | None = None

    @property
    def open(self) -> bool:
        return self.ending_sequence is None

    def holds(self, hash_key: int) -> bool:
        return self.start_hash <= hash_key <= self.end_hash

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ShardId": self.shard_id,
            "HashKeyRange": {"StartingHashKey": str(self.start_hash),
                             "EndingHashKey": str(self.end_hash)},
            "SequenceNumberRange": {"StartingSequenceNumber": self.starting_sequence}}
        if self.ending_sequence is not None:
            out["SequenceNumberRange"]["EndingSequenceNumber"] = self.ending_sequence
        if self.parent:
            out["ParentShardId"] = self.parent
        if self.adjacent_parent:
            out["AdjacentParentShardId"] = self.adjacent_parent
        return out

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Shard:
        keys, seqs = d["HashKeyRange"], d["SequenceNumberRange"]
        return cls(d["ShardId"], int(keys["StartingHashKey"]), int(keys["EndingHashKey"]),
                   seqs["StartingSequenceNumber"], seqs.get("EndingSequenceNumber"),
                   d.get("ParentShardId"), d.get("AdjacentParentShardId"))

    def pack(self) -> dict[str, Any]:
        """The map stored in the stream's ``shards`` hash (msgpack has no 128-bit ints)."""
        return {"s": str(self.start_hash), "e": str(self.end_hash),
                "ss": self.starting_sequence, "se": self.ending_sequence,
                "p": self.parent, "a": self.adjacent_parent}

    @classmethod
    def unpack(cls, shard_id: str, m: dict[str, Any]) -> Shard:
        return cls(shard_id, int(m["s"]), int(m["e"]), m["ss"], m.get("se"), m.get("p"),
                   m.get("a"))


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """DescribeStreamSummary's facts, plus the shards for DescribeStream."""

    name: str
    arn: str
    status: str
    mode: str
    retention_hours: int
    created_ms: int
    open_shards: int
    shards: list[Shard] = field(default_factory=list)
    consumers: int = 0

    def summary_wire(self) -> dict[str, Any]:
        return {"StreamName": self.name, "StreamARN": self.arn,
                "StreamStatus": self.status, "StreamModeDetails": {"StreamMode": self.mode},
                "RetentionPeriodHours": self.retention_hours,
                "StreamCreationTimestamp": _ts(self.created_ms),
                "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                "EncryptionType": "NONE", "OpenShardCount": self.open_shards,
                "ConsumerCount": self.consumers}

    @classmethod
    def from_summary_wire(cls, d: dict[str, Any]) -> StreamInfo:
        return cls(d["StreamName"], d["StreamARN"], d["StreamStatus"],
                   (d.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED"),
                   int(d["RetentionPeriodHours"]), _ms(d["StreamCreationTimestamp"]),
                   int(d.get("OpenShardCount", 0)), consumers=int(d.get("ConsumerCount", 0)))


@dataclass(frozen=True, slots=True)
class Record:
    """One record read from a shard."""

    sequence_number: str
    partition_key: str
    data: bytes
    arrival_ms: int

    @property
    def arrival(self) -> dt.datetime:
        return _ts(self.arrival_ms)

    def to_wire(self) -> dict[str, Any]:
        return {"SequenceNumber": self.sequence_number, "PartitionKey": self.partition_key,
                "Data": self.data, "ApproximateArrivalTimestamp": self.arrival}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Record:
        return cls(d["SequenceNumber"], d["PartitionKey"], d["Data"],
                   _ms(d["ApproximateArrivalTimestamp"]))


@dataclass(frozen=True, slots=True)
class PutResult:
    """One record's outcome: its shard and sequence number, or an error code."""

    shard_id: str = ""
    sequence_number: str = ""
    error_code: str | None = None
    error_message: str | None = None

    def to_wire(self) -> dict[str, Any]:
        if self.error_code:
            return {"ErrorCode": self.error_code, "ErrorMessage": self.error_message or ""}
        return {"ShardId": self.shard_id, "SequenceNumber": self.sequence_number}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> PutResult:
        if d.get("ErrorCode"):
            return cls(error_code=d["ErrorCode"], error_message=d.get("ErrorMessage"))
        return cls(d["ShardId"], d["SequenceNumber"])


@dataclass(frozen=True, slots=True)
class GetRecordsResult:
    records: list[Record]
    next_iterator: str | None
    millis_behind_latest: int
    child_shards: list[Shard] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Records": [r.to_wire() for r in self.records],
                               "MillisBehindLatest": self.millis_behind_latest}
        if self.next_iterator is not None:
            out["NextShardIterator"] = self.next_iterator
        if self.child_shards:
            out["ChildShards"] = [
                {"ShardId": c.shard_id, "ParentShards": [p for p in (c.parent,
                                                                      c.adjacent_parent) if p],
                 "HashKeyRange": c.to_wire()["HashKeyRange"]} for c in self.child_shards]
        return out

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> GetRecordsResult:
        children = [Shard(c["ShardId"], int(c["HashKeyRange"]["StartingHashKey"]),
                          int(c["HashKeyRange"]["EndingHashKey"]), "", None,
                          *(list(c.get("ParentShards") or []) + [None, None])[:2])
                    for c in d.get("ChildShards") or []]
        return cls([Record.from_wire(r) for r in d.get("Records") or []],
                   d.get("NextShardIterator"), int(d.get("MillisBehindLatest", 0)), children)

