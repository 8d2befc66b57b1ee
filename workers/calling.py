"""How a handler is called: ``async def`` handlers on the event loop, plain functions in
the worker's thread pool, with the caller's context (so ``current_trace()`` works in
threads too)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class HandlerCall:
    def __init__(self, func: Callable[..., Any], pool: ThreadPoolExecutor) -> None:
        self._func = func
        self._pool = pool
        self._async = inspect.iscoroutinefunction(func)

    async def __call__(self, arg: Any) -> Any:
        if self._async:
            return await self._func(arg)
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(ctx.run, self._func, arg))
