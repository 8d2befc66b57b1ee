"""Engine settings: AWS identity and the quotas AWS enforces, as configurable limits."""

from __future__ import annotations

from dataclasses import dataclass

from broker.types import QueueRef

#: AWS's default region and the account id local tools use
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "000000000000"


@dataclass(frozen=True, slots=True)
class Limits:
    """Quotas, named as AWS documents them; each answers with AWS's error when hit."""

    max_inflight_messages: int = 120_000
    """In-flight messages per standard queue (OverLimit beyond)."""
    max_queues_per_account: int = 1_000_000
    """Queues one account may hold (OverLimit beyond)."""
    max_tags_per_queue: int = 50
    """Tags on one queue."""
    purge_interval_ms: int = 60_000
    """One PurgeQueue per queue per this many ms (PurgeQueueInProgress)."""
    deleted_queue_cooldown_ms: int = 60_000
    """A deleted queue's name is reusable after this many ms (QueueDeletedRecently)."""
    fifo_deduplication_interval_ms: int = 300_000
    """How long a FIFO queue remembers a MessageDeduplicationId."""
    fifo_receive_attempt_interval_ms: int = 300_000
    """How long a FIFO queue remembers a ReceiveRequestAttemptId."""
    dlq_move_marker_ttl_ms: int = 900_000
    """How long a dead-letter move is remembered, so a retried move is not duplicated."""
    max_shards_per_account: int = 20_000
    """Open shards one account may hold across its streams (LimitExceededException)."""
    max_on_demand_streams: int = 50
    """On-demand streams one account may hold (LimitExceededException)."""
    max_tags_per_stream: int = 50
    """Tags on one stream."""
    stream_throughput_limits: bool = True
    """Throttle provisioned shards as Kinesis does (writes 1 MiB/s and 1,000 records/s,
    reads 5 calls/s and 2 MiB/s: ProvisionedThroughputExceededException). A stream
    tagged ``redcurrent:throughput-limits=off`` is never throttled, nor is an on-demand
    stream."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Where ARNs and queue URLs say the queues live."""

    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    endpoint_url: str = "http://localhost:4566"
    """Where clients reach the broker server (SNS envelopes' UnsubscribeURL)."""

    def queue_arn(self, account: str, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{account}:{name}"

    @staticmethod
    def queue_from_arn(arn: str) -> QueueRef | None:
        """The queue an SQS queue ARN names (any region), or None for anything else."""
        parts = arn.split(":")
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"] or not parts[4] \
                or not parts[5]:
            return None
        return QueueRef(parts[4], parts[5])
