"""Workload files (YAML) of ``python -m loadtest run``: what to create, how hard to
produce, how many consume. See ``loadtest/README.md`` ("Workloads") for every key."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("queue", "fifo", "topic", "stream")
#: the message header the harness writes into every body (see ``loadtest.payload``)
MIN_MESSAGE_SIZE = 64
MAX_MESSAGE_SIZE = 256 * 1024
#: Kinesis allows 1 MiB per record; SQS and SNS 256 KiB per message
MAX_RECORD_SIZE = 1024 * 1024


class WorkloadError(ValueError):
    """A workload file that cannot run, with the key and what is wrong."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """Message sizes: ``fixed`` bytes, ``uniform`` between min and max, or ``weighted``
    choices."""

    kind: str = "fixed"
    fixed: int = 1024
    low: int = 0
    high: int = 0
    choices: tuple[tuple[int, float], ...] = ()

    def sampler(self, seed: int) -> random.Random | None:
        return None if self.kind == "fixed" else random.Random(seed)

    def draw(self, rng: random.Random | None) -> int:
        if rng is None or self.kind == "fixed":
            return self.fixed
        if self.kind == "uniform":
            return rng.randint(self.low, self.high)
        sizes, weights = zip(*self.choices, strict=True)
        return int(rng.choices(sizes, weights)[0])

    @property
    def largest(self) -> int:
        if self.kind == "uniform":
            return self.high
        if self.kind == "weighted":
            return max(s for s, _ in self.choices)
        return self.fixed

    def describe(self) -> Any:
        if self.kind == "fixed":
            return self.fixed
        if self.kind == "uniform":
            return {"distribution": "uniform", "min": self.low, "max": self.high}
        return {"distribution": "weighted", "sizes": {str(s): w for s, w in self.choices}}


@dataclass(frozen=True, slots=True)
class Subscription:
    """A queue subscribed to the topic, with its filter policy (JSON text) or none."""

    filter_policy: str | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    kind: str
    producers: int = 1
    consumers: int = 1
    sizes: Sizes = field(default_factory=Sizes)
    rate: float = 0.0
    """messages (records) per second over all producers; 0 = as fast as possible"""
    duration_s: float = 30.0
    warmup_s: float = 5.0
    drain_timeout_s: float = 60.0
    batch_size: int = 10
    receive_batch: int = 10
    wait_time_s: int = 1
    visibility_timeout_s: int = 30
    groups: int = 0
    subscriptions: tuple[Subscription, ...] = ()
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    shards: int = 0
    partition_keys: int = 1000
    checkpoint_every: int = 1000
    description: str = ""

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.duration_s

    def describe(self) -> dict[str, Any]:
        """The normalised workload, as the report shows it."""
        out = asdict(self)
        out["sizes"] = self.sizes.describe()
        out["subscriptions"] = [s.filter_policy for s in self.subscriptions]
        out["attributes"] = {k: list(v) for k, v in self.attributes}
        return out

    def attribute_combinations(self) -> list[dict[str, str]]:
        """Every combination of the attribute values, in a fixed order: message ``i``
        carries combination ``i mod len``."""
        combos: list[dict[str, str]] = [{}]
        for key, values in self.attributes:
            combos = [{**c, key: v} for c in combos for v in values]
        return combos


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_KEYS = {"name", "kind", "description", "producers", "consumers", "message_size", "rate",
         "duration", "warmup", "drain_timeout", "batch_size", "receive_batch",
         "wait_time", "visibility_timeout", "groups", "subscriptions", "attributes",
         "shards", "partition_keys", "checkpoint_every"}


def load(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Workload:
    """Read and check a workload file; ``overrides`` replace some of its keys (and are
    checked the same way)."""
    import yaml  # a dev dependency: only the harness needs it

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise WorkloadError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, Mapping):
        raise WorkloadError(f"{path}: a workload is a mapping of keys to values")
    return parse({**data, **(overrides or {})}, default_name=p.stem)


def parse(data: Mapping[str, Any], default_name: str = "workload") -> Workload:
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise WorkloadError(f"unknown keys {unknown}; known: {sorted(_KEYS)}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise WorkloadError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    sizes = _sizes(data.get("message_size", 1024), kind)
    batch_default = 100 if kind == "stream" else 10
    batch_max = 500 if kind == "stream" else 10
    wl = Workload(
        name=str(data.get("name", default_name)),
        kind=kind,
        description=str(data.get("description", "")),
        producers=_int(data, "producers", 1, 1, 1024),
        consumers=_int(data, "consumers", 1, 1, 1024),
        sizes=sizes,
        rate=_number(data, "rate", 0.0, 0.0),
        duration_s=_duration(data, "duration", 30.0, positive=True),
        warmup_s=_duration(data, "warmup", 5.0),
        drain_timeout_s=_duration(data, "drain_timeout", 60.0, positive=True),
        batch_size=_int(data, "batch_size", batch_default, 1, batch_max),
        receive_batch=_int(data, "receive_batch", 10, 1, 10),
        wait_time_s=_int(data, "wait_time", 1, 0, 20),
        visibility_timeout_s=_int(data, "visibility_timeout", 30, 0, 43200),
        groups=_int(data, "groups", 100 if kind == "fifo" else 0, 0, 10_000_000),
        subscriptions=_subscriptions(data.get("subscriptions"), kind),
        attributes=_attributes(data.get("attributes")),
        shards=_int(data, "shards", 4 if kind == "stream" else 0, 0, 1000),
        partition_keys=_int(data, "partition_keys", 1000, 1, 10_000_000),
        checkpoint_every=_int(data, "checkpoint_every", 1000, 1, 10_000_000),
    )
    if kind == "fifo" and wl.groups < 1:
        raise WorkloadError("groups: a fifo workload needs at least 1 message group")
    if kind == "stream" and wl.shards < 1:
        raise WorkloadError("shards: a stream workload needs at least 1 shard")
    if kind == "topic" and wl.consumers < len(wl.subscriptions):
        raise WorkloadError(f"consumers: {wl.consumers} cannot read "
                            f"{len(wl.subscriptions)} subscription queues (one each at least)")
    if sizes.largest * wl.batch_size > (
            5 * 1024 * 1024 if kind == "stream" else MAX_MESSAGE_SIZE):
        raise WorkloadError("batch_size x message_size exceeds what one batch call may "
                            "carry (SQS/SNS: 256 KiB; PutRecords: 5 MiB)")
    return wl


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise WorkloadError(f"{key}: an integer from {low} to {high}, got {value!r}")
    return value


def _number(data: Mapping[str, Any], key: str, default: float, low: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or value < low:
        raise WorkloadError(f"{key}: a number >= {low:g}, got {value!r}")
    return float(value)


def _duration(data: Mapping[str, Any], key: str, default: float,
              positive: bool = False) -> float:
    return duration(key, data.get(key, default), positive)


def duration(key: str, value: Any, positive: bool = False) -> float:
    """Seconds from 30, 2.5, "30s", "500ms", "2m" or "1h"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if m is None:
            raise WorkloadError(f"{key}: a duration such as 30, 30s, 500ms or 2m, "
                                f"got {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        raise WorkloadError(f"{key}: must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return seconds


def _sizes(value: Any, kind: str) -> Sizes:
    top = MAX_RECORD_SIZE if kind == "stream" else MAX_MESSAGE_SIZE

    def check(n: Any) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or not (
                MIN_MESSAGE_SIZE <= n <= top):
            raise WorkloadError(f"message_size: sizes are integers from {MIN_MESSAGE_SIZE} "
                                f"to {top} bytes, got {n!r}")
        return n

    if not isinstance(value, Mapping):
        return Sizes(fixed=check(value))
    dist = value.get("distribution")
    if dist == "uniform":
        low, high = check(value.get("min")), check(value.get("max"))
        if low > high:
            raise WorkloadError("message_size: min must not exceed max")
        return Sizes(kind="uniform", low=low, high=high)
    if dist == "weighted":
        raw = value.get("sizes")
        if not isinstance(raw, Mapping) or not raw:
            raise WorkloadError("message_size: weighted needs sizes: {BYTES: WEIGHT, ...}")
        choices = []
        for s, w in raw.items():
            if isinstance(w, bool) or not isinstance(w, int | float) or \
                    not math.isfinite(w) or w <= 0:
                raise WorkloadError(f"message_size: weight of {s} must be > 0, got {w!r}")
            try:
                size = int(s)
            except (TypeError, ValueError):
                raise WorkloadError(f"message_size: weighted sizes are bytes, got {s!r}"
                                    ) from None
            choices.append((check(size), float(w)))
        return Sizes(kind="weighted", choices=tuple(choices))
    raise WorkloadError("message_size: bytes, or {distribution: uniform, min:, max:} or "
                        "{distribution: weighted, sizes: {BYTES: WEIGHT}}")


def _subscriptions(value: Any, kind: str) -> tuple[Subscription, ...]:
    if kind != "topic":
        if value is not None:
            raise WorkloadError("subscriptions: only for kind: topic")
        return ()
    if value is None:
        value = 1
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 100:
            raise WorkloadError(f"subscriptions: 1 to 100 queues, got {value}")
        return tuple(Subscription() for _ in range(value))
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise WorkloadError("subscriptions: a count, or a list of "
                            "{filter_policy: {...}} (or {} for no filter)")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) - {"filter_policy"}:
            raise WorkloadError(f"subscriptions[{i}]: a mapping with filter_policy only")
        policy = item.get("filter_policy")
        if policy is not None and not isinstance(policy, Mapping):
            raise WorkloadError(f"subscriptions[{i}].filter_policy: a mapping")
        text = json.dumps(policy, separators=(",", ":")) if policy else None
        if text is not None:
            from broker.engine.filter_policy import compile_policy
            from broker.errors import BrokerError

            try:  # what SNS would refuse at Subscribe, refused before anything is made
                compile_policy(text, prefix="")
            except BrokerError as exc:
                raise WorkloadError(f"subscriptions[{i}].filter_policy: {exc}") from None
        out.append(Subscription(text))
    return tuple(out)


def _attributes(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise WorkloadError("attributes: a mapping of attribute name to a list of values")
    out = []
    for key, values in value.items():
        if isinstance(values, str | int | float) and not isinstance(values, bool):
            values = [values]
        if not isinstance(values, Sequence) or isinstance(values, str) or not values or \
                not all(isinstance(v, str | int | float) and not isinstance(v, bool)
                        for v in values):
            raise WorkloadError(f"attributes.{key}: a non-empty list of strings or numbers")
        out.append((str(key), tuple(str(v) for v in values)))
    return tuple(out)
