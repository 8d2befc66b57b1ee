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


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None = None
    """Redis to use; None starts an embedded redis-server."""
    data_dir: Path = DEFAULT_DATA_DIR
    """The embedded Redis's data directory (AOF)."""
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID

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
        )
