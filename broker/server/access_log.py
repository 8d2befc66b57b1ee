"""The access log: one JSON object per request, written in batches.

A ``logging`` call per request would cost more than the rest of a SendMessage, so
requests are formatted into lines as they finish and handed to the ``broker.access``
logger together, at most every ``FLUSH_INTERVAL_S`` (or when ``MAX_BUFFERED`` lines
wait). Each line carries its own timestamp; ``broker serve`` prints the logger's
messages bare (one JSON object per line). What is logged: time, request id, remote
address, service, protocol, action, account, HTTP status, error code, milliseconds.
Never bodies, receipt handles, signatures or keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

LOGGER = "broker.access"
FLUSH_INTERVAL_S = 0.2
MAX_BUFFERED = 1000
MAX_QUOTED = 4096


class AccessLog:
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(LOGGER)
        self._lines: list[str] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._quoted: dict[str | None, str] = {}

    @property
    def enabled(self) -> bool:
        return self._logger.isEnabledFor(logging.INFO)

    def record(self, *, request_id: str, remote: str | None, service: str, protocol: str,
               action: str, account: str, status: int, code: str, seconds: float) -> None:
        # every value is ours or a validated name, except remote and account: quoted
        self._lines.append(
            f'{{"ts":{time.time():.3f},"request_id":"{request_id}",'
            f'"remote":{self._quote(remote)},"service":"{service}","protocol":"{protocol}",'
            f'"action":"{action}","account":{self._quote(account)},"status":{status},'
            f'"code":"{code}","ms":{seconds * 1000:.3f}}}')
        if len(self._lines) >= MAX_BUFFERED:
            self.flush()
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S,
                                                                       self.flush)

    def _quote(self, value: str | None) -> str:
        """``json.dumps(value)``, remembered: a server sees few distinct peers/accounts."""
        quoted = self._quoted.get(value)
        if quoted is None:
            if len(self._quoted) >= MAX_QUOTED:
                self._quoted.clear()
            quoted = self._quoted[value] = json.dumps(value)
        return quoted

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._lines:
            lines, self._lines = self._lines, []
            self._logger.info("\n".join(lines))
