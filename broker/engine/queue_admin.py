"""SQS queue management: create, delete, list, URLs, attributes, purge, tags."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from broker import errors
from broker.engine import validation
from broker.engine.clock import clock_arg
from broker.engine.context import Context
from broker.engine.keys import AccountKeys, QueueKeys
from broker.engine.records import as_text
from broker.types import QueueRef

#: meta fields that are bookkeeping, never shown as attributes
_INTERNAL = {"seq", "cur", "purged_ms", "x_max_receive", "x_dlq", "x_move_task", "x_fair",
             "x_fair_vt"}


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """One queue's monitoring figures."""

    visible: int
    in_flight: int
    delayed: int
    oldest_age_s: float
    """Approximate age of the oldest stored message (0 when empty)."""
    dead_letter_sources: int
    """Queues whose RedrivePolicy targets this one."""


def _tag_args(limit: int) -> list[str | int]:
    """tag.lua's limit and errors for a queue: missing queue, too many tags."""
    return [limit, "QueueDoesNotExist", "The specified queue does not exist.",
            "InvalidParameterValue", f"Too many tags: a queue can hold at most {limit} tags."]


def _no_queue() -> errors.QueueDoesNotExist:
    return errors.QueueDoesNotExist("The specified queue does not exist.")


class QueueAdmin:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def create_queue(
        self, queue: QueueRef, attributes: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> bool:
        """CreateQueue. Returns True if created, False if it existed with the same
        given attributes; QueueNameExists if they differ."""
        attrs = dict(attributes or {})
        fifo = attrs.get("FifoQueue", "false").lower() == "true"
        validation.validate_queue_name(queue.name, fifo)
        given = validation.validate_queue_attributes(attrs, creating=True, fifo=fifo)
        if fifo:
            validation.validate_fifo_throughput(
                given.get("DeduplicationScope", "queue"),
                given.get("FifoThroughputLimit", "perQueue"))
        if tags:
            validation.validate_tags(tags)
            validation.check_tag_count(len(tags))
        extra = await self._redrive_fields(queue, given)
        acct = AccountKeys(queue.account)
        r = self._ctx.redis
        deleted_ms = await r.hget(acct.deleted, queue.name)
        keys = QueueKeys(queue.account, queue.name)
        if deleted_ms is not None and not await r.exists(keys.meta):
            now = await self._now_ms()
            if now - int(deleted_ms) < self._ctx.limits.deleted_queue_cooldown_ms:
                raise errors.QueueDeletedRecently(
                    "You must wait 60 seconds after deleting a queue before you can create "
                    "another with the same name."
                )
        if await r.zcard(acct.queues) >= self._ctx.limits.max_queues_per_account \
                and not await r.exists(keys.meta):
            raise errors.OverLimit(
                f"Too many queues: the account holds the most allowed "
                f"({self._ctx.limits.max_queues_per_account})."
            )
        all_defaults = dict(validation.DEFAULT_QUEUE_ATTRIBUTES)
        if fifo:
            all_defaults.update(validation.DEFAULT_FIFO_QUEUE_ATTRIBUTES)
        defaults = {k: v for k, v in all_defaults.items() if k not in given}
        rest = {**defaults, **extra, "seq": "0", "cur": "1",
                "arn": self._ctx.identity.queue_arn(queue.account, queue.name)}
        args: list[str | int] = [
            clock_arg(self._ctx.clock), "QueueNameExists",
            "A queue already exists with the same name and a different value for "
            "attribute ", len(given)]
        for k, v in [*given.items(), *rest.items()]:
            args += [k, v]
        created = await self._ctx.scripts.call("create", [keys.meta], args)
        await r.zadd(acct.queues, {queue.name: 0})
        await r.hdel(acct.deleted, queue.name)
        if tags and created:
            await self.tag_queue(queue, tags)
        if created and "RedrivePolicy" in given:
            await self._link_dlq(queue, given["RedrivePolicy"])
        return bool(created)

    async def delete_queue(self, queue: QueueRef) -> None:
        keys = QueueKeys(queue.account, queue.name)
        await self._ctx.scripts.call("delete_queue", keys.all_data(), [])
        acct = AccountKeys(queue.account)
        now = await self._now_ms()
        await self._ctx.redis.zrem(acct.queues, queue.name)
        await self._ctx.redis.hset(acct.deleted, queue.name, now)

    async def exists(self, queue: QueueRef) -> bool:
        return bool(await self._ctx.redis.exists(QueueKeys(queue.account, queue.name).meta))

    async def get_queue(self, queue: QueueRef) -> None:
        """GetQueueUrl: QueueDoesNotExist unless the queue exists."""
        if not await self.exists(queue):
            raise _no_queue()

    async def list_queues(
        self, account: str, prefix: str = "", max_results: int | None = None,
        next_token: str | None = None,
    ) -> tuple[list[str], str | None]:
        """ListQueues: names in lexicographic order, paginated by ``next_token``."""
        validation.validate_max_results(max_results)
        if next_token is not None and not next_token.startswith(prefix):
            raise errors.InvalidParameterValue("Invalid NextToken value.")
        limit = max_results or validation.MAX_LIST_RESULTS
        lo = f"({next_token}" if next_token else f"[{prefix}"
        hi = f"[{prefix}\xff"
        raw = await self._ctx.redis.zrangebylex(
            AccountKeys(account).queues, lo, hi, start=0, num=limit + 1)
        names = [as_text(n) for n in raw]
        token = names[limit - 1] if max_results and len(names) > limit else None
        return names[:limit], token

    async def get_attributes(
        self, queue: QueueRef, names: Sequence[str] = ("All",)
    ) -> dict[str, str]:
        wanted = validation.validate_attribute_names_request(names)
        now, visible, not_visible, delayed, flat, _, _ = await self._state(queue)
        meta = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        values = {k: v for k, v in meta.items()
                  if k not in _INTERNAL and not k.endswith("_ms") and k != "arn"}
        values.update({
            "QueueArn": meta["arn"],
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(not_visible),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "CreatedTimestamp": str(int(meta["created_ms"]) // 1000),
            "LastModifiedTimestamp": str(int(meta["modified_ms"]) // 1000),
        })
        return {k: values[k] for k in wanted if k in values}

    async def queue_metrics(self, account: str, name: str) -> QueueMetrics:
        """Depth and age figures of one queue, for monitoring."""
        now, visible, not_visible, delayed, _, oldest, sources = await self._state(
            QueueRef(account, name))
        return QueueMetrics(
            visible=int(visible), in_flight=int(not_visible), delayed=int(delayed),
            oldest_age_s=max(0, int(now) - int(oldest)) / 1000 if int(oldest) else 0.0,
            dead_letter_sources=int(sources))

    async def _state(self, queue: QueueRef) -> list[Any]:
        keys = QueueKeys(queue.account, queue.name)
        reply: list[Any] = await self._ctx.scripts.call(
            "queue_state",
            [keys.meta, keys.avail, keys.inflight, keys.dlqout, keys.msgs, keys.sources],
            [clock_arg(self._ctx.clock)])
        return reply

    async def set_attributes(self, queue: QueueRef, attributes: Mapping[str, str]) -> None:
        keys = QueueKeys(queue.account, queue.name)
        if not await self.exists(queue):
            raise _no_queue()
        fifo = queue.name.endswith(".fifo")
        given = validation.validate_queue_attributes(attributes, creating=False, fifo=fifo)
        if fifo and {"DeduplicationScope", "FifoThroughputLimit"} & given.keys():
            scope, limit = await self._ctx.redis.hmget(
                keys.meta, ["DeduplicationScope", "FifoThroughputLimit"])
            validation.validate_fifo_throughput(
                given.get("DeduplicationScope", as_text(scope or b"queue")),
                given.get("FifoThroughputLimit", as_text(limit or b"perQueue")))
        extra = await self._redrive_fields(queue, given)
        old_policy = None
        if "RedrivePolicy" in given:
            old = await self._ctx.redis.hget(keys.meta, "RedrivePolicy")
            old_policy = as_text(old) if old else None
        args: list[str | int] = [clock_arg(self._ctx.clock), "QueueDoesNotExist",
                                 "The specified queue does not exist."]
        for k, v in {**given, **extra}.items():
            args += [k, v]
        await self._ctx.scripts.call("set_attributes", [keys.meta], args)
        if "RedrivePolicy" in given:
            if old_policy:
                await self._unlink_dlq(queue, old_policy)
            if given["RedrivePolicy"]:
                await self._link_dlq(queue, given["RedrivePolicy"])

    async def purge(self, queue: QueueRef) -> None:
        keys = QueueKeys(queue.account, queue.name)
        await self._ctx.scripts.call(
            "purge", [keys.meta, keys.msgs, keys.avail, keys.inflight, *keys.fifo_keys,
                      keys.fair, keys.tenant, keys.tenant_inflight, keys.fair_vt],
            [clock_arg(self._ctx.clock), self._ctx.limits.purge_interval_ms])

    async def sweep(self, queue: QueueRef, limit: int = 500) -> int:
        """Drop up to ``limit`` messages past retention; returns how many message numbers
        were passed (``limit``: there may be more). Sends and receives sweep as they go;
        the server calls this for queues that see neither."""
        keys = QueueKeys(queue.account, queue.name)
        swept = await self._ctx.scripts.call(
            "sweep", [keys.meta, keys.msgs, keys.avail, keys.inflight, *keys.fifo_keys,
                      *keys.fair_keys],
            [clock_arg(self._ctx.clock), limit])
        return int(swept)

    async def tag_queue(self, queue: QueueRef, tags: Mapping[str, str]) -> None:
        validation.validate_tags(tags)
        keys = QueueKeys(queue.account, queue.name)
        args: list[str | int] = ["set", *_tag_args(self._ctx.limits.max_tags_per_queue)]
        for k, v in tags.items():
            args += [k, v]
        await self._ctx.scripts.call("tag", [keys.meta, keys.tags], args)

    async def untag_queue(self, queue: QueueRef, tag_keys: Sequence[str]) -> None:
        keys = QueueKeys(queue.account, queue.name)
        await self._ctx.scripts.call(
            "tag", [keys.meta, keys.tags],
            ["del", *_tag_args(self._ctx.limits.max_tags_per_queue), *tag_keys])

    async def list_tags(self, queue: QueueRef) -> dict[str, str]:
        keys = QueueKeys(queue.account, queue.name)
        async with self._ctx.redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.meta)
            pipe.hgetall(keys.tags)
            exists, tags = await pipe.execute()
        if not exists:
            raise _no_queue()
        return {k.decode(): v.decode() for k, v in tags.items()}

    async def list_dead_letter_source_queues(self, queue: QueueRef) -> list[str]:
        """Names of the queues whose RedrivePolicy targets ``queue``."""
        keys = QueueKeys(queue.account, queue.name)
        if not await self.exists(queue):
            raise _no_queue()
        arn = self._ctx.identity.queue_arn(queue.account, queue.name)
        out = []
        for raw in sorted(await self._ctx.redis.smembers(keys.sources)):
            name = as_text(raw)
            src = QueueKeys(queue.account, name)
            policy = await self._ctx.redis.hget(src.meta, "RedrivePolicy")
            if policy and json.loads(policy).get("deadLetterTargetArn") == arn:
                out.append(name)
        return out

    # -- dead-letter wiring --------------------------------------------------------------

    async def _redrive_fields(self, queue: QueueRef, given: Mapping[str, str]) -> dict[str, str]:
        """Check a RedrivePolicy against its target; return the fields receive reads."""
        if "RedrivePolicy" not in given:
            return {}
        if not given["RedrivePolicy"]:
            return {"x_max_receive": "", "x_dlq": ""}
        policy = json.loads(given["RedrivePolicy"])
        dlq = self._queue_from_arn(policy["deadLetterTargetArn"])
        if dlq == queue:
            raise errors.InvalidParameterValue(
                "Value for parameter RedrivePolicy is invalid. Reason: a queue cannot be its "
                "own dead-letter queue.")
        if dlq.name.endswith(validation.FIFO_SUFFIX) != queue.name.endswith(
                validation.FIFO_SUFFIX):
            raise errors.InvalidParameterValue(
                "Value for parameter RedrivePolicy is invalid. Reason: Dead-letter target "
                "must be the same type of queue (standard or FIFO) as the source.")
        dlq_keys = QueueKeys(dlq.account, dlq.name)
        allow = await self._ctx.redis.hmget(
            dlq_keys.meta, ["arn", "RedriveAllowPolicy"])
        if allow[0] is None:
            raise errors.InvalidParameterValue(
                "Value for parameter RedrivePolicy is invalid. Reason: Dead letter target "
                "does not exist.")
        if allow[1]:
            self._check_allowed(json.loads(allow[1]), queue)
        return {"x_max_receive": str(policy["maxReceiveCount"]), "x_dlq": dlq.name}

    def _check_allowed(self, allow: Mapping[str, object], source: QueueRef) -> None:
        permission = allow.get("redrivePermission")
        src_arn = self._ctx.identity.queue_arn(source.account, source.name)
        sources = allow.get("sourceQueueArns") or []
        if permission == "denyAll" or (
                permission == "byQueue" and src_arn not in sources):  # type: ignore[operator]
            raise errors.InvalidParameterValue(
                "Value for parameter RedrivePolicy is invalid. Reason: the dead-letter "
                "queue's RedriveAllowPolicy does not allow this queue as a source.")

    def _queue_from_arn(self, arn: str) -> QueueRef:
        ref = self._ctx.identity.queue_from_arn(arn)
        if ref is None:
            raise errors.InvalidParameterValue(
                f"Value {arn} for parameter deadLetterTargetArn is invalid.")
        return ref

    async def _link_dlq(self, queue: QueueRef, policy_json: str) -> None:
        dlq = self._queue_from_arn(json.loads(policy_json)["deadLetterTargetArn"])
        await self._ctx.redis.sadd(QueueKeys(dlq.account, dlq.name).sources,
                                   queue.name)

    async def _unlink_dlq(self, queue: QueueRef, policy_json: str) -> None:
        dlq = self._queue_from_arn(json.loads(policy_json)["deadLetterTargetArn"])
        await self._ctx.redis.srem(QueueKeys(dlq.account, dlq.name).sources,
                                   queue.name)

    async def _now_ms(self) -> int:
        now = self._ctx.clock.now_ms()
        if now is not None:
            return now
        sec, usec = await self._ctx.redis.time()
        return int(sec) * 1000 + int(usec) // 1000
