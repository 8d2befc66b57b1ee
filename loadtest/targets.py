"""What ``python -m loadtest run`` drives: one interface over the SDK in-process
(``redis://``), the SDK over HTTP (``http://``) and any AWS-compatible endpoint through
boto3 (``aws+http://host:port``, or ``aws://`` for AWS itself). Queues, topics and
streams are named by strings (a queue URL or name, a topic ARN, a stream name)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True, slots=True)
class OutMessage:
    body: str
    group_id: str | None = None
    deduplication_id: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


class Target(Protocol):
    """One broker, as the harness sees it. Batch calls return one error code per entry
    (None when the entry was accepted); a raised exception is an unknown outcome."""

    label: str
    kind: str
    """``sdk`` (in-process), ``sdk-http`` or ``aws``"""

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def create_queue(self, name: str, fifo: bool, visibility_timeout_s: int) -> str: ...
    async def delete_queue(self, queue: str) -> None: ...
    async def send_batch(self, queue: str, entries: Sequence[OutMessage]
                         ) -> list[str | None]: ...
    async def receive(self, queue: str, max_messages: int, wait_s: int
                      ) -> list[tuple[str, str]]: ...
    async def delete_batch(self, queue: str, receipts: Sequence[str]) -> list[str | None]: ...
    async def depth(self, queue: str) -> int: ...

    async def create_topic(self, name: str) -> str: ...
    async def delete_topic(self, topic: str) -> None: ...
    async def subscribe(self, topic: str, queue: str, filter_policy: str | None) -> None: ...
    async def publish_batch(self, topic: str, entries: Sequence[OutMessage]
                            ) -> list[str | None]: ...

    async def create_stream(self, name: str, shards: int) -> str: ...
    async def delete_stream(self, stream: str) -> None: ...
    async def put_records(self, stream: str, records: Sequence[tuple[bytes, str]]
                          ) -> list[str | None]: ...
    async def shard_ids(self, stream: str) -> list[str]: ...
    async def iterator(self, stream: str, shard_id: str) -> str: ...
    async def get_records(self, iterator: str, limit: int
                          ) -> tuple[list[bytes], str | None]: ...


def error_code(exc: BaseException) -> str:
    """The AWS error code of an exception from either client, else its class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    return type(exc).__name__


def redact(url: str) -> str:
    """``url`` without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_target(url: str, pool: int) -> Target:
    """The target of a URL; ``pool``: the concurrent calls it must carry."""
    scheme = urlsplit(url).scheme
    if scheme in ("aws", "aws+http", "aws+https"):
        from loadtest.target_aws import AwsTarget

        return AwsTarget(url, pool)
    if scheme in ("redis", "rediss", "redis+cluster", "unix", "http", "https"):
        from loadtest.target_sdk import SdkTarget

        return SdkTarget(url)
    raise ValueError(f"--target {redact(url)}: use redis://, redis+cluster://, http(s):// "
                     f"(a broker server, through the SDK) or aws+http(s)://HOST:PORT / "
                     f"aws:// (boto3)")
