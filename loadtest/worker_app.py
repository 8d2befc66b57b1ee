"""The no-op worker app of ``python -m loadtest workers``."""

from __future__ import annotations

from broker.sdk import Message
from workers import App

app = App(name="loadtest")


@app.queue("lt-workers")
async def noop(message: Message) -> None:
    """Does nothing: the benchmark measures the framework."""
