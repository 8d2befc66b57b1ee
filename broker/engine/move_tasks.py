"""Dead-letter queue redrive: message move tasks (StartMessageMoveTask,
ListMessageMoveTasks, CancelMessageMoveTask).

A task moves the messages of a dead-letter queue back to each message's original source
queue (its DeadLetterQueueSourceArn), or to one destination queue, at an optional rate.
The destination gets them as new messages (new message id, receive count 0, enqueued
now), as SQS does.

The task runs in the engine that started it, as an owned asyncio task. Its state lives
in Redis, in the dead-letter queue's slot, with the runner's owner id and a lease the
runner renews on every step; ``resume_abandoned`` (the broker server's housekeeping
calls it) adopts a task whose lease ran out, so a task outlives the process that
started it.

Each step is crash-safe without spanning hash slots: ``move_claim`` moves up to 10
messages from the queue into its ``moving`` outbox; each is stored on its destination
by ``dlq_accept``, idempotent through a marker per (task, message); ``move_settle``
then forgets them and counts them moved. A runner that dies mid-step leaves them in the
outbox, and whoever resumes the task stores them again (the markers make that a no-op
where it already happened): nothing is lost or duplicated.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any, cast

import msgpack

from broker import errors
from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import AccountKeys, QueueKeys
from broker.engine.records import as_text, new_message_ids
from broker.types import MoveTask, QueueRef

log = logging.getLogger(__name__)

#: most messages one step moves
STEP = 10
#: how long a runner's lease on its task lasts; renewed every step
LEASE_MS = 30_000
#: tasks ListMessageMoveTasks keeps per queue (the most recent)
KEPT_TASKS = 10
#: MaxNumberOfMessagesPerSecond's upper bound
MAX_RATE = 500
#: how long a move marker on a destination lives after the move (a safety net: the
#: runner deletes it once the move is settled)
MARKER_TTL_MS = 7 * 86_400_000
NON_EXISTENT_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"


def _handle(task_id: str, source_arn: str) -> str:
    text = json.dumps({"taskId": task_id, "sourceArn": source_arn}, separators=(",", ":"))
    return base64.b64encode(text.encode()).decode()


def _invalid_handle() -> errors.InvalidParameterValue:
    return errors.InvalidParameterValue("Value for parameter TaskHandle is invalid.")


def parse_handle(handle: str) -> tuple[str, str]:
    """(task id, source queue ARN) of a TaskHandle; InvalidParameterValue otherwise."""
    try:
        data = json.loads(base64.b64decode(handle.encode(), validate=True))
        task_id, source = data["taskId"], data["sourceArn"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        raise _invalid_handle() from None
    if not isinstance(task_id, str) or not isinstance(source, str):
        raise _invalid_handle()
    return task_id, source


class MoveTasks:
    """Starts, lists, cancels and runs message move tasks; owns the runners."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()

    # -- API ---------------------------------------------------------------------------

    async def start(self, source_arn: str, destination_arn: str | None = None,
                    max_messages_per_second: int | None = None) -> str:
        """StartMessageMoveTask: returns the TaskHandle."""
        source = self._queue(source_arn, "SourceArn")
        if max_messages_per_second is not None and not (
                1 <= max_messages_per_second <= MAX_RATE):
            raise errors.InvalidParameterValue(
                f"Value {max_messages_per_second} for parameter "
                f"MaxNumberOfMessagesPerSecond is invalid. Reason: must be between 1 and "
                f"{MAX_RATE}.")
        keys = QueueKeys(source.account, source.name)
        r = self._ctx.redis
        if not await r.exists(keys.meta):
            raise self._not_found("SourceArn")
        if not await r.scard(keys.sources):
            raise errors.InvalidParameterValue(
                "Source queue must be configured as a Dead Letter Queue.")
        if destination_arn is not None:
            dest = self._queue(destination_arn, "DestinationArn")
            if not await r.exists(QueueKeys(dest.account, dest.name).meta):
                raise self._not_found("DestinationArn")
            if dest.name.endswith(".fifo") != source.name.endswith(".fifo"):
                raise errors.InvalidParameterValue(
                    "The destination queue must be the same type (standard or FIFO) as "
                    "the source queue.")
        task_id = uuid.uuid4().hex
        task = {"source": source_arn, "destination": destination_arn or "",
                "rate": max_messages_per_second or 0, "owner": self._ctx.engine_id}
        try:
            await self._ctx.scripts.call(
                "move_start",
                [keys.meta, keys.avail, keys.move_tasks, keys.move_order, keys.inflight],
                [clock_arg(self._ctx.clock), task_id, msgpack.packb(task), LEASE_MS,
                 KEPT_TASKS])
        except errors.QueueDoesNotExist:
            raise self._not_found("SourceArn") from None
        await r.sadd(AccountKeys(source.account).moving, source.name)
        self._run(source, task_id)
        return _handle(task_id, source_arn)

    async def cancel(self, task_handle: str) -> int:
        """CancelMessageMoveTask: returns the number of messages moved so far."""
        task_id, source_arn = parse_handle(task_handle)
        source = self._queue(source_arn, "SourceArn")
        keys = QueueKeys(source.account, source.name)
        if not await self._ctx.redis.exists(keys.meta):
            raise self._not_found("SourceArn")
        moved = await self._ctx.scripts.call(
            "move_transition", [keys.meta, keys.move_tasks],
            [clock_arg(self._ctx.clock), task_id, "cancel", "", ""])
        return int(moved)

    async def list(self, source_arn: str, max_results: int | None = None) -> list[MoveTask]:
        """ListMessageMoveTasks: the most recent tasks first (up to 10)."""
        if max_results is not None and not 1 <= max_results <= KEPT_TASKS:
            raise errors.InvalidParameterValue(
                f"Value {max_results} for parameter MaxResults is invalid. Reason: must be "
                f"between 1 and {KEPT_TASKS}.")
        source = self._queue(source_arn, "SourceArn")
        keys = QueueKeys(source.account, source.name)
        r = self._ctx.redis
        if not await r.exists(keys.meta):
            raise self._not_found("SourceArn")
        ranked = cast("list[bytes]", await r.zrevrange(keys.move_order, 0, KEPT_TASKS - 1))
        ids = [as_text(i) for i in ranked]
        if not ids:
            return []
        raws = await r.hmget(keys.move_tasks, ids)
        out = []
        for task_id, raw in zip(ids, raws, strict=True):
            if raw is None:
                continue
            t = msgpack.unpackb(raw, raw=False)
            running = t["status"] == "RUNNING"
            out.append(MoveTask(
                task_handle=_handle(task_id, t["source"]) if running else None,
                status=t["status"], source_arn=t["source"],
                destination_arn=t["destination"] or None,
                max_messages_per_second=t["rate"] or None,
                moved=int(t["moved"]), to_move=int(t["to_move"]),
                started_ms=int(t["started_ms"]), failure_reason=t["failure"] or None))
        return out[:max_results or KEPT_TASKS]

    async def resume_abandoned(self, account: str) -> int:
        """Adopt the account's active tasks whose runner died (lease ran out); returns
        how many this engine now runs."""
        r = self._ctx.redis
        adopted = 0
        for raw_name in await r.smembers(AccountKeys(account).moving):
            name = as_text(raw_name)
            keys = QueueKeys(account, name)
            task_id = await r.hget(keys.meta, "x_move_task")
            if task_id is None:
                await r.srem(AccountKeys(account).moving, name)
                continue
            tid = as_text(task_id)
            if tid in self._runners:
                continue
            took = await self._ctx.scripts.call(
                "move_transition", [keys.meta, keys.move_tasks],
                [clock_arg(self._ctx.clock), tid, "adopt", self._ctx.engine_id, LEASE_MS])
            if int(took):
                self._run(QueueRef(account, name), tid)
                adopted += 1
        return adopted

    async def wait(self, task_handle: str) -> None:
        """Wait until this engine's runner of the task is done (tests, tools)."""
        task_id, _ = parse_handle(task_handle)
        runner = self._runners.get(task_id)
        if runner is not None:
            await asyncio.shield(runner)

    async def close(self) -> None:
        """Stop the runners between steps (their tasks stay RUNNING in Redis, for
        ``resume_abandoned`` elsewhere once the lease runs out)."""
        self._stopping.set()
        if self._runners:
            await asyncio.gather(*self._runners.values(), return_exceptions=True)

    # -- the runner --------------------------------------------------------------------

    def _run(self, source: QueueRef, task_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._runner(source, task_id))
        self._runners[task_id] = task
        task.add_done_callback(lambda _: self._runners.pop(task_id, None))

    async def _runner(self, source: QueueRef, task_id: str) -> None:
        try:
            await self._move(source, task_id)
        except Exception:
            log.exception("message move task %s on %s stopped", task_id, source.name)

    async def _move(self, source: QueueRef, task_id: str) -> None:
        keys = QueueKeys(source.account, source.name)
        raw = await self._ctx.redis.hget(keys.move_tasks, task_id)
        if raw is None:
            return
        task = msgpack.unpackb(raw, raw=False)
        rate = int(task["rate"]) or None
        destination = task["destination"] or None
        started = time.monotonic()
        moved_here = 0
        while not self._stopping.is_set():
            status, items = await self._ctx.scripts.call(
                "move_claim",
                [keys.meta, keys.msgs, keys.avail, keys.moving, keys.move_tasks,
                 *keys.fifo_keys, keys.inflight, *keys.fair_keys],
                [clock_arg(self._ctx.clock), task_id, self._ctx.engine_id,
                 min(STEP, rate or STEP), LEASE_MS])
            status = as_text(status)
            if status not in ("RUNNING", "CANCELLING"):
                return  # finished, lost to another runner, or gone
            if not items:
                await self._finish(source, task_id,
                                   "COMPLETED" if status == "RUNNING" else "CANCELLED")
                return
            # A cancelled task still finishes what a dead runner left half-moved.
            failure = await self._move_step(source, keys, task_id, destination, items)
            if failure is None:
                return  # another runner adopted the task (and its outbox) meanwhile
            if failure:
                await self._finish(source, task_id, "FAILED", failure)
                return
            moved_here += len(items) // 2
            if rate:
                ahead = moved_here / rate - (time.monotonic() - started)
                if ahead > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), ahead)

    async def _move_step(self, source: QueueRef, keys: QueueKeys, task_id: str,
                         destination: str | None, items: Sequence[Any]) -> str | None:
        """Store claimed messages on their destinations and settle them; returns a
        failure reason ('' when all moved), or None when the task was adopted by another
        runner before this one settled (the new owner settles them; the markers stay so
        its retries store nothing twice)."""
        moved: list[str] = []
        back: list[str] = []
        failure = ""
        ids = new_message_ids(len(items) // 2)
        markers: list[tuple[QueueKeys, str]] = []
        for (raw_id, _), i in zip(ids, range(0, len(items), 2), strict=True):
            seq, raw = as_text(items[i]), items[i + 1]
            fields = msgpack.unpackb(raw, raw=True)
            target_arn = destination or (fields[7].decode() if len(fields) > 7 else "")
            target = self._ctx.identity.queue_from_arn(target_arn) if target_arn else None
            if failure or target is None:
                failure = failure or NON_EXISTENT_QUEUE
                back.append(seq)
                continue
            fields[0] = raw_id
            dest = QueueKeys(target.account, target.name)
            marker = dest.moved_marker(f"{task_id}:{seq}")
            status = await self._ctx.scripts.call(
                "dlq_accept", [*dest.accept_keys, marker],
                [clock_arg(self._ctx.clock), dest.wake_channel, "", MARKER_TTL_MS, "1", "",
                 msgpack.packb(fields, use_bin_type=False)])
            if status == -1:
                failure = NON_EXISTENT_QUEUE
                back.append(seq)
            else:
                moved.append(seq)
                markers.append((dest, marker))
        settle_keys = [keys.meta, keys.msgs, keys.avail, keys.moving, keys.move_tasks,
                       *keys.fifo_keys, keys.waiters, *keys.fair_keys]
        for mode, seqs in (("ack", moved), ("return", back)):
            if seqs:
                count = await self._ctx.scripts.call(
                    "move_settle", settle_keys,
                    [clock_arg(self._ctx.clock), task_id, mode, keys.wake_channel,
                     self._ctx.engine_id, *seqs])
                if count == -1:
                    return None
        for _, marker in markers:  # settled: the markers have done their job
            await self._ctx.redis.delete(marker)
        return failure

    async def _finish(self, source: QueueRef, task_id: str, status: str,
                      failure: str = "") -> None:
        keys = QueueKeys(source.account, source.name)
        await self._ctx.scripts.call(
            "move_transition", [keys.meta, keys.move_tasks],
            [clock_arg(self._ctx.clock), task_id, "finish", status, failure])
        await self._ctx.redis.srem(AccountKeys(source.account).moving, source.name)

    # -- helpers -----------------------------------------------------------------------

    def _queue(self, arn: str, parameter: str) -> QueueRef:
        ref = self._ctx.identity.queue_from_arn(arn)
        if ref is None:
            raise errors.InvalidParameterValue(
                f"Value {arn} for parameter {parameter} is invalid. Reason: not an SQS "
                f"queue ARN.")
        return ref

    @staticmethod
    def _not_found(parameter: str) -> errors.ResourceNotFoundException:
        return errors.ResourceNotFoundException(
            f"The resource that you specified for the {parameter} parameter doesn't exist.")
