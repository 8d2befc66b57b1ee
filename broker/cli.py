"""The ``broker`` command: ``demo`` and the human ``queue`` commands.

Exit codes: 0 success, 1 the broker refused (an AWS error code is printed), 2 bad usage,
3 the runtime could not start (e.g. no redis-server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from broker import errors
from broker.config import Settings, environment
from broker.demo import run_demo_stack
from broker.embedded import RedisServerNotFound
from broker.runtime import redis_url
from broker.sdk import Client
from broker.serve import configure_logging, serve
from broker.types import MoveTask

RET_OK = 0
RET_BROKER_ERROR = 1
RET_USAGE = 2
RET_RUNTIME = 3


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", help="Redis to use (env BROKER_REDIS_URL); default: start "
                   "an embedded redis-server")
    p.add_argument("--data-dir", help="embedded Redis data directory (env BROKER_DATA_DIR; "
                   "default .redcurrent)")
    p.add_argument("--region", help="AWS region in ARNs (env BROKER_REGION; us-east-1)")
    p.add_argument("--account-id", help="account id (env BROKER_ACCOUNT_ID; 000000000000)")


def _pairs(values: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for v in values or ():
        key, sep, value = v.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {v!r}")
        out[key] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="broker", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="embedded Redis + a short tour of queue semantics")
    _common(demo)

    serve = sub.add_parser("serve", help="run the broker server (SQS wire protocols)")
    _common(serve)
    serve.add_argument("--host", help="address to listen on (env BROKER_HOST; 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env BROKER_PORT; 4566)")
    serve.add_argument("--credentials-file", help="JSON file of SigV4 access keys; turns "
                       "authentication on (env BROKER_CREDENTIALS_FILE)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                       help="log level; info logs one JSON line per request (env "
                       "BROKER_LOG_LEVEL; info)")

    queue = sub.add_parser("queue", help="manage queues and messages")
    qsub = queue.add_subparsers(dest="action", required=True)
    c = qsub.add_parser("create", help="create a queue (idempotent)")
    c.add_argument("name")
    c.add_argument("--attribute", "-a", action="append", metavar="NAME=VALUE",
                   help="SQS attribute, e.g. VisibilityTimeout=60 (repeatable)")
    c.add_argument("--tag", action="append", metavar="KEY=VALUE")
    ls = qsub.add_parser("list", help="list queues")
    ls.add_argument("--prefix", default="")
    s = qsub.add_parser("send", help="send a message")
    s.add_argument("name")
    s.add_argument("body")
    s.add_argument("--delay", type=int, help="DelaySeconds (0-900)")
    s.add_argument("--group-id", help="MessageGroupId (FIFO queues; fair-queue tenant)")
    s.add_argument("--dedup-id", help="MessageDeduplicationId (FIFO queues)")
    s.add_argument("--attribute", "-a", action="append", metavar="NAME=VALUE",
                   help="string message attribute (repeatable)")
    r = qsub.add_parser("receive", help="receive messages")
    r.add_argument("name")
    r.add_argument("--max", type=int, default=1, help="MaxNumberOfMessages (1-10)")
    r.add_argument("--wait", type=int, default=0, help="WaitTimeSeconds (0-20)")
    r.add_argument("--visibility-timeout", type=int)
    r.add_argument("--delete", action="store_true", help="delete what was received")
    r.add_argument("--json", action="store_true", help="one JSON object per message")
    d = qsub.add_parser("delete", help="delete a queue")
    d.add_argument("name")
    dm = qsub.add_parser("delete-message", help="delete one message by receipt handle")
    dm.add_argument("name")
    dm.add_argument("receipt_handle")
    p = qsub.add_parser("purge", help="delete every message of a queue")
    p.add_argument("name")
    a = qsub.add_parser("attributes", help="show (or --set) queue attributes")
    a.add_argument("name")
    a.add_argument("--set", action="append", metavar="NAME=VALUE")
    rd = qsub.add_parser("redrive", help="move a dead-letter queue's messages back to their "
                                          "source queues (or --to a queue)")
    rd.add_argument("name", help="the dead-letter queue")
    rd.add_argument("--to", help="destination queue (default: each message's source)")
    rd.add_argument("--rate", type=int, help="MaxNumberOfMessagesPerSecond (1-500)")
    rd.add_argument("--no-wait", action="store_true",
                    help="start the task and return (a broker server finishes it)")
    rs = qsub.add_parser("redrive-status", help="the dead-letter queue's recent move tasks")
    rs.add_argument("name")
    rc = qsub.add_parser("redrive-cancel", help="cancel a running move task")
    rc.add_argument("task_handle")
    for sp in (c, ls, s, r, d, dm, p, a, rd, rs, rc):
        _common(sp)

    topic = sub.add_parser("topic", help="manage topics, subscriptions and publishing")
    tsub = topic.add_subparsers(dest="action", required=True)
    tc = tsub.add_parser("create", help="create a topic (idempotent)")
    tc.add_argument("name")
    tc.add_argument("--attribute", "-a", action="append", metavar="NAME=VALUE",
                    help="SNS attribute, e.g. DisplayName=Orders (repeatable)")
    tl = tsub.add_parser("list", help="list topics")
    ts = tsub.add_parser("subscribe", help="subscribe a queue to a topic")
    ts.add_argument("name")
    ts.add_argument("queue", help="queue name or ARN")
    ts.add_argument("--raw", action="store_true", help="RawMessageDelivery")
    ts.add_argument("--filter", metavar="JSON", help="FilterPolicy")
    ts.add_argument("--filter-scope", choices=["MessageAttributes", "MessageBody"])
    tp = tsub.add_parser("publish", help="publish a message")
    tp.add_argument("name")
    tp.add_argument("message")
    tp.add_argument("--subject")
    tp.add_argument("--attribute", "-a", action="append", metavar="NAME=VALUE")
    tp.add_argument("--group-id", help="MessageGroupId")
    tp.add_argument("--dedup-id", help="MessageDeduplicationId (FIFO topics)")
    tu = tsub.add_parser("subscriptions", help="a topic's subscriptions")
    tu.add_argument("name")
    td = tsub.add_parser("delete", help="delete a topic")
    td.add_argument("name")
    for sp in (tc, tl, ts, tp, tu, td):
        _common(sp)

    stream = sub.add_parser("stream", help="manage Kinesis-style streams and their records")
    ssub = stream.add_subparsers(dest="action", required=True)
    sc = ssub.add_parser("create", help="create a stream")
    sc.add_argument("name")
    sc.add_argument("--shards", type=int, help="ShardCount (default 1; on demand 4)")
    sc.add_argument("--on-demand", action="store_true", help="StreamMode ON_DEMAND")
    sl = ssub.add_parser("list", help="list streams")
    sd = ssub.add_parser("describe", help="a stream and its shards")
    sd.add_argument("name")
    sp_ = ssub.add_parser("put", help="put one record")
    sp_.add_argument("name")
    sp_.add_argument("data")
    sp_.add_argument("--key", required=True, help="PartitionKey")
    sg = ssub.add_parser("get", help="print a shard's records")
    sg.add_argument("name")
    sg.add_argument("--shard", default="shardId-000000000000")
    sg.add_argument("--from", dest="start", default="TRIM_HORIZON",
                    choices=["TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER",
                             "AFTER_SEQUENCE_NUMBER"])
    sg.add_argument("--sequence-number")
    sg.add_argument("--limit", type=int, default=100)
    sr = ssub.add_parser("reshard", help="UpdateShardCount (uniform scaling)")
    sr.add_argument("name")
    sr.add_argument("--count", type=int, required=True, help="TargetShardCount")
    sx = ssub.add_parser("delete", help="delete a stream and its records")
    sx.add_argument("name")
    for sp in (sc, sl, sd, sp_, sg, sr, sx):
        _common(sp)
    return parser


async def _stream_command(args: argparse.Namespace, client: Client) -> None:
    out = sys.stdout.write
    if args.action == "create":
        created = await client.create_stream(args.name, args.shards, on_demand=args.on_demand)
        out(f"{created.arn}\n")
        return
    if args.action == "list":
        for info in await client.list_streams():
            out(f"{info.arn}  {info.status}  {info.mode}  {info.open_shards} open shards\n")
        return
    stream = client.stream(args.name)
    if args.action == "describe":
        info = await stream.describe()
        out(f"{info.arn}  {info.status}  {info.mode}  retention {info.retention_hours} h\n")
        for s in info.shards:
            state = "open" if s.open else f"closed at {s.ending_sequence}"
            parents = ",".join(p for p in (s.parent, s.adjacent_parent) if p) or "-"
            out(f"{s.shard_id}  hash keys {s.start_hash}-{s.end_hash}  parents {parents}  "
                f"{state}\n")
    elif args.action == "put":
        res = await stream.put(args.data, args.key)
        out(f"{res.shard_id}  {res.sequence_number}\n")
    elif args.action == "get":
        it = await stream.iterator(args.shard, args.start,
                                   sequence_number=args.sequence_number)
        page = await stream.get_records(it, args.limit)
        for r in page.records:
            out(f"{r.sequence_number}  {r.partition_key}  "
                f"{r.data.decode(errors='backslashreplace')}\n")
    elif args.action == "reshard":
        await stream.update_shard_count(args.count)
        out(f"{args.name}: {args.count} open shards\n")
    elif args.action == "delete":
        await stream.delete()
        out(f"deleted stream {args.name}\n")


async def _topic_command(args: argparse.Namespace, client: Client) -> None:
    out = sys.stdout.write
    if args.action == "create":
        topic = await client.create_topic(args.name, attributes=_pairs(args.attribute))
        out(f"{topic.arn}\n")
    elif args.action == "list":
        for t in await client.list_topics():
            out(f"{t.arn}\n")
    elif args.action == "subscribe":
        queue = args.queue if args.queue.startswith("arn:") else client.queue(args.queue)
        arn = await client.topic(args.name).subscribe_queue(
            queue, raw=args.raw, filter_policy=args.filter, filter_scope=args.filter_scope)
        out(f"{arn}\n")
    elif args.action == "publish":
        res = await client.topic(args.name).publish(
            args.message, subject=args.subject, attributes=_pairs(args.attribute),
            group_id=args.group_id, deduplication_id=args.dedup_id)
        seq = f", sequence {res.sequence_number}" if res.sequence_number else ""
        out(f"published {res.message_id}{seq}\n")
    elif args.action == "subscriptions":
        for s in await client.topic(args.name).subscriptions():
            out(f"{s['SubscriptionArn']}  {s['Protocol']}  {s['Endpoint']}\n")
    elif args.action == "delete":
        await client.topic(args.name).delete()
        out(f"deleted topic {args.name}\n")


async def _queue_command(args: argparse.Namespace, client: Client) -> None:
    out = sys.stdout.write
    if args.action == "create":
        q = await client.create_queue(args.name, attributes=_pairs(args.attribute),
                                      tags=_pairs(args.tag))
        out(f"{q.url}\n")
    elif args.action == "list":
        for q in await client.list_queues(args.prefix):
            out(f"{q.url}\n")
    elif args.action == "send":
        res = await client.queue(args.name).send(
            args.body, delay_s=args.delay, attributes=_pairs(args.attribute),
            group_id=args.group_id, deduplication_id=args.dedup_id)
        seq = f", sequence {res.sequence_number}" if res.sequence_number else ""
        out(f"sent {res.message_id} (md5 {res.md5_of_body}{seq})\n")
    elif args.action == "receive":
        q = client.queue(args.name)
        msgs = await q.receive(args.max, wait_time_s=args.wait,
                               visibility_timeout_s=args.visibility_timeout)
        for m in msgs:
            if args.json:
                out(json.dumps(_message_json(m)) + "\n")
            else:
                out(f"{m.id}  receives={m.receive_count}  {m.body}\n"
                    f"  receipt: {m.receipt_handle}\n")
            if args.delete:
                await m.delete()
        if not msgs and not args.json:
            out("no messages\n")
    elif args.action == "delete":
        await client.queue(args.name).delete_queue()
        out(f"deleted queue {args.name}\n")
    elif args.action == "delete-message":
        await client.queue(args.name).delete(args.receipt_handle)
        out("deleted\n")
    elif args.action == "purge":
        await client.queue(args.name).purge()
        out(f"purged {args.name}\n")
    elif args.action == "redrive":
        await _redrive(args, client)
    elif args.action == "redrive-status":
        for t in await client.list_message_move_tasks(client.queue(args.name)):
            out(_move_task_line(t) + "\n")
    elif args.action == "redrive-cancel":
        moved = await client.cancel_message_move_task(args.task_handle)
        out(f"cancelling; {moved} messages moved so far\n")
    elif args.action == "attributes":
        q = client.queue(args.name)
        if args.set:
            await q.set_attributes(_pairs(args.set))
        for k, v in sorted((await q.attributes()).items()):
            out(f"{k:40} {v}\n")


async def _redrive(args: argparse.Namespace, client: Client) -> None:
    dlq = client.queue(args.name)
    handle = await client.start_message_move_task(
        dlq, None if args.to is None else client.queue(args.to), max_per_second=args.rate)
    sys.stdout.write(f"task {handle}\n")
    if args.no_wait:
        return
    while True:  # the task runs in this process: stay until it ends
        [task, *_] = await client.list_message_move_tasks(dlq, max_results=1)
        if task.status not in ("RUNNING", "CANCELLING"):
            sys.stdout.write(_move_task_line(task) + "\n")
            return
        await asyncio.sleep(0.2)


def _move_task_line(t: MoveTask) -> str:
    dest = t.destination_arn or "(sources)"
    line = f"{t.status:10} moved {t.moved}/{t.to_move} -> {dest}"
    if t.failure_reason:
        line += f"  failure: {t.failure_reason}"
    if t.task_handle:
        line += f"\n  handle: {t.task_handle}"
    return line


def _message_json(m: Any) -> dict[str, Any]:
    return {"MessageId": m.id, "Body": m.body, "ReceiptHandle": m.receipt_handle,
            "Attributes": m.attributes,
            "MessageAttributes": {k: v.get("StringValue", "<binary>")
                                  for k, v in m.message_attributes.items()}}


async def _run(args: argparse.Namespace) -> int:
    settings = Settings.resolve(vars(args))
    if args.command == "serve":
        configure_logging(settings.log_level)
        try:
            await serve(settings, environment(), say=lambda s: print(s, flush=True))
        except (OSError, ValueError) as exc:
            print(f"broker: cannot start the server: {exc}", file=sys.stderr)
            return RET_USAGE if isinstance(exc, ValueError) else RET_RUNTIME
        return RET_OK
    if args.command == "demo":
        await run_demo_stack(settings, say=lambda s: print(s, flush=True))
        return RET_OK
    async with (
        redis_url(settings) as url,
        Client(url, account_id=settings.account_id, region=settings.region) as client,
    ):
        if args.command == "topic":
            await _topic_command(args, client)
        elif args.command == "stream":
            await _stream_command(args, client)
        else:
            await _queue_command(args, client)
    return RET_OK


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop where it is installed (the default), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    try:
        return run_async(_run(args))
    except argparse.ArgumentTypeError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return RET_USAGE
    except errors.BrokerError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return RET_BROKER_ERROR
    except RedisServerNotFound as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return RET_RUNTIME
    except KeyboardInterrupt:
        return 130
