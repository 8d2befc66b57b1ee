"""The worker framework in one process: handlers of every kind, batch handlers with
partial failures, idempotency, middleware order, metrics over HTTP, trace propagation
producer -> SNS -> SQS -> handler, plain functions in threads, ``workers check``, and
registration errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from broker.engine.stream_types import Record
from broker.sdk import Client, Message
from tests.conftest import TEST_LIMITS
from tests.workers.kcl_helpers import FAST, eventually
from workers import App, HandlerContext, Middleware, Notification, RetryPolicy, Worker, tracing
from workers.cli import check


@contextlib.asynccontextmanager
async def working(app: App, url: str, **kwargs: Any) -> AsyncIterator[Worker]:
    worker = Worker(app, url=url, grace_s=5, **kwargs)
    task = asyncio.create_task(worker.run(handle_signals=False))
    try:
        await eventually(lambda: bool(worker.runners or worker.consumers) or task.done(),
                         what="worker started")
        if task.done():
            task.result()
        yield worker
    finally:
        worker.stop()
        await task


async def empty(client: Client, name: str) -> bool:
    attrs = await client.queue(name).attributes()
    return attrs["ApproximateNumberOfMessages"] == "0" and \
        attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


async def test_queue_handler_processes_and_deletes(redis_url: str) -> None:
    seen: list[str] = []
    app = App(name="t")

    @app.queue("orders", concurrency=5)
    async def handle(message: Message) -> None:
        seen.append(message.body)

    async with Client(redis_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("orders")
        await q.send_batch([f"order {i}" for i in range(10)])
        async with working(app, redis_url):
            await eventually(lambda: len(seen) == 10, what="10 handled")
            await asyncio.sleep(0.1)
        assert sorted(seen) == sorted(f"order {i}" for i in range(10))
        assert await empty(client, "orders")


async def test_batch_handler_reports_partial_failures(plain_url: str) -> None:
    calls: list[list[str]] = []
    app = App(name="t")

    @app.queue("batched", batch_size=10, retry=RetryPolicy(base_s=1, max_delay_s=1))
    async def handle(messages: list[Message]) -> list[Message]:
        calls.append([m.body for m in messages])
        return [m for m in messages if m.body == "bad" and m.receive_count < 2]

    async with Client(plain_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("batched")
        await q.send_batch(["a", "b", "bad", "c"])
        async with working(app, plain_url):
            await eventually(lambda: sum(len(c) for c in calls) == 5, what="retried")
            await asyncio.sleep(0.2)
        assert sorted(b for c in calls for b in c) == ["a", "b", "bad", "bad", "c"]
        assert calls[-1] == ["bad"]
        assert await empty(client, "batched")


async def test_idempotency_skips_what_was_processed(plain_url: str) -> None:
    seen: list[str] = []
    app = App(name="t")

    @app.queue("payments", idempotency_key=lambda m: m.json()["payment"])
    async def handle(message: Message) -> None:
        seen.append(message.body)

    async with Client(plain_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("payments")
        await q.send_json({"payment": "p-1", "n": 1})
        async with working(app, plain_url):
            await eventually(lambda: len(seen) == 1, what="first")
            await q.send_json({"payment": "p-1", "n": 2})  # the same payment again
            await q.send_json({"payment": "p-2", "n": 3})
            await eventually(lambda: len(seen) == 2, what="second")
            await asyncio.sleep(0.3)
            assert await empty(client, "payments")  # the duplicate was deleted unhandled
        assert [json.loads(b)["n"] for b in seen] == [1, 3]


class Recording(Middleware):
    def __init__(self, name: str, out: list[str]) -> None:
        self.name, self.out = name, out

    async def before(self, ctx: HandlerContext) -> None:
        self.out.append(f"{self.name}.before")

    async def after(self, ctx: HandlerContext) -> None:
        self.out.append(f"{self.name}.after")

    async def error(self, ctx: HandlerContext, exc: BaseException) -> None:
        self.out.append(f"{self.name}.error {exc}")


async def test_middleware_order_and_metrics_endpoint(plain_url: str) -> None:
    order: list[str] = []
    app = App(name="t", middleware=[Recording("a", order)])
    app.add_middleware(Recording("b", order))
    done = asyncio.Event()

    @app.queue("mw", retry=RetryPolicy(base_s=1, max_delay_s=1))
    async def handle(message: Message) -> None:
        order.append("handler")
        if message.receive_count == 1:
            raise ValueError("first try")
        done.set()

    async with Client(plain_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("mw")
        await q.send("x")
        async with working(app, plain_url, metrics_port=0) as worker:
            await asyncio.wait_for(done.wait(), 10)
            await asyncio.sleep(0.1)
            assert worker.metrics_url is not None
            text = await asyncio.to_thread(
                lambda: urllib.request.urlopen(worker.metrics_url).read().decode())
        assert order == ["a.before", "b.before", "handler", "b.error first try",
                         "a.error first try", "a.before", "b.before", "handler", "b.after",
                         "a.after"]
        label = f'handler="{app.handlers[0].name}",source="queue:mw"'
        for metric, value in (("workers_messages_processed_total", "1.0"),
                              ("workers_messages_failed_total", "1.0"),
                              ("workers_messages_retried_total", "1.0"),
                              ("workers_messages_in_flight", "0.0")):
            assert f"{metric}{{{label}}} {value}" in text, metric
        assert f"workers_handler_duration_seconds_count{{{label}}} 2.0" in text
        assert 'workers_messages_waiting{queue="mw"}' in text


async def test_topic_handler_with_filter_and_trace_propagation(plain_url: str) -> None:
    got: list[tuple[str, str | None, str]] = []
    threads: list[str] = []
    app = App(name="billing")

    @app.topic("events", filter_policy={"kind": ["invoice"]})
    def on_invoice(n: Notification) -> None:  # a plain function: in the thread pool
        trace = tracing.current_trace()
        threads.append(threading.current_thread().name)
        got.append((n.message, n.attributes.get("kind"), trace.trace_id if trace else ""))

    async with Client(plain_url, limits=TEST_LIMITS) as client:
        async with working(app, plain_url):
            topic = client.topic("events")  # created by the worker
            attrs = tracing.message_attributes(kind="invoice")
            sent_trace = tracing.TraceContext.parse(attrs["traceparent"])
            await topic.publish("invoice 1", attributes=attrs)
            await topic.publish("ignored", attributes={"kind": "receipt"})
            await eventually(lambda: len(got) == 1, what="the invoice")
            await asyncio.sleep(0.3)
        assert sent_trace is not None
        assert got == [("invoice 1", "invoice", sent_trace.trace_id)]
        assert threads[0].startswith("workers")
        subs = await client.topic("events").subscriptions()
        assert [s["Endpoint"].rsplit(":", 1)[1] for s in subs] == ["billing-events"]


async def test_stream_handler_checkpoints_batches(plain_url: str) -> None:
    seen: list[bytes] = []
    app = App(name="t")

    @app.stream("clicks", application="counter", config=FAST)
    async def on_click(record: Record) -> None:
        seen.append(record.data)

    async with Client(plain_url, limits=TEST_LIMITS) as client:
        stream = await client.create_stream("clicks", 2)
        await stream.put_batch((f"c{i}", f"k{i}") for i in range(50))
        async with working(app, plain_url):
            await eventually(lambda: len(seen) == 50, what="records")
        state = await client.lease_table("counter", "clicks").read(1500)
        assert all(lease.checkpoint.isdigit() for lease in state.leases.values())
        assert all(lease.owner == "" for lease in state.leases.values())  # released


async def test_no_retry_exceptions_go_to_the_dlq_at_once(plain_url: str) -> None:
    app = App(name="t")
    attempts: list[int] = []

    @app.queue("strict", retry=RetryPolicy(no_retry=(KeyError,)))
    async def handle(message: Message) -> None:
        attempts.append(message.receive_count)
        raise KeyError("not retriable")

    async with Client(plain_url, limits=TEST_LIMITS) as client:
        dlq = await client.create_queue("strict-dlq")
        q = await client.create_queue("strict", dead_letter_queue=(dlq, 5))
        await q.send("poison", attributes={"origin": "test"})
        async with working(app, plain_url):
            await eventually(lambda: bool(attempts), what="one attempt")
            await asyncio.sleep(0.3)
        [dead] = await dlq.receive(1, wait_time_s=2)
        assert dead.body == "poison" and dead.message_attributes["origin"]["StringValue"] \
            == "test"
        assert attempts == [1] and await empty(client, "strict")


async def test_check_and_registration_errors(plain_url: str) -> None:
    app = App(plain_url, name="t")

    @app.queue("missing")
    async def handle(message: Message) -> None: ...

    problems = await check(app, None)
    assert problems == [f"{app.handlers[0].name}: queue 'missing' does not exist"]
    async with Client(plain_url) as client:
        await client.create_queue("missing")
    assert await check(app, None) == []
    assert any("cannot" in p for p in await check(app, "redis://127.0.0.1:1"))
    with pytest.raises(ValueError, match="exactly one argument"):
        app.queue("q")(lambda a, b: None)
    with pytest.raises(ValueError, match="batch_size must be 1-10"):
        app.queue("q", batch_size=11)(lambda m: None)
    with pytest.raises(ValueError, match="no Redis URL"):
        Worker(App())


async def test_aws_trace_header_structured_log_and_otel_span(
        plain_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel_trace.set_tracer_provider(provider)
    seen: list[str] = []
    app = App(name="t")

    @app.queue("traced")
    async def handle(message: Message) -> None:
        trace = tracing.current_trace()
        seen.append(trace.trace_id if trace else "")

    async with Client(plain_url, limits=TEST_LIMITS) as client:
        q = await client.create_queue("traced")
        header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        await q.send("with an AWS trace header", trace_header=header)
        await q.send("without any")
        with caplog.at_level(logging.INFO, logger="workers.handled"):
            async with working(app, plain_url):
                await eventually(lambda: len(seen) == 2, what="both")
                await asyncio.sleep(0.1)
    assert "5759e988bd862e3fe1be46a994272793" in seen
    other = next(t for t in seen if t != "5759e988bd862e3fe1be46a994272793")
    assert len(other) == 32  # a new trace for the message that came without one
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "workers.handled"]
    assert [line["status"] for line in lines] == ["ok", "ok"]
    assert all(line["handler"] == app.handlers[0].name and line["source"] == "queue:traced"
               for line in lines)
    spans = exporter.get_finished_spans()
    assert len(spans) == 2 and all(s.kind == otel_trace.SpanKind.CONSUMER for s in spans)
    linked = [s for s in spans if s.parent is not None]
    assert [format(s.context.trace_id, "032x") for s in linked] == [
        "5759e988bd862e3fe1be46a994272793"]
    assert format(linked[0].parent.span_id, "016x") == "53995c3f42cd8ad8"


def test_workers_check_command(plain_url: str, tmp_path: Path) -> None:
    app_file = tmp_path / "checked_app.py"
    app_file.write_text(
        "from workers import App\n"
        "app = App(name='c')\n"
        "@app.queue('never-created')\n"
        "async def handle(message):\n"
        "    pass\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "BROKER_REDIS_URL": plain_url}
    r = subprocess.run([sys.executable, "-m", "workers", "check", "checked_app:app"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and "queue 'never-created' does not exist" in r.stderr
    r = subprocess.run([sys.executable, "-m", "workers", "check", "nowhere:app"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and "cannot import 'nowhere'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "workers", "run", "checked_app:app"],
                       capture_output=True, text=True, timeout=60,
                       env={**env, "BROKER_REDIS_URL": ""})
    assert r.returncode == 2 and "no Redis URL" in r.stderr
