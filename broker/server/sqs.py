"""SQS actions for the server: botocore-shaped request dicts in, response dicts out.

Both wire protocols (awsJson1_0 and query) decode into the same dicts, the ones boto3
users pass to ``sqs.send_message(...)``, and encode what these handlers return. The
handlers parse nothing and hold no semantics: they translate to engine calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from broker import errors
from broker.engine import Engine, SendEntry, validation
from broker.engine.move_tasks import parse_handle
from broker.server.caller import Caller
from broker.server.send_coalescer import SendCoalescer
from broker.types import BatchResultError, MoveTask, QueueRef, ReceivedMessage, SendResult

#: parsed queue URLs kept
MAX_CACHED_URLS = 4096

Params = dict[str, Any]
Result = dict[str, Any]


Handler = Callable[["SqsActions", Params, Caller], Awaitable[Result]]


def _queue_url(caller: Caller, ref: QueueRef) -> str:
    return f"{caller.base_url}/{ref.account}/{ref.name}"


def queue_from_url(url: str) -> QueueRef:
    """``http://host:port/<account>/<name>`` -> QueueRef; InvalidAddress otherwise."""
    ref = QueueRef.from_url(url)
    if ref is None:
        raise errors.InvalidAddress(f"The address {url} is not valid for this endpoint.")
    return ref


def _page(names: list[str], max_results: int | None, token: str | None
          ) -> tuple[list[str], str | None]:
    """One page of sorted ``names`` after ``token`` (the last name of the previous page)."""
    validation.validate_max_results(max_results)
    if token is not None:
        names = [n for n in names if n > token]
    if max_results is None or len(names) <= max_results:
        return names, None
    return names[:max_results], names[max_results - 1]


def _send_entry(p: Params, entry_id: str = "") -> SendEntry:
    return SendEntry(
        body=p.get("MessageBody", ""),
        id=entry_id,
        delay_seconds=p.get("DelaySeconds"),
        # (the decoded request's own dicts: nothing else holds them)
        message_attributes=p.get("MessageAttributes") or {},
        system_attributes=p.get("MessageSystemAttributes") or {},
        group_id=p.get("MessageGroupId"),
        deduplication_id=p.get("MessageDeduplicationId"),
    )


def _sent(r: SendResult) -> Result:
    out: Result = {"MessageId": r.message_id, "MD5OfMessageBody": r.md5_of_body}
    if r.md5_of_message_attributes:
        out["MD5OfMessageAttributes"] = r.md5_of_message_attributes
    if r.md5_of_message_system_attributes:
        out["MD5OfMessageSystemAttributes"] = r.md5_of_message_system_attributes
    if r.sequence_number:
        out["SequenceNumber"] = r.sequence_number
    return out


def _failed(f: BatchResultError) -> Result:
    return {"Id": f.id, "SenderFault": f.sender_fault, "Code": f.code, "Message": f.message}


def _message(m: ReceivedMessage) -> Result:
    out: Result = {"MessageId": m.message_id, "ReceiptHandle": m.receipt_handle,
                   "MD5OfBody": m.md5_of_body, "Body": m.body}
    if m.attributes:
        out["Attributes"] = m.attributes
    if m.message_attributes:
        out["MessageAttributes"] = m.message_attributes
        out["MD5OfMessageAttributes"] = m.md5_of_message_attributes
    return out


class SqsActions:
    """Dispatches SQS operations by name to the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sends = SendCoalescer(engine.queues)
        """Concurrent SendMessage calls to one queue share a Redis call."""
        self._refs: dict[str, QueueRef] = {}
        """Parsed queue URLs (clients send the same few over and over); bounded."""

    def _own_queue(self, url: str, caller: Caller) -> QueueRef:
        """The queue a request's QueueUrl names; AccessDenied for another account's queue
        when the caller is authenticated (queue policies that grant cross-account access
        are not supported)."""
        ref = self._refs.get(url)
        if ref is None:
            ref = queue_from_url(url)
            if len(self._refs) >= MAX_CACHED_URLS:
                self._refs.clear()
            self._refs[url] = ref
        if caller.authenticated and ref.account != caller.account_id:
            raise errors.AccessDenied(f"Access to the resource {url} is denied.")
        return ref

    async def handle(self, operation: str, params: Params, caller: Caller) -> Result:
        handler = _HANDLERS.get(operation)
        if handler is None:
            raise errors.UnsupportedOperation(
                f"{operation} is not supported by this broker yet.")
        return await handler(self, params, caller)

    # -- queues ----------------------------------------------------------------------------

    async def create_queue(self, p: Params, c: Caller) -> Result:
        ref = QueueRef(c.account_id, p["QueueName"])
        await self.engine.admin.create_queue(ref, p.get("Attributes") or {},
                                             p.get("tags") or {})
        return {"QueueUrl": _queue_url(c, ref)}

    async def delete_queue(self, p: Params, c: Caller) -> Result:
        await self.engine.admin.delete_queue(self._own_queue(p["QueueUrl"], c))
        return {}

    async def get_queue_url(self, p: Params, c: Caller) -> Result:
        ref = QueueRef(p.get("QueueOwnerAWSAccountId") or c.account_id, p["QueueName"])
        if c.authenticated and ref.account != c.account_id:
            raise errors.AccessDenied(
                f"Access to the queue {ref.name} of account {ref.account} is denied.")
        await self.engine.admin.get_queue(ref)
        return {"QueueUrl": _queue_url(c, ref)}

    async def list_queues(self, p: Params, c: Caller) -> Result:
        names, token = await self.engine.admin.list_queues(
            c.account_id, p.get("QueueNamePrefix") or "", p.get("MaxResults"),
            p.get("NextToken"))
        out: Result = {}
        if names:
            out["QueueUrls"] = [_queue_url(c, QueueRef(c.account_id, n)) for n in names]
        if token:
            out["NextToken"] = token
        return out

    async def get_queue_attributes(self, p: Params, c: Caller) -> Result:
        attrs = await self.engine.admin.get_attributes(
            self._own_queue(p["QueueUrl"], c), p.get("AttributeNames") or [])
        return {"Attributes": attrs} if attrs else {}

    async def set_queue_attributes(self, p: Params, c: Caller) -> Result:
        await self.engine.admin.set_attributes(self._own_queue(p["QueueUrl"], c), p["Attributes"])
        return {}

    async def purge_queue(self, p: Params, c: Caller) -> Result:
        await self.engine.admin.purge(self._own_queue(p["QueueUrl"], c))
        return {}

    async def tag_queue(self, p: Params, c: Caller) -> Result:
        await self.engine.admin.tag_queue(self._own_queue(p["QueueUrl"], c), p["Tags"])
        return {}

    async def untag_queue(self, p: Params, c: Caller) -> Result:
        await self.engine.admin.untag_queue(self._own_queue(p["QueueUrl"], c), p["TagKeys"])
        return {}

    async def list_queue_tags(self, p: Params, c: Caller) -> Result:
        tags = await self.engine.admin.list_tags(self._own_queue(p["QueueUrl"], c))
        return {"Tags": tags} if tags else {}

    async def list_dead_letter_source_queues(self, p: Params, c: Caller) -> Result:
        ref = self._own_queue(p["QueueUrl"], c)
        names, token = _page(await self.engine.admin.list_dead_letter_source_queues(ref),
                             p.get("MaxResults"), p.get("NextToken"))
        out: Result = {"queueUrls": [_queue_url(c, QueueRef(ref.account, n)) for n in names]}
        if token:
            out["NextToken"] = token
        return out

    # -- messages --------------------------------------------------------------------------

    async def send_message(self, p: Params, c: Caller) -> Result:
        res = await self.sends.send(self._own_queue(p["QueueUrl"], c), _send_entry(p), c.sender_id)
        return _sent(res)

    async def send_message_batch(self, p: Params, c: Caller) -> Result:
        entries = p.get("Entries") or []
        res = await self.engine.queues.send_batch(
            self._own_queue(p["QueueUrl"], c), [_send_entry(e, e.get("Id", "")) for e in entries],
            sender_id=c.sender_id)
        return {"Successful": [{"Id": i, **_sent(r)} for i, r in res.successful.items()],
                "Failed": [_failed(f) for f in res.failed]}

    async def receive_message(self, p: Params, c: Caller) -> Result:
        system = [*(p.get("AttributeNames") or []), *(p.get("MessageSystemAttributeNames") or [])]
        msgs = await self.engine.queues.receive(
            self._own_queue(p["QueueUrl"], c),
            max_messages=1 if p.get("MaxNumberOfMessages") is None else p["MaxNumberOfMessages"],
            wait_time_s=p.get("WaitTimeSeconds"),
            visibility_timeout_s=p.get("VisibilityTimeout"),
            attribute_names=system,
            message_attribute_names=p.get("MessageAttributeNames") or [],
            receive_request_attempt_id=p.get("ReceiveRequestAttemptId"),
        )
        return {"Messages": [_message(m) for m in msgs]} if msgs else {}

    async def delete_message(self, p: Params, c: Caller) -> Result:
        await self.engine.queues.delete(self._own_queue(p["QueueUrl"], c), p["ReceiptHandle"])
        return {}

    async def delete_message_batch(self, p: Params, c: Caller) -> Result:
        entries = [(e.get("Id", ""), e.get("ReceiptHandle", "")) for e in p.get("Entries") or []]
        res = await self.engine.queues.delete_batch(self._own_queue(p["QueueUrl"], c), entries)
        return {"Successful": [{"Id": i} for i in res.successful],
                "Failed": [_failed(f) for f in res.failed]}

    async def change_message_visibility(self, p: Params, c: Caller) -> Result:
        await self.engine.queues.change_visibility(
            self._own_queue(p["QueueUrl"], c), p["ReceiptHandle"], p["VisibilityTimeout"])
        return {}

    async def change_message_visibility_batch(self, p: Params, c: Caller) -> Result:
        entries = [(e.get("Id", ""), e.get("ReceiptHandle", ""), e.get("VisibilityTimeout", 0))
                   for e in p.get("Entries") or []]
        res = await self.engine.queues.change_visibility_batch(
            self._own_queue(p["QueueUrl"], c), entries)
        return {"Successful": [{"Id": i} for i in res.successful],
                "Failed": [_failed(f) for f in res.failed]}


    # -- message move tasks ----------------------------------------------------------------

    async def start_message_move_task(self, p: Params, c: Caller) -> Result:
        self._own_arn(p["SourceArn"], c)
        if p.get("DestinationArn") is not None:
            self._own_arn(p["DestinationArn"], c)
        handle = await self.engine.moves.start(
            p["SourceArn"], p.get("DestinationArn"), p.get("MaxNumberOfMessagesPerSecond"))
        return {"TaskHandle": handle}

    async def list_message_move_tasks(self, p: Params, c: Caller) -> Result:
        self._own_arn(p["SourceArn"], c)
        tasks = await self.engine.moves.list(p["SourceArn"], p.get("MaxResults"))
        return {"Results": [_move_task(t) for t in tasks]}

    async def cancel_message_move_task(self, p: Params, c: Caller) -> Result:
        _, source = parse_handle(p["TaskHandle"])
        self._own_arn(source, c)
        moved = await self.engine.moves.cancel(p["TaskHandle"])
        return {"ApproximateNumberOfMessagesMoved": moved}

    def _own_arn(self, arn: str, caller: Caller) -> None:
        """AccessDenied for another account's queue when the caller is authenticated."""
        ref = self.engine.identity.queue_from_arn(arn)
        if caller.authenticated and ref is not None and ref.account != caller.account_id:
            raise errors.AccessDenied(f"Access to the resource {arn} is denied.")


def _move_task(t: MoveTask) -> Result:
    out: Result = {"Status": t.status, "SourceArn": t.source_arn,
                   "ApproximateNumberOfMessagesMoved": t.moved,
                   "ApproximateNumberOfMessagesToMove": t.to_move,
                   "StartedTimestamp": t.started_ms}
    if t.task_handle:
        out["TaskHandle"] = t.task_handle
    if t.destination_arn:
        out["DestinationArn"] = t.destination_arn
    if t.max_messages_per_second:
        out["MaxNumberOfMessagesPerSecond"] = t.max_messages_per_second
    if t.failure_reason:
        out["FailureReason"] = t.failure_reason
    return out


_HANDLERS: Mapping[str, Handler] = {
    "CreateQueue": SqsActions.create_queue,
    "DeleteQueue": SqsActions.delete_queue,
    "GetQueueUrl": SqsActions.get_queue_url,
    "ListQueues": SqsActions.list_queues,
    "GetQueueAttributes": SqsActions.get_queue_attributes,
    "SetQueueAttributes": SqsActions.set_queue_attributes,
    "PurgeQueue": SqsActions.purge_queue,
    "TagQueue": SqsActions.tag_queue,
    "UntagQueue": SqsActions.untag_queue,
    "ListQueueTags": SqsActions.list_queue_tags,
    "ListDeadLetterSourceQueues": SqsActions.list_dead_letter_source_queues,
    "SendMessage": SqsActions.send_message,
    "SendMessageBatch": SqsActions.send_message_batch,
    "ReceiveMessage": SqsActions.receive_message,
    "DeleteMessage": SqsActions.delete_message,
    "DeleteMessageBatch": SqsActions.delete_message_batch,
    "ChangeMessageVisibility": SqsActions.change_message_visibility,
    "ChangeMessageVisibilityBatch": SqsActions.change_message_visibility_batch,
    "StartMessageMoveTask": SqsActions.start_message_move_task,
    "ListMessageMoveTasks": SqsActions.list_message_move_tasks,
    "CancelMessageMoveTask": SqsActions.cancel_message_move_task,
}
