"""Any AWS-compatible endpoint as a load-test target, through boto3 on a thread pool
sized to the workload's concurrency: ``aws+http://host:port`` (this broker's server,
moto's server, another emulator) or ``aws://`` (AWS itself, with the usual credential
chain and region)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

from loadtest.targets import OutMessage, redact

T = TypeVar("T")


class AwsTarget:
    kind = "aws"

    def __init__(self, url: str, pool: int) -> None:
        import boto3
        from botocore.config import Config

        parts = urlsplit(url)
        self.endpoint = None if parts.scheme == "aws" else \
            f"{parts.scheme.removeprefix('aws+')}://{parts.netloc}"
        self.label = f"aws {redact(url)}"
        session = boto3.session.Session()
        region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
        # no retries (the harness counts errors); reads wait out the longest long poll
        config = Config(max_pool_connections=pool + 4, retries={"max_attempts": 0},
                        connect_timeout=5, read_timeout=35)
        creds: dict[str, str] = {}
        if self.endpoint is not None and session.get_credentials() is None:
            # an emulator takes any key; AWS itself gets the caller's credentials
            creds = {"aws_access_key_id": "loadtest", "aws_secret_access_key": "loadtest"}
        self._sqs = session.client("sqs", endpoint_url=self.endpoint, region_name=region,
                                   config=config, **creds)
        self._sns = session.client("sns", endpoint_url=self.endpoint, region_name=region,
                                   config=config, **creds)
        self._kinesis = session.client("kinesis", endpoint_url=self.endpoint,
                                       region_name=region, config=config, **creds)
        self._pool = ThreadPoolExecutor(max_workers=pool + 4, thread_name_prefix="boto3")

    async def _call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(**kwargs))

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        # calls still running (a long poll) finish in their threads, not on the loop
        await asyncio.to_thread(self._pool.shutdown, True, cancel_futures=True)
        for c in (self._sqs, self._sns, self._kinesis):
            c.close()

    # -- queues ----------------------------------------------------------------------------

    async def create_queue(self, name: str, fifo: bool, visibility_timeout_s: int) -> str:
        attrs = {"VisibilityTimeout": str(visibility_timeout_s)}
        if fifo:
            name += ".fifo"
            attrs["FifoQueue"] = "true"
        r = await self._call(self._sqs.create_queue, QueueName=name, Attributes=attrs)
        return str(r["QueueUrl"])

    async def delete_queue(self, queue: str) -> None:
        await self._call(self._sqs.delete_queue, QueueUrl=queue)

    async def send_batch(self, queue: str, entries: Sequence[OutMessage]) -> list[str | None]:
        batch = []
        for i, e in enumerate(entries):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": e.body}
            if e.group_id is not None:
                entry["MessageGroupId"] = e.group_id
            if e.deduplication_id is not None:
                entry["MessageDeduplicationId"] = e.deduplication_id
            if e.attributes:
                entry["MessageAttributes"] = _attributes(e.attributes)
            batch.append(entry)
        r = await self._call(self._sqs.send_message_batch, QueueUrl=queue, Entries=batch)
        return _per_entry(len(entries), r.get("Failed", []))

    async def receive(self, queue: str, max_messages: int, wait_s: int
                      ) -> list[tuple[str, str]]:
        r = await self._call(self._sqs.receive_message, QueueUrl=queue,
                             MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_s)
        return [(m["Body"], m["ReceiptHandle"]) for m in r.get("Messages", [])]

    async def delete_batch(self, queue: str, receipts: Sequence[str]) -> list[str | None]:
        r = await self._call(self._sqs.delete_message_batch, QueueUrl=queue, Entries=[
            {"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(receipts)])
        return _per_entry(len(receipts), r.get("Failed", []))

    async def depth(self, queue: str) -> int:
        r = await self._call(self._sqs.get_queue_attributes, QueueUrl=queue, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        return sum(int(v) for v in r.get("Attributes", {}).values())

    # -- topics ----------------------------------------------------------------------------

    async def create_topic(self, name: str) -> str:
        return str((await self._call(self._sns.create_topic, Name=name))["TopicArn"])

    async def delete_topic(self, topic: str) -> None:
        await self._call(self._sns.delete_topic, TopicArn=topic)

    async def subscribe(self, topic: str, queue: str, filter_policy: str | None) -> None:
        r = await self._call(self._sqs.get_queue_attributes, QueueUrl=queue,
                             AttributeNames=["QueueArn"])
        queue_arn = r["Attributes"]["QueueArn"]
        # what AWS needs for SNS to write to the queue (emulators accept and ignore it)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]}
        await self._call(self._sqs.set_queue_attributes, QueueUrl=queue,
                         Attributes={"Policy": json.dumps(policy)})
        attrs = {"RawMessageDelivery": "true"}
        if filter_policy is not None:
            attrs["FilterPolicy"] = filter_policy
        await self._call(self._sns.subscribe, TopicArn=topic, Protocol="sqs",
                         Endpoint=queue_arn, Attributes=attrs)

    async def publish_batch(self, topic: str, entries: Sequence[OutMessage]
                            ) -> list[str | None]:
        batch = []
        for i, e in enumerate(entries):
            entry: dict[str, Any] = {"Id": str(i), "Message": e.body}
            if e.attributes:
                entry["MessageAttributes"] = _attributes(e.attributes)
            batch.append(entry)
        r = await self._call(self._sns.publish_batch, TopicArn=topic,
                             PublishBatchRequestEntries=batch)
        return _per_entry(len(entries), r.get("Failed", []))

    # -- streams ---------------------------------------------------------------------------

    async def create_stream(self, name: str, shards: int) -> str:
        await self._call(self._kinesis.create_stream, StreamName=name, ShardCount=shards)
        for _ in range(600):
            r = await self._call(self._kinesis.describe_stream_summary, StreamName=name)
            if r["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                return name
            await asyncio.sleep(0.5)
        raise TimeoutError(f"stream {name} not ACTIVE after 5 minutes")

    async def delete_stream(self, stream: str) -> None:
        await self._call(self._kinesis.delete_stream, StreamName=stream,
                         EnforceConsumerDeletion=True)

    async def put_records(self, stream: str, records: Sequence[tuple[bytes, str]]
                          ) -> list[str | None]:
        r = await self._call(self._kinesis.put_records, StreamName=stream, Records=[
            {"Data": d, "PartitionKey": k} for d, k in records])
        return [x.get("ErrorCode") for x in r["Records"]]

    async def shard_ids(self, stream: str) -> list[str]:
        out: list[str] = []
        kwargs: dict[str, Any] = {"StreamName": stream}
        while True:
            r = await self._call(self._kinesis.list_shards, **kwargs)
            out += [s["ShardId"] for s in r["Shards"]]
            if not r.get("NextToken"):
                return out
            kwargs = {"NextToken": r["NextToken"]}

    async def iterator(self, stream: str, shard_id: str) -> str:
        r = await self._call(self._kinesis.get_shard_iterator, StreamName=stream,
                             ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
        return str(r["ShardIterator"])

    async def get_records(self, iterator: str, limit: int
                          ) -> tuple[list[bytes], str | None]:
        r = await self._call(self._kinesis.get_records, ShardIterator=iterator, Limit=limit)
        return [bytes(x["Data"]) for x in r["Records"]], r.get("NextShardIterator")


def _attributes(values: Any) -> dict[str, dict[str, str]]:
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


def _per_entry(n: int, failed: list[dict[str, Any]]) -> list[str | None]:
    codes = {str(f["Id"]): str(f.get("Code", "Failed")) for f in failed}
    return [codes.get(str(i)) for i in range(n)]
