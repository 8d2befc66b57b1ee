"""Where a shard's records come from: a GetRecords loop (polling) or SubscribeToShard
(push through the application's enhanced fan-out consumer). Both yield ``Batch``es and
end with the closed shard's children."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from broker import errors
from broker.engine.leases import AT_TIMESTAMP, LATEST, TRIM_HORIZON
from broker.engine.stream_types import Record, Shard
from broker.sdk.stream import Stream
from workers.kcl.config import ConsumerConfig

log = logging.getLogger("workers.kcl")


@dataclass(frozen=True, slots=True)
class Batch:
    records: list[Record]
    millis_behind_latest: int
    children: list[Shard] | None = None
    """Set on the last batch of a closed shard read to its end."""


@dataclass(frozen=True, slots=True)
class Start:
    """A starting position: an iterator type with its sequence number or timestamp."""

    kind: str
    sequence_number: str | None = None
    timestamp: dt.datetime | None = None

    @classmethod
    def after_checkpoint(cls, checkpoint: str, timestamp: dt.datetime | None) -> Start:
        if checkpoint in (TRIM_HORIZON, LATEST):
            return cls(checkpoint)
        if checkpoint == AT_TIMESTAMP:
            return cls(AT_TIMESTAMP, timestamp=timestamp)
        return cls("AFTER_SEQUENCE_NUMBER", checkpoint)


def permanent(exc: Exception) -> bool:
    """A request error that retrying cannot fix (the stream or shard is gone, a bad
    argument); connection errors, timeouts and a busy Redis are retried."""
    return isinstance(exc, errors.ClientError) and not isinstance(
        exc, errors.ProvisionedThroughputExceededException | errors.ThrottlingException)


class Backoff:
    def __init__(self, max_s: float) -> None:
        self._max = max_s
        self._next = 0.1

    async def wait(self) -> None:
        await asyncio.sleep(self._next)
        self._next = min(self._next * 2, self._max)

    def reset(self) -> None:
        self._next = 0.1


async def polling(stream: Stream, shard_id: str, start: Start, config: ConsumerConfig
                  ) -> AsyncGenerator[Batch, None]:
    backoff = Backoff(config.retry_backoff_max_s)
    position = start
    iterator: str | None = None
    last_call = 0.0
    while True:
        pause = last_call + config.min_get_interval_s - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        last_call = time.monotonic()
        try:
            if iterator is None:
                iterator = await stream.iterator(shard_id, position.kind,
                                                 sequence_number=position.sequence_number,
                                                 timestamp=position.timestamp)
            got = await stream.get_records(iterator, config.max_records)
        except errors.ExpiredIteratorException:
            iterator = None  # a slow processor outlived the iterator: start again
            continue
        except errors.ProvisionedThroughputExceededException as exc:
            log.debug("shard %s: throttled (%s); retrying", shard_id, exc)
            await backoff.wait()
            continue
        except Exception as exc:
            if permanent(exc):
                raise
            log.warning("shard %s: reading failed (%r); retrying", shard_id, exc)
            await backoff.wait()
            continue
        backoff.reset()
        if got.records:
            position = Start("AFTER_SEQUENCE_NUMBER", got.records[-1].sequence_number)
        end = got.next_iterator is None
        if got.records or end:
            yield Batch(got.records, got.millis_behind_latest,
                        got.child_shards if end else None)
        if end:
            return
        iterator = got.next_iterator
        if not got.records:
            await asyncio.sleep(config.idle_poll_s)


async def push(stream: Stream, consumer_arn: str, shard_id: str, start: Start,
               config: ConsumerConfig) -> AsyncGenerator[Batch, None]:
    backoff = Backoff(config.retry_backoff_max_s)
    position = start
    while True:
        try:
            events = stream.subscribe(consumer_arn, shard_id, position.kind,
                                      sequence_number=position.sequence_number,
                                      timestamp=position.timestamp)
            try:
                async for event in events:
                    backoff.reset()
                    end = bool(event.child_shards)
                    if event.records or end:
                        yield Batch(event.records, event.millis_behind_latest,
                                    event.child_shards if end else None)
                    if end:
                        return
                    if event.records:
                        position = Start("AFTER_SEQUENCE_NUMBER",
                                         event.records[-1].sequence_number)
                    elif event.continuation_sequence_number:
                        position = Start("AFTER_SEQUENCE_NUMBER",
                                         event.continuation_sequence_number)
            finally:
                close = getattr(events, "aclose", None)  # the subscription's connection
                if close is not None:
                    await close()
        except Exception as exc:
            # ResourceInUse: the previous owner's subscription is under 5 s old
            if permanent(exc) and not isinstance(exc, errors.ResourceInUseException):
                raise
            log.info("shard %s: subscription failed (%r); retrying", shard_id, exc)
            await backoff.wait()
