"""The body every harness message carries: who sent it, its number, when it was meant
to be sent, and whether it belongs to the warm-up; padded to the drawn size."""

from __future__ import annotations

from dataclasses import dataclass

_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * 64


@dataclass(frozen=True, slots=True)
class Stamp:
    producer: int
    seq: int
    intended_ns: int
    warm: bool


def encode(run: str, producer: int, seq: int, intended_ns: int, warm: bool,
           size: int) -> str:
    head = f"{run}:{producer}:{seq}:{intended_ns}:{1 if warm else 0}|"
    missing = size - len(head)
    if missing <= 0:
        return head
    pad = _PAD * (missing // len(_PAD) + 1)
    return head + pad[:missing]


def decode(run: str, body: str | bytes) -> Stamp | None:
    """The stamp of one of this run's messages, or None for anything else."""
    if isinstance(body, bytes):
        body = body[:96].decode("ascii", "replace")
    head, sep, _ = body[:96].partition("|")
    if not sep:
        return None
    parts = head.split(":")
    if len(parts) != 5 or parts[0] != run:
        return None
    try:
        return Stamp(int(parts[1]), int(parts[2]), int(parts[3]), parts[4] == "1")
    except ValueError:
        return None
