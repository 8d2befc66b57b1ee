"""Loads the engine's Lua files as one Redis Function library and calls them.

Each ``lua/<name>.lua`` file is the body of one function, ``rc_<name>``, that runs with
``KEYS`` and ``ARGV`` exactly as a script would. Its header documents KEYS, ARGV and the
reply; a ``-- flags: allow-oom`` (or ``no-writes``) line sets the function's flags, so an
operation that only frees memory still runs when Redis is at ``maxmemory``.
``lua/_prelude.lua`` holds helpers shared by all functions.

The library is loaded once at start-up (``FUNCTION LOAD REPLACE`` on every primary) and
re-loaded if Redis lost it (restart without persistence, ``FUNCTION FLUSH``, failover to
a node that never had it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any, TypeAlias, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import OutOfMemoryError, ResponseError

from broker import errors

LIBRARY = "redcurrent"
_FLAGS = re.compile(r"^--\s*flags:\s*(.*)$", re.MULTILINE)
#: prefix of error replies raised by our functions: "RC <Code> <message>"
ERROR_PREFIX = "RC "

AnyRedis: TypeAlias = Redis | RedisCluster


def build_library() -> tuple[str, list[str]]:
    """Return the library source and the names of the functions it registers."""
    lua_dir = resources.files("broker.engine") / "lua"
    files = sorted((p for p in lua_dir.iterdir() if p.name.endswith(".lua")),
                   key=lambda p: p.name)
    prelude = next(p.read_text() for p in files if p.name == "_prelude.lua")
    parts = [f"#!lua name={LIBRARY}", prelude]
    names = []
    for path in files:
        if path.name.startswith("_"):
            continue
        name = path.name[: -len(".lua")]
        body = path.read_text()
        m = _FLAGS.search(body)
        flags = ", ".join(f"'{f.strip()}'" for f in m.group(1).split(",")) if m else ""
        parts.append(
            f"redis.register_function{{function_name='rc_{name}', flags={{{flags}}},\n"
            f"callback=function(KEYS, ARGV)\n{body}\nend}}"
        )
        names.append(name)
    source = "\n".join(parts)
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    # The digest lets operators see which build is loaded (FUNCTION LIST).
    source += f"\nredis.register_function('rc_version', function() return '{digest}' end)\n"
    return source, names


class Scripts:
    """Calls the engine's functions by name; owns the library source."""

    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis
        self._source, self.names = build_library()

    async def load(self) -> None:
        """Load (or replace) the library on every primary."""
        await self._redis.function_load(self._source, replace=True)

    async def call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run ``rc_<name>``; translate our error replies into ``BrokerError``s."""
        try:
            try:
                return await self._redis.fcall(f"rc_{name}", len(keys), *keys, *args)
            except ResponseError as exc:
                if "Function not found" not in str(exc):
                    raise
                await self.load()
                return await self._redis.fcall(f"rc_{name}", len(keys), *keys, *args)
        except ResponseError as exc:
            raise translate(exc) from None


def translate(exc: ResponseError) -> Exception:
    """Map an ``RC <Code> <message>`` error reply to its ``BrokerError``; re-raise others."""
    text = str(exc)
    if text.startswith(ERROR_PREFIX):
        code, _, message = text[len(ERROR_PREFIX):].partition(" ")
        return errors.from_code(code, message)
    if isinstance(exc, OutOfMemoryError) or text.startswith("OOM"):
        return errors.ServiceUnavailable(
            "The backing Redis is out of memory (maxmemory reached); nothing was written."
        )
    return cast(Exception, exc)
