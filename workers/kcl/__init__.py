"""A KCL-style stream consumer: workers of one application share a stream's shards
through leases in Redis, checkpoint their progress, and follow resharding lineage.

    class Printer(RecordProcessor):
        async def process_records(self, records, checkpointer, millis_behind_latest):
            for r in records:
                print(r.data)
            await checkpointer.checkpoint()

    async with Client("redis://localhost:6379") as client:
        await StreamConsumer(client, "clicks", "printer", Printer).run(handle_signals=True)
"""

from broker.engine.leases import AT_TIMESTAMP, LATEST, SHARD_END, TRIM_HORIZON
from workers.kcl.checkpointer import Checkpointer
from workers.kcl.config import POLLING, PUSH, ConsumerConfig
from workers.kcl.consumer import StreamConsumer
from workers.kcl.errors import InvalidCheckpointError, KclError, LeaseLostError
from workers.kcl.processor import RecordProcessor, ShardInfo

__all__ = [
    "AT_TIMESTAMP", "LATEST", "POLLING", "PUSH", "SHARD_END", "TRIM_HORIZON", "Checkpointer",
    "ConsumerConfig", "InvalidCheckpointError", "KclError", "LeaseLostError",
    "RecordProcessor", "ShardInfo", "StreamConsumer",
]
