"""Kinesis's arithmetic: hash keys, shard hash-key ranges, shard ids and sequence numbers.

A record's hash key is the MD5 of its partition key read as a 128-bit big-endian
integer, or its ExplicitHashKey; the shard whose [starting, ending] hash-key range holds
it takes the record. CreateStream splits the key space evenly, as Kinesis does (each
shard ``2**128 // n`` keys, the last one the remainder).

A sequence number is a decimal string that orders the records of one shard: ``49``, the
arrival ms (20 digits) and the Redis Stream entry's sequence (20 digits). It converts to
and from the Redis Stream entry ID (``<ms>-<seq>``) without a lookup.
"""

from __future__ import annotations

import hashlib
import re

MAX_HASH_KEY = 2**128 - 1
#: each part of a Redis Stream entry ID is an unsigned 64-bit integer
MAX_ENTRY_PART = 2**64 - 1
_HASH_KEY = re.compile(r"0|[1-9]\d{0,38}")
_SEQUENCE = re.compile(r"49(\d{20})(\d{20})")
STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}")


def hash_key(partition_key: str) -> int:
    """The hash key Kinesis derives from a partition key."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")  # noqa: S324


def parse_hash_key(text: str) -> int | None:
    """An ExplicitHashKey / NewStartingHashKey as an integer; None when malformed or out
    of the 128-bit range."""
    if not isinstance(text, str) or not _HASH_KEY.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_HASH_KEY else None


def even_ranges(count: int) -> list[tuple[int, int]]:
    """The hash-key ranges of ``count`` shards that split the key space evenly."""
    step = (MAX_HASH_KEY + 1) // count
    starts = [i * step for i in range(count)]
    ends = [s - 1 for s in starts[1:]] + [MAX_HASH_KEY]
    return list(zip(starts, ends, strict=True))


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def sequence_number(entry_id: str) -> str:
    """The sequence number of a Redis Stream entry ID (``<ms>-<seq>``)."""
    ms, _, seq = entry_id.partition("-")
    return f"49{int(ms):020d}{int(seq or 0):020d}"


def entry_id(sequence: str) -> str | None:
    """The Redis Stream entry ID of a sequence number; None when it is not one of ours."""
    m = _SEQUENCE.fullmatch(sequence) if isinstance(sequence, str) else None
    if m is None or int(m.group(1)) > MAX_ENTRY_PART or int(m.group(2)) > MAX_ENTRY_PART:
        return None
    return f"{int(m.group(1))}-{int(m.group(2))}"


def entry_ms(entry: str) -> int:
    """The arrival time (ms) of a Redis Stream entry ID."""
    return int(entry.partition("-")[0])
