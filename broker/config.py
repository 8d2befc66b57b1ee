"""Settings for the ``broker`` command: flags, then ``BROKER_*`` environment variables,
then defaults. The environment is read here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from broker.engine.settings import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

#: where the embedded Redis keeps its data
DEFAULT_DATA_DIR = Path(".redcurrent")
#: the port LocalStack and the AWS tooling's examples use
DEFAULT_PORT = 4566
#: largest request body accepted: 1 MiB of non-ASCII text escaped as JSON ``\uXXXX`` (or
#: percent-encoded in a form) is about 3 MiB, plus the rest of the request
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: most connections served at once; more wait in the listen backlog
DEFAULT_MAX_CONNECTIONS = 4096
#: a client must send its request headers within this many seconds
DEFAULT_HEADER_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None = None
    """Redis to use; None starts an embedded redis-server."""
    data_dir: Path = DEFAULT_DATA_DIR
    """The embedded Redis's data directory (AOF)."""
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    host: str = "127.0.0.1"
    """Address the server listens on."""
    port: int = DEFAULT_PORT
    credentials_file: Path | None = None
    """JSON file of SigV4 credentials; with none (and no BROKER_ACCESS_KEY_ID), requests
    are not authenticated."""
    log_level: str = "info"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    sns_auto_confirm: tuple[str, ...] = ()
    """HTTP/S endpoint URL prefixes subscribed without the confirmation handshake
    (``BROKER_SNS_AUTO_CONFIRM``, comma-separated): trusted, internal endpoints."""

    @classmethod
    def resolve(cls, flags: Mapping[str, object], env: Mapping[str, str] | None = None
                ) -> Settings:
        """Flags win over ``BROKER_<NAME>`` variables, which win over defaults."""
        env = os.environ if env is None else env

        def pick(name: str, default: object) -> object:
            value = flags.get(name)
            if value is not None:
                return value
            return env.get(f"BROKER_{name.upper()}", default)

        return cls(
            redis_url=pick("redis_url", None) or None,  # type: ignore[arg-type]
            data_dir=Path(str(pick("data_dir", DEFAULT_DATA_DIR))),
            region=str(pick("region", DEFAULT_REGION)),
            account_id=str(pick("account_id", DEFAULT_ACCOUNT_ID)),
            host=str(pick("host", "127.0.0.1")),
            port=int(str(pick("port", DEFAULT_PORT))),
            credentials_file=Path(str(cf)) if (cf := pick("credentials_file", None)) else None,
            log_level=str(pick("log_level", "info")),
            max_body_bytes=int(str(pick("max_body_bytes", DEFAULT_MAX_BODY_BYTES))),
            max_connections=int(str(pick("max_connections", DEFAULT_MAX_CONNECTIONS))),
            header_timeout_s=float(str(pick("header_timeout_s", DEFAULT_HEADER_TIMEOUT_S))),
            sns_auto_confirm=tuple(p.strip() for p in str(pick("sns_auto_confirm", "")).split(",")
                                   if p.strip()),
        )


def environment() -> Mapping[str, str]:
    """The process environment (read here and nowhere else)."""
    return os.environ
