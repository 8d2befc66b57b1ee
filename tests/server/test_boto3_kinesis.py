"""Kinesis on the wire: boto3's Kinesis client (awsJson1_1) against the broker server,
every supported action and the errors boto3 users see."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from broker import Limits
from broker.engine.stream_routing import even_ranges
from broker.server.app import BrokerServer
from tests.broker_servers import serving_in_thread
from tests.server.helpers import REGION, seen, unique_name


def _client(server: BrokerServer, validate: bool = True) -> BaseClient:
    return boto3.Session().client(
        "kinesis", endpoint_url=server.url, region_name=REGION, aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate))


@pytest.fixture(scope="module")
def kinesis(sqs_server: BrokerServer) -> Iterator[BaseClient]:
    client = _client(sqs_server)
    yield client
    client.close()


@pytest.fixture(scope="module")
def raw_kinesis(sqs_server: BrokerServer) -> Iterator[BaseClient]:
    """No client-side validation: what the server answers to bad input."""
    client = _client(sqs_server, validate=False)
    yield client
    client.close()


def test_stream_lifecycle(kinesis: BaseClient) -> None:
    name = unique_name("s")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name,
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    d = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert d["StreamStatus"] == "ACTIVE" and d["RetentionPeriodHours"] == 24
    assert d["StreamARN"] == f"arn:aws:kinesis:{REGION}:000000000000:stream/{name}"
    assert [s["HashKeyRange"]["EndingHashKey"] for s in d["Shards"]] == [
        str(hi) for _, hi in even_ranges(2)]
    assert isinstance(d["StreamCreationTimestamp"], dt.datetime) and not d["HasMoreShards"]
    summary = kinesis.describe_stream_summary(StreamARN=d["StreamARN"])[
        "StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 2
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    shards = kinesis.list_shards(StreamName=name, MaxResults=1)
    assert len(shards["Shards"]) == 1
    more = kinesis.list_shards(NextToken=shards["NextToken"])
    assert [s["ShardId"] for s in more["Shards"]] == ["shardId-000000000001"]
    names = kinesis.get_paginator("list_streams").paginate().build_full_result()
    assert name in names["StreamNames"]
    kinesis.add_tags_to_stream(StreamName=name, Tags={"team": "data"})
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [
        {"Key": "team", "Value": "data"}]
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["team"])
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=72)
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    assert kinesis.describe_stream_summary(StreamName=name)[
        "StreamDescriptionSummary"]["RetentionPeriodHours"] == 48
    limits = kinesis.describe_limits()
    assert limits["ShardLimit"] >= limits["OpenShardCount"] >= 2
    kinesis.delete_stream(StreamName=name)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException) as caught:
        kinesis.describe_stream(StreamName=name)
    assert f"Stream {name} under account 000000000000 not found." in seen(caught.value).message


def test_put_and_get_records(kinesis: BaseClient) -> None:
    name = unique_name("s")
    kinesis.create_stream(StreamName=name, ShardCount=4)
    keys = [f"k{i}" for i in range(20)]
    put = kinesis.put_records(StreamName=name, Records=[
        {"Data": f"v{i}".encode(), "PartitionKey": k} for i, k in enumerate(keys)])
    assert put["FailedRecordCount"] == 0 and len(put["Records"]) == 20
    ranges = even_ranges(4)
    for k, r in zip(keys, put["Records"], strict=True):
        h = int(hashlib.md5(k.encode()).hexdigest(), 16)  # noqa: S324
        want = next(i for i, (lo, hi) in enumerate(ranges) if lo <= h <= hi)
        assert r["ShardId"] == f"shardId-{want:012d}"
    one = kinesis.put_record(StreamName=name, Data=b"\x00\xffbinary", PartitionKey="k0",
                             SequenceNumberForOrdering=put["Records"][0]["SequenceNumber"])
    assert int(one["SequenceNumber"]) > int(put["Records"][0]["SequenceNumber"])
    it = kinesis.get_shard_iterator(StreamName=name, ShardId=one["ShardId"],
                                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                                    StartingSequenceNumber=one["SequenceNumber"])
    got = kinesis.get_records(ShardIterator=it["ShardIterator"], Limit=10)
    [record] = got["Records"]
    assert record["Data"] == b"\x00\xffbinary" and record["PartitionKey"] == "k0"
    assert isinstance(record["ApproximateArrivalTimestamp"], dt.datetime)
    assert got["MillisBehindLatest"] == 0 and got["NextShardIterator"]
    total = 0
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        total += len(kinesis.get_records(ShardIterator=it)["Records"])
    assert total == 21
    ts = kinesis.get_shard_iterator(StreamName=name, ShardId=one["ShardId"],
                                    ShardIteratorType="AT_TIMESTAMP",
                                    Timestamp=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert kinesis.get_records(ShardIterator=ts["ShardIterator"])["Records"]


def test_errors(kinesis: BaseClient, raw_kinesis: BaseClient) -> None:
    name = unique_name("s")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    cases = [
        (lambda: kinesis.create_stream(StreamName=name, ShardCount=1),
         "ResourceInUseException"),
        (lambda: kinesis.put_record(StreamName=unique_name("none"), Data=b"x",
                                    PartitionKey="k"), "ResourceNotFoundException"),
        (lambda: kinesis.get_records(ShardIterator="AAAA" * 20), "InvalidArgumentException"),
        (lambda: kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000007",
                                            ShardIteratorType="LATEST"),
         "ResourceNotFoundException"),
        (lambda: kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                            ShardIteratorType="AFTER_SEQUENCE_NUMBER"),
         "InvalidArgumentException"),
        (lambda: kinesis.increase_stream_retention_period(StreamName=name,
                                                          RetentionPeriodHours=9000),
         "InvalidArgumentException"),
        (lambda: raw_kinesis.create_stream(StreamName="bad name", ShardCount=1),
         "ValidationException"),
        (lambda: raw_kinesis.create_stream(StreamName=unique_name("z"), ShardCount=0),
         "ValidationException"),
        (lambda: raw_kinesis.put_record(StreamName=name, Data=b"x", PartitionKey=""),
         "ValidationException"),
        (lambda: raw_kinesis.put_records(StreamName=name, Records=[
            {"Data": b"x", "PartitionKey": "k"}] * 501), "ValidationException"),
        (lambda: kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k",
                                    ExplicitHashKey=str(2**128)),
         "InvalidArgumentException"),
    ]
    for call, code in cases:
        with pytest.raises(kinesis.exceptions.ClientError) as caught:
            call()
        got = seen(caught.value)
        assert got.code == code, (code, got)
        assert got.status in (400, 404) and got.message


def test_resharding(kinesis: BaseClient) -> None:
    name = unique_name("s")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.put_record(StreamName=name, Data=b"old", PartitionKey="k")
    kinesis.split_shard(StreamName=name, ShardToSplit="shardId-000000000000",
                        NewStartingHashKey=str(2**127))
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    assert [s.get("ParentShardId") for s in shards] == [
        None, "shardId-000000000000", "shardId-000000000000"]
    assert "EndingSequenceNumber" in shards[0]["SequenceNumberRange"]
    kinesis.merge_shards(StreamName=name, ShardToMerge="shardId-000000000001",
                         AdjacentShardToMerge="shardId-000000000002")
    merged = kinesis.list_shards(StreamName=name,
                                 ShardFilter={"Type": "AT_LATEST"})["Shards"]
    assert [(s["ParentShardId"], s["AdjacentParentShardId"]) for s in merged] == [
        ("shardId-000000000001", "shardId-000000000002")]
    scaled = kinesis.update_shard_count(StreamName=name, TargetShardCount=2,
                                        ScalingType="UNIFORM_SCALING")
    assert (scaled["CurrentShardCount"], scaled["TargetShardCount"]) == (1, 2)
    it = kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    page = kinesis.get_records(ShardIterator=it)
    assert [r["Data"] for r in page["Records"]] == [b"old"]
    end = kinesis.get_records(ShardIterator=page["NextShardIterator"])
    assert "NextShardIterator" not in end or end["NextShardIterator"] is None
    assert [c["ShardId"] for c in end["ChildShards"]] == ["shardId-000000000001",
                                                         "shardId-000000000002"]
    assert end["ChildShards"][0]["ParentShards"] == ["shardId-000000000000"]
    with pytest.raises(kinesis.exceptions.InvalidArgumentException,
                       match="already been merged or split"):
        kinesis.split_shard(StreamName=name, ShardToSplit="shardId-000000000000",
                            NewStartingHashKey="5")


def test_stream_consumers(kinesis: BaseClient) -> None:
    name = unique_name("s")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)[
        "StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="app")[
        "Consumer"]
    assert consumer["ConsumerStatus"] == "ACTIVE"
    assert consumer["ConsumerARN"].startswith(f"{arn}/consumer/app:")
    described = kinesis.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
        "ConsumerDescription"]
    assert described["StreamARN"] == arn and described["ConsumerName"] == "app"
    assert [c["ConsumerName"] for c in kinesis.list_stream_consumers(StreamARN=arn)[
        "Consumers"]] == ["app"]
    with pytest.raises(kinesis.exceptions.ResourceInUseException):
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="app")
    kinesis.deregister_stream_consumer(StreamARN=arn, ConsumerName="app")
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])


def test_throughput_limits_on_the_wire(plain_url: str) -> None:
    """A server with the default limits: the 6th GetRecords in a second and records over
    1,000 a second are refused as boto3 expects; the tag switches them off."""
    with serving_in_thread(plain_url, limits=Limits()) as server:
        kinesis = boto3.Session().client(  # no retries: botocore retries throttling
            "kinesis", endpoint_url=server.url, region_name=REGION, aws_access_key_id="t",
            aws_secret_access_key="t", config=Config(retries={"total_max_attempts": 1}))
        name = unique_name("s")
        kinesis.create_stream(StreamName=name, ShardCount=1)
        batch = [{"Data": b"x", "PartitionKey": "k"}] * 500
        codes = set()
        for _ in range(6):  # 3,000 records in about a second: over 1,000 records/s
            reply = kinesis.put_records(StreamName=name, Records=batch)
            codes |= {r.get("ErrorCode") for r in reply["Records"]}
        assert "ProvisionedThroughputExceededException" in codes
        it = kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                        ShardIteratorType="LATEST")["ShardIterator"]
        with pytest.raises(kinesis.exceptions.ProvisionedThroughputExceededException):
            for _ in range(12):  # over 5 reads a second
                it = kinesis.get_records(ShardIterator=it)["NextShardIterator"]
        kinesis.add_tags_to_stream(StreamName=name,
                                   Tags={"redcurrent:throughput-limits": "off"})
        for _ in range(10):
            kinesis.get_records(ShardIterator=it)
        kinesis.close()
