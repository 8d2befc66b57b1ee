"""``broker serve``: the broker server as a long-running process.

Starts the embedded Redis when no URL is configured, loads the credentials (SigV4 is on
when there are any), serves until SIGINT/SIGTERM, then shuts down gracefully: stop
accepting, let in-flight requests finish, close Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Mapping

from broker.config import Settings
from broker.engine import Engine, Identity
from broker.runtime import redis_url
from broker.server.access_log import LOGGER as ACCESS_LOGGER
from broker.server.app import BrokerServer
from broker.server.credentials import CredentialStore


def load_credentials(settings: Settings, env: Mapping[str, str]) -> CredentialStore:
    """The credentials file (when configured) merged with the ``BROKER_*`` key variables.

    Raises ``OSError`` (unreadable file) or ``ValueError`` (bad entries; the message names
    the entry and field, never a secret)."""
    store = CredentialStore.from_env(env, default_account=settings.account_id)
    if settings.credentials_file is not None:
        store = CredentialStore.from_file(settings.credentials_file,
                                          default_account=settings.account_id).merged(store)
    return store


def configure_logging(level: str) -> None:
    """Logs to stderr; the access log as bare JSON lines (each carries its own time)."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    access = logging.getLogger(ACCESS_LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False


async def serve(settings: Settings, env: Mapping[str, str], *,
                say: Callable[[str], None] = print, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when none is given)."""
    credentials = load_credentials(settings, env)
    stop = stop or _stop_on_signals()
    host = "localhost" if settings.host in ("0.0.0.0", "::", "127.0.0.1") else settings.host
    identity = Identity(region=settings.region, account_id=settings.account_id,
                        endpoint_url=f"http://{host}:{settings.port}")
    async with (
        redis_url(settings) as url,
        Engine.from_url(url, identity=identity) as engine,
        BrokerServer(engine, settings, credentials=credentials) as server,
    ):
        auth = (f"SigV4 on ({len(credentials)} access keys)" if credentials
                else "SigV4 off (any credentials accepted)")
        say(f"broker: serving {server.url} (redis {_redact(url)}; {auth})")
        await stop.wait()
        say("broker: shutting down")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def _redact(url: str) -> str:
    """A Redis URL without its password."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}" if user else f"{scheme}{sep}***@{host}"
