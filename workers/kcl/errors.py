"""Exceptions a record processor may see."""

from __future__ import annotations


class KclError(Exception):
    """Base of the stream consumer's exceptions."""


class LeaseLostError(KclError):
    """This worker no longer holds the lease (it expired, or another worker took it):
    the checkpoint was not written. Stop processing the shard."""


class InvalidCheckpointError(KclError, ValueError):
    """A checkpoint before the current one, or past the last record delivered."""


class ShutdownInProgressError(KclError):
    """The worker is shutting down."""
