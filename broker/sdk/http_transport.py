"""The SDK over HTTP: SQS's awsJson1_0 protocol to a broker server (or any SQS endpoint).

The SDK stays small: no botocore. Requests are the JSON bodies boto3 would send; binary
message attributes travel base64-encoded as in the AWS JSON protocol; errors come back
as the same ``broker.errors`` classes the in-process engine raises.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import io
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from broker import errors
from broker.engine.queues import SendEntry
from broker.engine.settings import DEFAULT_ACCOUNT_ID
from broker.engine.stream_admin import StreamRef
from broker.engine.stream_consumers import (
    HEARTBEAT_S,
    SUBSCRIPTION_S,
    Consumer,
    SubscribeEvent,
)
from broker.engine.stream_types import GetRecordsResult, PutResult, Shard, StreamInfo
from broker.engine.streams import PutEntry
from broker.engine.topic_admin import TopicRef
from broker.engine.topics import BatchPublishResult, PublishEntry, PublishResult
from broker.sdk import sns_query
from broker.sdk.signing import Signer
from broker.types import (
    BatchResult,
    BatchResultError,
    BatchSendResult,
    MessageAttributes,
    MoveTask,
    QueueRef,
    ReceivedMessage,
    SendResult,
)

#: the longest long poll (20 s) plus room for the network
REQUEST_TIMEOUT_S = 30.0
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
KINESIS_CONTENT_TYPE = "application/x-amz-json-1.1"
KINESIS_TARGET = "Kinesis_20131202"
#: the GetRecords loop behind ``subscribe_to_shard`` over HTTP: pause when caught up
HTTP_SUBSCRIBE_POLL_S = 0.02
HTTP_THROTTLED_S = 0.2


def _encode_attributes(attrs: MessageAttributes) -> dict[str, Any]:
    out = {}
    for name, value in attrs.items():
        v = dict(value)
        if isinstance(v.get("BinaryValue"), bytes | bytearray):
            v["BinaryValue"] = base64.b64encode(v["BinaryValue"]).decode()
        out[name] = v
    return out


def _decode_attributes(attrs: Mapping[str, Any]) -> MessageAttributes:
    out: MessageAttributes = {}
    for name, value in attrs.items():
        v = {k: val for k, val in value.items() if k in ("DataType", "StringValue",
                                                          "BinaryValue")}
        if "BinaryValue" in v:
            v["BinaryValue"] = base64.b64decode(v["BinaryValue"])
        out[name] = v
    return out


def _entry(e: SendEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"MessageBody": e.body}
    if e.id:
        out["Id"] = e.id
    if e.delay_seconds is not None:
        out["DelaySeconds"] = e.delay_seconds
    if e.message_attributes:
        out["MessageAttributes"] = _encode_attributes(e.message_attributes)
    if e.system_attributes:
        out["MessageSystemAttributes"] = _encode_attributes(e.system_attributes)
    if e.group_id is not None:
        out["MessageGroupId"] = e.group_id
    if e.deduplication_id is not None:
        out["MessageDeduplicationId"] = e.deduplication_id
    return out


def _sent(r: Mapping[str, Any]) -> SendResult:
    return SendResult(
        message_id=r["MessageId"], md5_of_body=r["MD5OfMessageBody"],
        md5_of_message_attributes=r.get("MD5OfMessageAttributes"),
        md5_of_message_system_attributes=r.get("MD5OfMessageSystemAttributes"),
        sequence_number=r.get("SequenceNumber"))


def _failed(f: Mapping[str, Any]) -> BatchResultError:
    return BatchResultError(f["Id"], f["Code"], f.get("Message", ""), f.get("SenderFault", True))


class HttpTransport:
    """Talks to ``http(s)://host:port``. Signs requests with SigV4 when given keys."""

    def __init__(self, endpoint: str, *, account_id: str | None, region: str,
                 access_key_id: str | None = None, secret_access_key: str | None = None
                 ) -> None:
        parts = urlsplit(endpoint)
        self._endpoint = f"{parts.scheme}://{parts.netloc}"
        self.account_id = account_id or DEFAULT_ACCOUNT_ID
        """The caller's account; when not given, learnt from the first queue URL the
        server answers with (the server knows the account of the caller's access key)."""
        self._account_known = account_id is not None
        self._signer = (Signer(access_key_id, secret_access_key, region, "sqs")
                        if access_key_id and secret_access_key else None)
        self._sns_signer = (Signer(access_key_id, secret_access_key, region, "sns")
                            if access_key_id and secret_access_key else None)
        self._kinesis_signer = (Signer(access_key_id, secret_access_key, region, "kinesis")
                                if access_key_id and secret_access_key else None)
        self._region = region
        self._session: aiohttp.ClientSession | None = None

    def queue_url(self, queue: QueueRef) -> str:
        return f"{self._endpoint}/{queue.account}/{queue.name}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, operation: str, params: Mapping[str, Any], *,
                    target: str = "AmazonSQS", content_type: str = JSON_CONTENT_TYPE,
                    signer: Signer | None | bool = True) -> dict[str, Any]:
        """One JSON-protocol call (SQS unless told otherwise; ``signer=True``: SQS's)."""
        if self._session is None:
            raise RuntimeError("HttpTransport used outside 'async with Client(...)'")
        body = json.dumps(params).encode()
        headers = {"Content-Type": content_type, "X-Amz-Target": f"{target}.{operation}"}
        sign = self._signer if signer is True else signer or None
        if sign is not None:
            headers.update(sign.headers("POST", self._endpoint + "/", headers, body))
        try:
            # (a BytesIO, not bytes: aiohttp warns about large raw bodies)
            async with self._session.post(self._endpoint + "/", data=io.BytesIO(body),
                                          headers=headers) as resp:
                text = await resp.read()
                if resp.status == 200:
                    result: dict[str, Any] = json.loads(text) if text else {}
                    return result
                raise self._error(resp.status, resp.headers.get("x-amzn-query-error"), text)
        except aiohttp.ClientError as exc:
            raise errors.ServiceUnavailable(f"cannot reach {self._endpoint}: {exc}") from exc

    @staticmethod
    def _error(status: int, query_error: str | None, text: bytes) -> errors.BrokerError:
        try:
            payload = json.loads(text)
        except ValueError:
            payload = {}
        message = payload.get("message") or payload.get("Message") or text.decode(errors="replace")
        code = (query_error or "").split(";")[0] or str(payload.get("__type", "")).split("#")[-1]
        if not code:
            return errors.ServiceError(f"HTTP {status}: {message}")
        return errors.from_code(code, message)

    def _url(self, queue: QueueRef) -> dict[str, Any]:
        return {"QueueUrl": self.queue_url(queue)}

    # -- queues ----------------------------------------------------------------------------

    async def create_queue(self, queue: QueueRef, attributes: Mapping[str, str],
                           tags: Mapping[str, str]) -> None:
        params: dict[str, Any] = {"QueueName": queue.name}
        if attributes:
            params["Attributes"] = dict(attributes)
        if tags:
            params["tags"] = dict(tags)
        self._learn_account((await self._call("CreateQueue", params))["QueueUrl"])

    def _learn_account(self, queue_url: str) -> None:
        if not self._account_known:
            ref = QueueRef.from_url(queue_url)
            if ref is not None:
                self.account_id = ref.account
                self._account_known = True

    async def delete_queue(self, queue: QueueRef) -> None:
        await self._call("DeleteQueue", self._url(queue))

    async def get_queue(self, queue: QueueRef) -> None:
        params = {"QueueName": queue.name}
        if queue.account != self.account_id:
            params["QueueOwnerAWSAccountId"] = queue.account
        self._learn_account((await self._call("GetQueueUrl", params))["QueueUrl"])

    async def list_queues(self, prefix: str, max_results: int | None,
                          next_token: str | None) -> tuple[list[QueueRef], str | None]:
        params: dict[str, Any] = {"QueueNamePrefix": prefix} if prefix else {}
        if max_results is not None:
            params["MaxResults"] = max_results
        if next_token:
            params["NextToken"] = next_token
        r = await self._call("ListQueues", params)
        refs = [ref for u in r.get("QueueUrls", []) if (ref := QueueRef.from_url(u))]
        return refs, r.get("NextToken")

    async def get_attributes(self, queue: QueueRef, names: Sequence[str]) -> dict[str, str]:
        r = await self._call("GetQueueAttributes",
                             {**self._url(queue), "AttributeNames": list(names)})
        attrs: dict[str, str] = r.get("Attributes", {})
        return attrs

    async def set_attributes(self, queue: QueueRef, attributes: Mapping[str, str]) -> None:
        await self._call("SetQueueAttributes", {**self._url(queue),
                                                "Attributes": dict(attributes)})

    async def purge(self, queue: QueueRef) -> None:
        await self._call("PurgeQueue", self._url(queue))

    async def tag(self, queue: QueueRef, tags: Mapping[str, str]) -> None:
        await self._call("TagQueue", {**self._url(queue), "Tags": dict(tags)})

    async def untag(self, queue: QueueRef, keys: Sequence[str]) -> None:
        await self._call("UntagQueue", {**self._url(queue), "TagKeys": list(keys)})

    async def list_tags(self, queue: QueueRef) -> dict[str, str]:
        tags: dict[str, str] = (await self._call("ListQueueTags", self._url(queue))).get(
            "Tags", {})
        return tags

    async def dead_letter_sources(self, queue: QueueRef) -> list[QueueRef]:
        r = await self._call("ListDeadLetterSourceQueues", self._url(queue))
        return [ref for u in r.get("queueUrls", []) if (ref := QueueRef.from_url(u))]

    # -- messages --------------------------------------------------------------------------

    async def send(self, queue: QueueRef, entry: SendEntry) -> SendResult:
        return _sent(await self._call("SendMessage", {**self._url(queue), **_entry(entry)}))

    async def send_batch(self, queue: QueueRef,
                         entries: Sequence[SendEntry]) -> BatchSendResult:
        r = await self._call("SendMessageBatch", {**self._url(queue),
                                                  "Entries": [_entry(e) for e in entries]})
        return BatchSendResult(
            successful={s["Id"]: _sent(s) for s in r.get("Successful", [])},
            failed=[_failed(f) for f in r.get("Failed", [])])

    async def receive(self, queue: QueueRef, max_messages: int, wait_time_s: int | None,
                      visibility_timeout_s: int | None, attribute_names: Sequence[str],
                      message_attribute_names: Sequence[str],
                      attempt_id: str | None = None) -> list[ReceivedMessage]:
        params: dict[str, Any] = {**self._url(queue), "MaxNumberOfMessages": max_messages}
        if attempt_id is not None:
            params["ReceiveRequestAttemptId"] = attempt_id
        if wait_time_s is not None:
            params["WaitTimeSeconds"] = wait_time_s
        if visibility_timeout_s is not None:
            params["VisibilityTimeout"] = visibility_timeout_s
        if attribute_names:
            params["MessageSystemAttributeNames"] = list(attribute_names)
        if message_attribute_names:
            params["MessageAttributeNames"] = list(message_attribute_names)
        r = await self._call("ReceiveMessage", params)
        return [ReceivedMessage(
            message_id=m["MessageId"], receipt_handle=m["ReceiptHandle"], body=m["Body"],
            md5_of_body=m["MD5OfBody"], attributes=m.get("Attributes", {}),
            message_attributes=_decode_attributes(m.get("MessageAttributes", {})),
            md5_of_message_attributes=m.get("MD5OfMessageAttributes"),
        ) for m in r.get("Messages", [])]

    async def delete(self, queue: QueueRef, receipt_handle: str) -> None:
        await self._call("DeleteMessage", {**self._url(queue), "ReceiptHandle": receipt_handle})

    async def delete_batch(self, queue: QueueRef,
                           entries: Sequence[tuple[str, str]]) -> BatchResult:
        r = await self._call("DeleteMessageBatch", {**self._url(queue), "Entries": [
            {"Id": i, "ReceiptHandle": h} for i, h in entries]})
        return BatchResult([s["Id"] for s in r.get("Successful", [])],
                           [_failed(f) for f in r.get("Failed", [])])

    async def change_visibility(self, queue: QueueRef, receipt_handle: str,
                                visibility_timeout_s: int) -> None:
        await self._call("ChangeMessageVisibility", {
            **self._url(queue), "ReceiptHandle": receipt_handle,
            "VisibilityTimeout": visibility_timeout_s})

    async def change_visibility_batch(
            self, queue: QueueRef, entries: Sequence[tuple[str, str, int]]) -> BatchResult:
        r = await self._call("ChangeMessageVisibilityBatch", {**self._url(queue), "Entries": [
            {"Id": i, "ReceiptHandle": h, "VisibilityTimeout": vt} for i, h, vt in entries]})
        return BatchResult([s["Id"] for s in r.get("Successful", [])],
                           [_failed(f) for f in r.get("Failed", [])])

    # -- message move tasks ----------------------------------------------------------------

    async def start_move_task(self, source_arn: str, destination_arn: str | None,
                              max_per_second: int | None) -> str:
        params: dict[str, Any] = {"SourceArn": source_arn}
        if destination_arn is not None:
            params["DestinationArn"] = destination_arn
        if max_per_second is not None:
            params["MaxNumberOfMessagesPerSecond"] = max_per_second
        r = await self._call("StartMessageMoveTask", params)
        return str(r["TaskHandle"])

    async def list_move_tasks(self, source_arn: str,
                              max_results: int | None) -> list[MoveTask]:
        params: dict[str, Any] = {"SourceArn": source_arn}
        if max_results is not None:
            params["MaxResults"] = max_results
        r = await self._call("ListMessageMoveTasks", params)
        return [MoveTask(
            task_handle=t.get("TaskHandle"), status=t["Status"], source_arn=t["SourceArn"],
            destination_arn=t.get("DestinationArn"),
            max_messages_per_second=t.get("MaxNumberOfMessagesPerSecond"),
            moved=t.get("ApproximateNumberOfMessagesMoved", 0),
            to_move=t.get("ApproximateNumberOfMessagesToMove", 0),
            started_ms=t.get("StartedTimestamp", 0), failure_reason=t.get("FailureReason"),
        ) for t in r.get("Results", [])]

    async def cancel_move_task(self, task_handle: str) -> int:
        r = await self._call("CancelMessageMoveTask", {"TaskHandle": task_handle})
        return int(r.get("ApproximateNumberOfMessagesMoved", 0))

    # -- topics (SNS over the query protocol) ----------------------------------------------

    async def _sns(self, action: str, params: Mapping[str, str]) -> ET.Element:
        if self._session is None:
            raise RuntimeError("HttpTransport used outside 'async with Client(...)'")
        body = urlencode({"Action": action, "Version": sns_query.VERSION, **params}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        if self._sns_signer is not None:
            headers.update(self._sns_signer.headers("POST", self._endpoint + "/", headers,
                                                    body))
        try:
            async with self._session.post(self._endpoint + "/", data=io.BytesIO(body),
                                          headers=headers) as resp:
                text = await resp.read()
                if resp.status == 200:
                    return sns_query.result(text, action)
                code, message = sns_query.error(text)
                if not code:
                    raise errors.ServiceError(f"HTTP {resp.status}: {message}")
                raise errors.from_code(code, message)
        except aiohttp.ClientError as exc:
            raise errors.ServiceUnavailable(f"cannot reach {self._endpoint}: {exc}") from exc

    def _topic_arn(self, topic: TopicRef) -> str:
        return f"arn:aws:sns:{self._region}:{topic.account}:{topic.name}"

    async def create_topic(self, topic: TopicRef, attributes: Mapping[str, str],
                           tags: Mapping[str, str]) -> None:
        await self._sns("CreateTopic", {"Name": topic.name,
                                        **sns_query.attribute_fields("Attributes", attributes),
                                        **sns_query.tag_fields(tags)})

    async def delete_topic(self, topic: TopicRef) -> None:
        await self._sns("DeleteTopic", {"TopicArn": self._topic_arn(topic)})

    async def list_topics(self) -> list[TopicRef]:
        out: list[TopicRef] = []
        token: str | None = None
        while True:
            r = await self._sns("ListTopics", sns_query.fields({"NextToken": token}))
            for m in sns_query.members(r, "Topics"):
                arn = sns_query.text(m, "TopicArn") or ""
                parts = arn.split(":")
                out.append(TopicRef(parts[4], parts[5]))
            token = sns_query.text(r, "NextToken")
            if not token:
                return out

    async def topic_attributes(self, topic: TopicRef) -> dict[str, str]:
        r = await self._sns("GetTopicAttributes", {"TopicArn": self._topic_arn(topic)})
        return sns_query.entries(r, "Attributes")

    async def set_topic_attribute(self, topic: TopicRef, name: str, value: str) -> None:
        await self._sns("SetTopicAttributes", {"TopicArn": self._topic_arn(topic),
                                               "AttributeName": name, "AttributeValue": value})

    async def subscribe(self, topic: TopicRef, protocol: str, endpoint: str,
                        attributes: Mapping[str, str]) -> str:
        r = await self._sns("Subscribe", {
            "TopicArn": self._topic_arn(topic), "Protocol": protocol, "Endpoint": endpoint,
            "ReturnSubscriptionArn": "true",
            **sns_query.attribute_fields("Attributes", attributes)})
        return sns_query.text(r, "SubscriptionArn") or ""

    async def unsubscribe(self, subscription_arn: str) -> None:
        await self._sns("Unsubscribe", {"SubscriptionArn": subscription_arn})

    async def topic_subscriptions(self, topic: TopicRef) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        token: str | None = None
        while True:
            r = await self._sns("ListSubscriptionsByTopic", sns_query.fields(
                {"TopicArn": self._topic_arn(topic), "NextToken": token}))
            out += [{k: sns_query.text(m, k) or "" for k in
                     ("SubscriptionArn", "Protocol", "Endpoint")}
                    for m in sns_query.members(r, "Subscriptions")]
            token = sns_query.text(r, "NextToken")
            if not token:
                return out

    @staticmethod
    def _publish_fields(e: PublishEntry, prefix: str = "") -> dict[str, str]:
        out = sns_query.fields({
            f"{prefix}Message": e.message, f"{prefix}Subject": e.subject,
            f"{prefix}MessageStructure": e.message_structure,
            f"{prefix}MessageGroupId": e.group_id,
            f"{prefix}MessageDeduplicationId": e.deduplication_id})
        out.update(sns_query.message_attribute_fields(f"{prefix}MessageAttributes",
                                                      e.message_attributes))
        return out

    async def publish(self, topic: TopicRef, entry: PublishEntry) -> PublishResult:
        r = await self._sns("Publish", {"TopicArn": self._topic_arn(topic),
                                        **self._publish_fields(entry)})
        return PublishResult(sns_query.text(r, "MessageId") or "",
                             sns_query.text(r, "SequenceNumber"))

    async def publish_batch(self, topic: TopicRef,
                            entries: Sequence[PublishEntry]) -> BatchPublishResult:
        params: dict[str, str] = {"TopicArn": self._topic_arn(topic)}
        for i, e in enumerate(entries, 1):
            prefix = f"PublishBatchRequestEntries.member.{i}."
            params[f"{prefix}Id"] = e.id
            params.update(self._publish_fields(e, prefix))
        r = await self._sns("PublishBatch", params)
        out = BatchPublishResult()
        for m in sns_query.members(r, "Successful"):
            out.successful[sns_query.text(m, "Id") or ""] = PublishResult(
                sns_query.text(m, "MessageId") or "", sns_query.text(m, "SequenceNumber"))
        for m in sns_query.members(r, "Failed"):
            out.failed.append(BatchResultError(
                sns_query.text(m, "Id") or "", sns_query.text(m, "Code") or "",
                sns_query.text(m, "Message") or "",
                (sns_query.text(m, "SenderFault") or "true") == "true"))
        return out

    # -- streams (Kinesis, awsJson1_1) ---------------------------------------------------

    async def _kinesis(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call(operation, params, target=KINESIS_TARGET,
                                content_type=KINESIS_CONTENT_TYPE,
                                signer=self._kinesis_signer)

    @staticmethod
    def _stream(stream: StreamRef) -> dict[str, str]:
        return {"StreamName": stream.name}

    async def create_stream(self, stream: StreamRef, shard_count: int | None, mode: str,
                            tags: Mapping[str, str]) -> None:
        params: dict[str, Any] = {**self._stream(stream),
                                  "StreamModeDetails": {"StreamMode": mode}}
        if shard_count is not None:
            params["ShardCount"] = shard_count
        if tags:
            params["Tags"] = dict(tags)
        await self._kinesis("CreateStream", params)

    async def delete_stream(self, stream: StreamRef) -> None:
        await self._kinesis("DeleteStream", self._stream(stream))

    async def list_streams(self) -> list[StreamInfo]:
        out: list[StreamInfo] = []
        params: dict[str, Any] = {}
        while True:
            page = await self._kinesis("ListStreams", params)
            for s in page.get("StreamSummaries") or []:
                out.append(StreamInfo.from_summary_wire(
                    {"RetentionPeriodHours": 0, **s}))
            if not page.get("NextToken"):
                return out
            params = {"NextToken": page["NextToken"]}

    async def describe_stream(self, stream: StreamRef) -> StreamInfo:
        summary = await self._kinesis("DescribeStreamSummary", self._stream(stream))
        info = StreamInfo.from_summary_wire(summary["StreamDescriptionSummary"])
        shards: list[Shard] = []
        params: dict[str, Any] = {**self._stream(stream), "MaxResults": 10_000}
        while True:
            page = await self._kinesis("ListShards", params)
            shards += [Shard.from_wire(s) for s in page.get("Shards") or []]
            if not page.get("NextToken"):
                return dataclasses.replace(info, shards=shards)
            params = {"NextToken": page["NextToken"], "MaxResults": 10_000}

    async def set_stream_retention(self, stream: StreamRef, hours: int,
                                   increase: bool) -> None:
        await self._kinesis("IncreaseStreamRetentionPeriod" if increase
                            else "DecreaseStreamRetentionPeriod",
                            {**self._stream(stream), "RetentionPeriodHours": hours})

    @staticmethod
    def _record(e: PutEntry) -> dict[str, Any]:
        out = {"Data": base64.b64encode(e.data).decode(), "PartitionKey": e.partition_key}
        if e.explicit_hash_key is not None:
            out["ExplicitHashKey"] = e.explicit_hash_key
        return out

    async def put_record(self, stream: StreamRef, entry: PutEntry,
                         sequence_for_ordering: str | None) -> PutResult:
        params = {**self._stream(stream), **self._record(entry)}
        if sequence_for_ordering is not None:
            params["SequenceNumberForOrdering"] = sequence_for_ordering
        return PutResult.from_wire(await self._kinesis("PutRecord", params))

    async def put_records(self, stream: StreamRef,
                          entries: Sequence[PutEntry]) -> list[PutResult]:
        reply = await self._kinesis("PutRecords", {
            **self._stream(stream), "Records": [self._record(e) for e in entries]})
        return [PutResult.from_wire(r) for r in reply["Records"]]

    async def shard_iterator(self, stream: StreamRef, shard_id: str, iterator_type: str,
                             sequence_number: str | None,
                             timestamp: dt.datetime | None) -> str:
        params: dict[str, Any] = {**self._stream(stream), "ShardId": shard_id,
                                  "ShardIteratorType": iterator_type}
        if sequence_number is not None:
            params["StartingSequenceNumber"] = sequence_number
        if timestamp is not None:
            params["Timestamp"] = timestamp.timestamp()
        return str((await self._kinesis("GetShardIterator", params))["ShardIterator"])

    async def get_records(self, iterator: str, limit: int | None) -> GetRecordsResult:
        params: dict[str, Any] = {"ShardIterator": iterator}
        if limit is not None:
            params["Limit"] = limit
        reply = await self._kinesis("GetRecords", params)
        for r in reply.get("Records") or []:
            r["Data"] = base64.b64decode(r["Data"])
        return GetRecordsResult.from_wire(reply)

    async def split_shard(self, stream: StreamRef, shard_id: str, new_starting_hash_key: str
                          ) -> None:
        await self._kinesis("SplitShard", {**self._stream(stream), "ShardToSplit": shard_id,
                                           "NewStartingHashKey": new_starting_hash_key})

    async def merge_shards(self, stream: StreamRef, shard_id: str, adjacent_shard_id: str
                           ) -> None:
        await self._kinesis("MergeShards", {**self._stream(stream), "ShardToMerge": shard_id,
                                            "AdjacentShardToMerge": adjacent_shard_id})

    async def update_shard_count(self, stream: StreamRef, target: int) -> None:
        await self._kinesis("UpdateShardCount", {**self._stream(stream),
                                                 "TargetShardCount": target,
                                                 "ScalingType": "UNIFORM_SCALING"})

    async def register_consumer(self, stream_arn: str, name: str) -> Consumer:
        reply = await self._kinesis("RegisterStreamConsumer", {"StreamARN": stream_arn,
                                                               "ConsumerName": name})
        return Consumer.from_wire(reply["Consumer"], stream_arn)

    async def deregister_consumer(self, consumer_arn: str) -> None:
        await self._kinesis("DeregisterStreamConsumer", {"ConsumerARN": consumer_arn})

    async def list_consumers(self, stream_arn: str) -> list[Consumer]:
        out: list[Consumer] = []
        params: dict[str, Any] = {"StreamARN": stream_arn}
        while True:
            page = await self._kinesis("ListStreamConsumers", params)
            out += [Consumer.from_wire(c, stream_arn) for c in page.get("Consumers") or []]
            if not page.get("NextToken"):
                return out
            params = {"StreamARN": stream_arn, "NextToken": page["NextToken"]}

    async def subscribe_to_shard(self, consumer_arn: str, shard_id: str,
                                 start: Mapping[str, Any]) -> AsyncIterator[SubscribeEvent]:
        """SubscribeToShard's HTTP/2 event stream is not served, so over HTTP the events
        come from a GetRecords loop (same events; polling latency; no exclusive
        subscription per consumer and shard)."""
        reply = await self._kinesis("DescribeStreamConsumer", {"ConsumerARN": consumer_arn})
        stream_arn = reply["ConsumerDescription"]["StreamARN"]
        params: dict[str, Any] = {"StreamARN": stream_arn, "ShardId": shard_id,
                                  "ShardIteratorType": start.get("Type")}
        if start.get("SequenceNumber") is not None:
            params["StartingSequenceNumber"] = start["SequenceNumber"]
        if start.get("Timestamp") is not None:
            stamp = start["Timestamp"]
            params["Timestamp"] = stamp.timestamp() if isinstance(stamp, dt.datetime) \
                else stamp
        it: str | None = (await self._kinesis("GetShardIterator", params))["ShardIterator"]
        ends = time.monotonic() + SUBSCRIPTION_S
        quiet_since = time.monotonic()
        continuation = str(start.get("SequenceNumber") or "")
        while it is not None and time.monotonic() < ends:
            try:
                page = await self.get_records(it, None)
            except errors.ProvisionedThroughputExceededException:
                await asyncio.sleep(HTTP_THROTTLED_S)  # the shard's 5 reads a second
                continue
            it = page.next_iterator
            if page.records:
                continuation = page.records[-1].sequence_number
            if page.records or it is None:
                yield SubscribeEvent(page.records, continuation, page.millis_behind_latest,
                                     page.child_shards)
                quiet_since = time.monotonic()
                continue
            if time.monotonic() - quiet_since >= HEARTBEAT_S:
                yield SubscribeEvent([], continuation, 0)
                quiet_since = time.monotonic()
            await asyncio.sleep(HTTP_SUBSCRIBE_POLL_S)
