"""Who sent a request, as every service's actions see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the request and how they reached us."""

    account_id: str
    """The caller's account (from its access key; the default account without SigV4)."""
    sender_id: str
    """Reported as the SenderId of the messages it sends."""
    base_url: str
    """Scheme and host the request came to, for queue URLs (``http://host:4566``)."""
    authenticated: bool = False
    """SigV4 verified: the caller may use only its own account's queues."""
