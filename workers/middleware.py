"""Middleware: hooks around every handler call (before / after / error)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class HandlerContext:
    """One handler call: what it got and what middleware noted about it."""

    handler: str
    """The handler's name (its function's qualified name)."""
    source: str
    """``queue:<name>``, ``topic:<name>`` or ``stream:<name>``."""
    items: Sequence[Any]
    """The messages (or stream records) of this call."""
    attempt: int = 1
    """The message's receive count (the first message's, for a batch)."""
    started: float = field(default_factory=time.perf_counter)
    state: dict[str, Any] = field(default_factory=dict)
    """Free for middleware to keep things between its hooks."""


class Middleware:
    """Subclass and override what you need. ``before`` runs in registration order,
    ``after`` and ``error`` in reverse. An exception in a hook counts as the handler's."""

    async def before(self, ctx: HandlerContext) -> None:
        """Before the handler runs."""

    async def after(self, ctx: HandlerContext) -> None:
        """After the handler returned."""

    async def error(self, ctx: HandlerContext, exc: BaseException) -> None:
        """After the handler raised ``exc`` (the message will be retried or dropped)."""


class SyncMiddleware(Middleware):
    """Middleware whose hooks never wait (the built-in ones): the chain calls the
    ``*_now`` methods directly, which saves three coroutines per message each."""

    def before_now(self, ctx: HandlerContext) -> None: ...

    def after_now(self, ctx: HandlerContext) -> None: ...

    def error_now(self, ctx: HandlerContext, exc: BaseException) -> None: ...

    async def before(self, ctx: HandlerContext) -> None:
        self.before_now(ctx)

    async def after(self, ctx: HandlerContext) -> None:
        self.after_now(ctx)

    async def error(self, ctx: HandlerContext, exc: BaseException) -> None:
        self.error_now(ctx, exc)


class Chain:
    def __init__(self, middleware: Sequence[Middleware]) -> None:
        self._mw = list(middleware)
        self._rev = self._mw[::-1]

    async def before(self, ctx: HandlerContext) -> None:
        for m in self._mw:
            if isinstance(m, SyncMiddleware):
                m.before_now(ctx)
            else:
                await m.before(ctx)

    async def after(self, ctx: HandlerContext) -> None:
        for m in self._rev:
            if isinstance(m, SyncMiddleware):
                m.after_now(ctx)
            else:
                await m.after(ctx)

    async def error(self, ctx: HandlerContext, exc: BaseException) -> None:
        for m in self._rev:
            if isinstance(m, SyncMiddleware):
                m.error_now(ctx, exc)
            else:
                await m.error(ctx, exc)
