"""SQS message operations on standard queues: send, receive (long polling), delete,
change visibility, and the dead-letter move that a receive can trigger."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgpack

from broker import errors
from broker.engine import md5, validation
from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import QueueKeys
from broker.engine.records import (
    Record,
    as_text,
    decode_handle,
    encode_handle,
    member,
    new_message_ids,
    pack_extra,
    unpack_record,
    uuid_text,
)
from broker.engine.wakeups import SAFETY_POLL_S
from broker.types import (
    BatchResult,
    BatchResultError,
    BatchSendResult,
    MessageAttributes,
    QueueRef,
    ReceivedMessage,
    SendResult,
)

#: most entries in one batch request
MAX_BATCH = 10
#: the system attributes ReceiveMessage can return for a standard queue
SYSTEM_ATTRIBUTES = (
    "SenderId", "SentTimestamp", "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp", "AWSTraceHeader", "DeadLetterQueueSourceArn",
)
_CHANGE_STALE = ("Message does not exist or is not available for visibility timeout "
                 "change.")


@dataclass(frozen=True, slots=True)
class SendEntry:
    """One message to send, as SendMessage/SendMessageBatch take it."""

    body: str
    id: str = ""
    delay_seconds: int | None = None
    message_attributes: MessageAttributes = field(default_factory=dict)
    system_attributes: MessageAttributes = field(default_factory=dict)
    group_id: str | None = None
    """MessageGroupId: required on FIFO queues; a tenant key on standard queues."""
    deduplication_id: str | None = None
    """MessageDeduplicationId (FIFO queues only)."""


def is_fifo(queue: QueueRef) -> bool:
    """FIFO queues, and only they, have names ending in ``.fifo``."""
    return queue.name.endswith(validation.FIFO_SUFFIX)


class Queues:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._keys: dict[QueueRef, QueueKeys] = {}
        self._selections: dict[tuple[tuple[str, ...], tuple[str, ...]], _Selection] = {}

    def _queue_keys(self, queue: QueueRef) -> QueueKeys:
        """The queue's keys, built once per queue (the hot paths use them every call)."""
        keys = self._keys.get(queue)
        if keys is None:
            if len(self._keys) >= _CACHE_MAX:
                self._keys.clear()
            keys = self._keys[queue] = QueueKeys(queue.account, queue.name)
        return keys

    def _selection(self, system: Sequence[str], message: Sequence[str]) -> _Selection:
        key = (tuple(system), tuple(message))
        select = self._selections.get(key)
        if select is None:
            if len(self._selections) >= _CACHE_MAX:
                self._selections.clear()
            select = self._selections[key] = _Selection(*key)
        return select

    # -- send ----------------------------------------------------------------------------

    async def send(self, queue: QueueRef, entry: SendEntry, sender_id: str = "") -> SendResult:
        """SendMessage."""
        prepared = self._prepare(entry, is_fifo(queue))
        results = await self._send_prepared(queue, [prepared], sender_id)
        result = results[0]
        if isinstance(result, errors.BrokerError):
            raise result
        return result

    async def send_batch(
        self, queue: QueueRef, entries: Sequence[SendEntry], sender_id: str = ""
    ) -> BatchSendResult:
        """SendMessageBatch: per-entry results; request-level errors raise."""
        validation.validate_batch_entry_ids([e.id for e in entries])
        prepared: list[_Prepared] = []
        failed: list[BatchResultError] = []
        total = 0
        fifo = is_fifo(queue)
        for e in entries:
            try:
                p = self._prepare(e, fifo)
            except errors.BrokerError as exc:
                failed.append(BatchResultError(e.id, exc.wire_code(), exc.message))
                continue
            total += p.size
            prepared.append(p)
        if total > validation.MAX_MESSAGE_SIZE:
            raise errors.BatchRequestTooLong(
                f"Batch requests cannot be longer than {validation.MAX_MESSAGE_SIZE} bytes. "
                f"You have sent {total} bytes.")
        successful: dict[str, SendResult] = {}
        if prepared:
            results = await self._send_prepared(queue, prepared, sender_id)
            for p, res in zip(prepared, results, strict=True):
                if isinstance(res, errors.BrokerError):
                    failed.append(BatchResultError(p.entry.id, res.wire_code(), res.message))
                else:
                    successful[p.entry.id] = res
        return BatchSendResult(successful=successful, failed=failed)

    def _prepare(self, e: SendEntry, fifo: bool) -> _Prepared:
        body = validation.validated_body_bytes(e.body)
        if e.group_id is not None or e.deduplication_id is not None or fifo:
            validation.validate_fifo_send(e.group_id, e.deduplication_id, e.delay_seconds,
                                          fifo=fifo)
        if e.delay_seconds is not None:
            validation.validate_delay(e.delay_seconds, False)
        attrs = e.message_attributes
        size = len(body)
        if attrs:
            validation.validate_message_attributes(attrs)
            size += validation.message_attributes_size(attrs)
        trace = None
        if e.system_attributes:
            validation.validate_system_attributes_for_send(e.system_attributes)
            trace = e.system_attributes["AWSTraceHeader"]["StringValue"]
        return _Prepared(e, body, size, trace,
                         hashlib.md5(body, usedforsecurity=False).digest())

    async def _send_prepared(
        self, queue: QueueRef, items: Sequence[_Prepared], sender_id: str
    ) -> list[SendResult | errors.BrokerError]:
        keys = self._queue_keys(queue)
        sender = sender_id or queue.account
        if is_fifo(queue):
            return await self._send_fifo(queue, keys, items, sender)
        # The whole batch travels as one msgpack argument (see send.lua): one argument
        # instead of six per message is much cheaper to frame for redis-py. Packed with
        # use_bin_type=False, as Redis' cmsgpack does not know the bin types.
        batch: list[Any] = []
        ids = new_message_ids(len(items))
        for (raw_id, _), p in zip(ids, items, strict=True):
            e = p.entry
            batch += (raw_id, p.body, -1 if e.delay_seconds is None else e.delay_seconds,
                      pack_extra(e.message_attributes, sender, p.trace), p.size, p.digest,
                      e.group_id or "")
        reply = await self._ctx.scripts.call(
            "send", keys.send_keys,
            [clock_arg(self._ctx.clock), keys.wake_channel,
             msgpack.packb(batch, use_bin_type=False)])
        max_size = int(reply[1])
        out: list[SendResult | errors.BrokerError] = []
        for (_, mid), p, seq in zip(ids, items, reply[2:], strict=True):
            if int(seq) == 0:
                out.append(_too_big(max_size))
                continue
            out.append(_sent(mid, p))
        return out

    async def _send_fifo(
        self, queue: QueueRef, keys: QueueKeys, items: Sequence[_Prepared], sender: str
    ) -> list[SendResult | errors.BrokerError]:
        """The FIFO send (fifo_send.lua): deduplication, groups, sequence numbers."""
        batch: list[Any] = []
        ids = new_message_ids(len(items))
        for (raw_id, _), p in zip(ids, items, strict=True):
            e = p.entry
            batch += (raw_id, p.body, pack_extra(e.message_attributes, sender, p.trace),
                      p.size, p.digest, e.group_id, e.deduplication_id or "",
                      "" if e.deduplication_id else hashlib.sha256(p.body).hexdigest())
        reply = await self._ctx.scripts.call(
            "fifo_send", (*keys.send_keys[:5], *keys.fifo_keys, keys.dedup, keys.dedup_exp),
            [clock_arg(self._ctx.clock), keys.wake_channel,
             msgpack.packb(batch, use_bin_type=False),
             self._ctx.limits.fifo_deduplication_interval_ms])
        max_size = int(reply[1])
        out: list[SendResult | errors.BrokerError] = []
        for i, ((_, mid), p) in enumerate(zip(ids, items, strict=True)):
            code, value = reply[2 + 2 * i], reply[3 + 2 * i]
            if code == b"B":
                out.append(_too_big(max_size))
            elif code == b"N":
                out.append(errors.InvalidParameterValue(
                    "The queue should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"))
            elif code == b"D":
                out.append(_sent(uuid_text(value[:16]), p, sequence_number(value[16:])))
            else:
                out.append(_sent(mid, p, sequence_number(code)))
        return out

    # -- receive -------------------------------------------------------------------------

    async def receive(
        self, queue: QueueRef, *, max_messages: int = 1, wait_time_s: int | None = None,
        visibility_timeout_s: int | None = None,
        attribute_names: Sequence[str] = (), message_attribute_names: Sequence[str] = (),
        receive_request_attempt_id: str | None = None,
    ) -> list[ReceivedMessage]:
        """ReceiveMessage, with long polling when the wait time (given, or the queue's
        ReceiveMessageWaitTimeSeconds) is above zero. ``receive_request_attempt_id``
        (FIFO queues; ignored by standard ones): a retry with the same id within 5
        minutes returns the same messages and handles if nothing changed since."""
        validation.validate_receive_params(max_messages, wait_time_s, visibility_timeout_s)
        attempt = ""
        if receive_request_attempt_id is not None:
            validation.validate_fifo_id("ReceiveRequestAttemptId", receive_request_attempt_id)
            if is_fifo(queue):
                attempt = receive_request_attempt_id
        keys = self._queue_keys(queue)
        select = self._selection(attribute_names, message_attribute_names)
        wait_ms = None if wait_time_s is None else wait_time_s * 1000
        got, _, wait_ms = await self._receive_once(
            queue, keys, max_messages, visibility_timeout_s, wait_ms, attempt)
        if got or wait_ms <= 0:
            return self._render(queue, got, select)
        # Long poll: subscribe first, then re-check, so no wake-up can slip in between.
        deadline = time.monotonic() + wait_ms / 1000
        async with self._ctx.wakeups.waiting(keys.wake_channel) as event:
            while (remaining := deadline - time.monotonic()) > 0:
                event.clear()
                got, next_ms, _ = await self._receive_once(
                    queue, keys, max_messages, visibility_timeout_s, int(remaining * 1000),
                    attempt)
                if got:
                    return self._render(queue, got, select)
                timeout = min(remaining, SAFETY_POLL_S)
                if next_ms is not None:
                    timeout = min(timeout, max(next_ms, 1) / 1000)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout)
        return []

    async def _receive_once(
        self, queue: QueueRef, keys: QueueKeys, max_messages: int,
        visibility_timeout_s: int | None, wait_ms: int | None, attempt: str = "",
    ) -> tuple[list[tuple[int, Record]], int | None, int]:
        """One receive script call. When nothing is returned and the wait (``wait_ms``,
        or the queue's ReceiveMessageWaitTimeSeconds when None) is above zero, the script
        registers this engine as a long-poller. Returns the messages, the ms until the
        next one is due when none (None: nothing pending), and the wait in effect."""
        args = [clock_arg(self._ctx.clock), max_messages,
                "" if visibility_timeout_s is None else visibility_timeout_s,
                self._ctx.engine_id, "" if wait_ms is None else wait_ms]
        if is_fifo(queue):
            reply = await self._ctx.scripts.call(
                "fifo_receive",
                (*keys.receive_keys[:6], *keys.fifo_keys, keys.attempts, keys.attempt_exp),
                [*args, attempt, self._ctx.limits.fifo_receive_attempt_interval_ms])
        else:
            reply = await self._ctx.scripts.call(
                "receive", keys.receive_keys, [*args, self._ctx.limits.max_inflight_messages])
        now, next_visible, flat, moved = int(reply[0]), int(reply[1]), reply[2], reply[3]
        got = [(int(flat[i]), unpack_record(flat[i + 1])) for i in range(0, len(flat), 2)]
        if moved:
            got += await self._dead_letter(queue, keys, moved, max_messages - len(got),
                                           visibility_timeout_s)
        next_in = None if next_visible < 0 else max(0, next_visible - now)
        return got, next_in, int(reply[4])

    @staticmethod
    def _render(
        queue: QueueRef, got: list[tuple[int, Record]], select: _Selection
    ) -> list[ReceivedMessage]:
        out = []
        fifo = is_fifo(queue)
        for seq, rec in got:
            attrs = select.message_attributes(rec.message_attributes)
            out.append(ReceivedMessage(
                rec.message_id,
                encode_handle(queue, seq, rec.receive_count),
                rec.body,
                rec.md5_of_body,
                select.system_attributes(rec, sequence_number(seq) if fifo else None),
                attrs,
                md5.md5_of_message_attributes(attrs) if attrs else None,
            ))
        return out

    async def _dead_letter(
        self, queue: QueueRef, keys: QueueKeys, moved: list[Any], room: int,
        visibility_timeout_s: int | None,
    ) -> list[tuple[int, Record]]:
        """Finish moving messages from the source's outbox into its dead-letter queue.

        Returns the messages that could not move because the dead-letter queue is gone:
        those are delivered by this receive (up to ``room``), as SQS does."""
        dlq_name = await self._ctx.redis.hget(keys.meta, "x_dlq")
        src_arn = self._ctx.identity.queue_arn(queue.account, queue.name)
        delivered: list[tuple[int, Record]] = []
        for i in range(0, len(moved), 2):
            seq, raw = int(moved[i]), moved[i + 1]
            stored = await self._accept_dead_letter(
                queue, as_text(dlq_name) if dlq_name else "", src_arn, raw)
            mode = "ack" if stored else ("deliver" if len(delivered) < room else "return")
            reply = await self._ctx.scripts.call(
                "dlq_settle",
                [keys.meta, keys.msgs, keys.avail, keys.inflight, keys.dlqout, *keys.fifo_keys,
                 *keys.fair_keys],
                [clock_arg(self._ctx.clock), member(seq), mode,
                 "" if visibility_timeout_s is None else visibility_timeout_s])
            if mode == "deliver" and isinstance(reply, bytes):
                delivered.append((seq, unpack_record(reply)))
        return delivered

    async def _accept_dead_letter(
        self, queue: QueueRef, dlq_name: str, src_arn: str, raw: bytes
    ) -> bool:
        """Store one moved message in the DLQ (idempotent); False if the DLQ is gone."""
        if not dlq_name:
            return False
        rec = unpack_record(raw)
        dlq = QueueKeys(queue.account, dlq_name)
        status = await self._ctx.scripts.call(
            "dlq_accept", [*dlq.accept_keys, dlq.moved_marker(rec.message_id)],
            [clock_arg(self._ctx.clock), dlq.wake_channel, src_arn,
             self._ctx.limits.dlq_move_marker_ttl_ms, "",
             # SQS gives a message moved into a FIFO DLQ its message id as deduplication
             # id, so independent messages that shared one both stay
             rec.message_id if is_fifo(queue) else "", raw])
        return bool(status != -1)

    # -- delete / change visibility ------------------------------------------------------

    async def delete(self, queue: QueueRef, receipt_handle: str) -> None:
        """DeleteMessage. On a standard queue a stale handle (the message was received
        again since) succeeds without deleting, as SQS documents; on a FIFO queue a handle
        whose visibility timeout ran out fails."""
        seq, count = decode_handle(queue, receipt_handle)
        [status] = await self._delete(queue, [(seq, count)])
        if status < 0:
            raise _expired_handle(receipt_handle)

    async def delete_batch(
        self, queue: QueueRef, entries: Sequence[tuple[str, str]]
    ) -> BatchResult:
        """DeleteMessageBatch: entries are (Id, ReceiptHandle)."""
        validation.validate_batch_entry_ids([i for i, _ in entries])
        good, failed = self._decode_entries(queue, entries)
        ok: list[str] = []
        if good:
            statuses = await self._delete(queue, [(seq, count) for _, seq, count in good])
            handles = dict(entries)
            for (entry_id, _, _), status in zip(good, statuses, strict=True):
                if status < 0:
                    err = _expired_handle(handles[entry_id])
                    failed.append(BatchResultError(entry_id, err.wire_code(), err.message))
                else:
                    ok.append(entry_id)
        return BatchResult(successful=ok, failed=failed)

    async def _delete(self, queue: QueueRef, items: Sequence[tuple[int, int]]) -> list[int]:
        """Run delete.lua (or fifo_delete.lua); per item 1 deleted, 0 nothing to do, -1
        expired handle (FIFO)."""
        keys = self._queue_keys(queue)
        handles: list[Any] = []
        for seq, count in items:
            handles += (f"{seq:012d}", _count_arg(count))  # = member(seq)
        # One msgpack argument, as for send (see delete.lua).
        packed = msgpack.packb(handles, use_bin_type=False)
        if is_fifo(queue):
            reply = await self._ctx.scripts.call(
                "fifo_delete", (*keys.delete_keys[:4], *keys.fifo_keys),
                [clock_arg(self._ctx.clock), packed])
        else:
            reply = await self._ctx.scripts.call("delete", keys.delete_keys, [packed])
        return [int(s) for s in reply]

    async def change_visibility(
        self, queue: QueueRef, receipt_handle: str, visibility_timeout_s: int
    ) -> None:
        """ChangeMessageVisibility: the new timeout counts from now."""
        validation.validate_visibility_timeout(visibility_timeout_s)
        seq, count = decode_handle(queue, receipt_handle)
        [status] = await self._change(queue, [(seq, count, visibility_timeout_s)])
        if status < 0:
            raise self._change_error(status, visibility_timeout_s)

    async def change_visibility_batch(
        self, queue: QueueRef, entries: Sequence[tuple[str, str, int]]
    ) -> BatchResult:
        """ChangeMessageVisibilityBatch: entries are (Id, ReceiptHandle, timeout_s)."""
        validation.validate_batch_entry_ids([e[0] for e in entries])
        timeouts = {e[0]: e[2] for e in entries}
        good, failed = self._decode_entries(queue, [(e[0], e[1]) for e in entries])
        ok_ids: list[str] = []
        todo = []
        for entry_id, seq, count in good:
            try:
                validation.validate_visibility_timeout(timeouts[entry_id])
            except errors.BrokerError as exc:
                failed.append(BatchResultError(entry_id, exc.wire_code(), exc.message))
                continue
            todo.append((entry_id, seq, count))
        if todo:
            statuses = await self._change(
                queue, [(seq, count, timeouts[i]) for i, seq, count in todo])
            for (entry_id, _, _), status in zip(todo, statuses, strict=True):
                if status < 0:
                    err = self._change_error(status, timeouts[entry_id])
                    failed.append(BatchResultError(entry_id, err.wire_code(), err.message))
                else:
                    ok_ids.append(entry_id)
        return BatchResult(successful=ok_ids, failed=failed)

    async def _change(self, queue: QueueRef, items: Sequence[tuple[int, int, int]]) -> list[int]:
        keys = self._queue_keys(queue)
        args: list[Any] = [clock_arg(self._ctx.clock), keys.wake_channel, len(items)]
        for seq, count, vt in items:
            args += [member(seq), count, vt]
        reply = await self._ctx.scripts.call(
            "change_visibility",
            [keys.meta, keys.msgs, keys.avail, keys.inflight, keys.waiters, *keys.fifo_keys,
             *keys.fair_keys],
            args)
        return [int(s) for s in reply]

    @staticmethod
    def _change_error(status: int, vt: int) -> errors.BrokerError:
        if status == -2:
            return errors.InvalidParameterValue(
                f"Value {vt} for parameter VisibilityTimeout is invalid. Reason: Total "
                f"VisibilityTimeout for the message is beyond the limit [43200 seconds]")
        return errors.InvalidParameterValue(_CHANGE_STALE)

    @staticmethod
    def _decode_entries(
        queue: QueueRef, entries: Sequence[tuple[str, str]]
    ) -> tuple[list[tuple[str, int, int]], list[BatchResultError]]:
        good, failed = [], []
        for entry_id, handle in entries:
            try:
                seq, count = decode_handle(queue, handle)
            except errors.BrokerError as exc:
                failed.append(BatchResultError(entry_id, exc.wire_code(), exc.message))
                continue
            good.append((entry_id, seq, count))
        return good, failed


#: most queues (and attribute selections) whose keys one engine keeps built
_CACHE_MAX = 4096


def sequence_number(member: bytes | str | int) -> str:
    """A FIFO message's SequenceNumber: its message number, as 20 decimal digits
    (increasing within the queue, so within every group)."""
    return f"{int(member):020d}"


def _sent(mid: str, p: _Prepared, seq_number: str | None = None) -> SendResult:
    e = p.entry
    return SendResult(
        mid, p.digest.hex(),
        md5.md5_of_message_attributes(e.message_attributes) if e.message_attributes else None,
        None if p.trace is None else md5.md5_of_message_attributes(e.system_attributes),
        seq_number,
    )


def _too_big(max_size: int) -> errors.InvalidParameterValue:
    return errors.InvalidParameterValue(
        f"One or more parameters are invalid. Reason: Message must be shorter than "
        f"{max_size} bytes.")


def _expired_handle(handle: str) -> errors.InvalidParameterValue:
    return errors.InvalidParameterValue(
        f"Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt "
        f"handle has expired.")


def _count_arg(count: int) -> int:
    """A handle's receive count for a packed script argument: counts no message can have
    (beyond msgpack's and Lua's integers) become -1, which matches no message."""
    return count if count < 1 << 53 else -1


class _Prepared(NamedTuple):
    entry: SendEntry
    body: bytes
    size: int
    trace: str | None
    digest: bytes
    """MD5 of the body (16 bytes), computed once and stored with the message."""


class _Selection:
    """Which system and message attributes a ReceiveMessage asked for."""

    def __init__(self, system: Sequence[str], message: Sequence[str]) -> None:
        names = set(system)
        self._all_system = "All" in names
        self._system = names
        self._all_message = bool({"All", ".*"} & set(message))
        self._message_names = {n for n in message if not n.endswith(".*")}
        self._message_prefixes = tuple(n[:-1] for n in message if n.endswith(".*") and n != ".*")

    def system_attributes(self, rec: Record, seq_number: str | None) -> dict[str, str]:
        values = {
            "SenderId": rec.sender_id,
            "SentTimestamp": str(rec.sent_ms),
            "ApproximateReceiveCount": str(rec.receive_count),
            "ApproximateFirstReceiveTimestamp": str(rec.first_receive_ms),
        }
        if rec.trace_header is not None:
            values["AWSTraceHeader"] = rec.trace_header
        if rec.dlq_source_arn:
            values["DeadLetterQueueSourceArn"] = rec.dlq_source_arn
        if rec.group_id:
            values["MessageGroupId"] = rec.group_id
        if rec.deduplication_id:
            values["MessageDeduplicationId"] = rec.deduplication_id
        if seq_number is not None:
            values["SequenceNumber"] = seq_number
        if self._all_system:
            return values
        return {k: v for k, v in values.items() if k in self._system}

    def message_attributes(self, attrs: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        if self._all_message:
            return dict(attrs)
        return {k: v for k, v in attrs.items()
                if k in self._message_names or k.startswith(self._message_prefixes)}
