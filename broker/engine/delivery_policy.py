"""SNS HTTP/S delivery policies: validation (with SNS's limits) and the retry schedule.

A subscription's ``DeliveryPolicy`` holds ``healthyRetryPolicy``, ``throttlePolicy`` and
``requestPolicy``; a topic's holds the same under ``http`` as ``defaultHealthyRetryPolicy``,
``defaultThrottlePolicy`` and ``defaultRequestPolicy``, plus
``disableSubscriptionOverrides``. A retry policy has four phases: retries without delay,
retries at the minimum delay, backoff retries (from the minimum towards the maximum along
the backoff function) and retries at the maximum delay; its total may not exceed 3,600 s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from broker.errors import InvalidParameter

DEFAULT_RETRY: Mapping[str, Any] = {
    "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numNoDelayRetries": 0,
    "numMinDelayRetries": 0, "numMaxDelayRetries": 0, "backoffFunction": "linear"}
DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8"
BACKOFF_FUNCTIONS = ("linear", "arithmetic", "geometric", "exponential")
MAX_TOTAL_S = 3600
MAX_RETRIES = 100
_COUNTS = ("numRetries", "numNoDelayRetries", "numMinDelayRetries", "numMaxDelayRetries")
_RETRY_FIELDS = frozenset({*DEFAULT_RETRY})
_SUBSCRIPTION_FIELDS = frozenset({"healthyRetryPolicy", "throttlePolicy", "requestPolicy",
                                  "sicklyRetryPolicy"})
_TOPIC_HTTP_FIELDS = frozenset({"defaultHealthyRetryPolicy", "defaultThrottlePolicy",
                                "defaultRequestPolicy", "disableSubscriptionOverrides",
                                "defaultSicklyRetryPolicy"})


def retry_delay_s(policy: Mapping[str, Any], retry: int) -> float | None:
    """Seconds before retry number ``retry`` (1-based) under a healthyRetryPolicy; None
    when the policy allows no such retry."""
    p = {**DEFAULT_RETRY, **policy}
    total = int(p["numRetries"])
    if retry > total:
        return None
    lo, hi = float(p["minDelayTarget"]), float(p["maxDelayTarget"])
    no_delay, at_min, at_max = (int(p["numNoDelayRetries"]), int(p["numMinDelayRetries"]),
                                int(p["numMaxDelayRetries"]))
    if retry <= no_delay:
        return 0.0
    if retry <= no_delay + at_min:
        return lo
    backoff = max(0, total - no_delay - at_min - at_max)
    j = retry - no_delay - at_min
    if j > backoff:
        return hi
    if backoff <= 1 or hi <= lo:
        return hi if backoff == 1 else lo
    x = (j - 1) / (backoff - 1)
    fn = p["backoffFunction"]
    if fn == "exponential":
        return lo * (hi / lo) ** x if lo > 0 else hi * x
    if fn == "geometric":
        return lo + (hi - lo) * (1 - math.exp(-3 * x)) / (1 - math.exp(-3))
    if fn == "arithmetic":
        return lo + (hi - lo) * x * x
    return lo + (hi - lo) * x  # linear


def validate_subscription_policy(text: str) -> None:
    """A subscription's DeliveryPolicy; InvalidParameter names what is wrong."""
    policy = _object(text, "DeliveryPolicy")
    _known(policy, _SUBSCRIPTION_FIELDS, "")
    _retry(policy.get("healthyRetryPolicy"), "healthyRetryPolicy")
    _throttle(policy.get("throttlePolicy"), "throttlePolicy")
    _request(policy.get("requestPolicy"), "requestPolicy")


def validate_topic_policy(text: str) -> None:
    """A topic's DeliveryPolicy: only its ``http`` part is interpreted (other protocols'
    policies are AWS-managed and are stored as given)."""
    policy = _object(text, "DeliveryPolicy")
    http = policy.get("http")
    if http is None:
        return
    if not isinstance(http, dict):
        raise _bad("http must be a JSON object")
    _known(http, _TOPIC_HTTP_FIELDS, "http.")
    _retry(http.get("defaultHealthyRetryPolicy"), "http.defaultHealthyRetryPolicy")
    _throttle(http.get("defaultThrottlePolicy"), "http.defaultThrottlePolicy")
    _request(http.get("defaultRequestPolicy"), "http.defaultRequestPolicy")
    flag = http.get("disableSubscriptionOverrides")
    if flag is not None and not isinstance(flag, bool):
        raise _bad("http.disableSubscriptionOverrides must be true or false")


class InEffect(NamedTuple):
    """The delivery policy in effect for one HTTP/S subscription."""

    retry: Mapping[str, Any]
    throttle: Mapping[str, Any]
    content_type: str


def effective(topic_policy: str | None, own_policy: str | None) -> InEffect:
    """The policy in effect for a subscription: its own, unless the topic's ``http``
    policy sets ``disableSubscriptionOverrides`` or the subscription has none (each part
    falls back to the topic's default). Policies that do not parse (stored before they
    were validated) count as absent."""
    topic_http = _loaded(topic_policy).get("http")
    topic = topic_http if isinstance(topic_http, dict) else {}
    own = _loaded(own_policy) if own_policy else {}
    if topic.get("disableSubscriptionOverrides") is True:
        own = {}
    retry = own.get("healthyRetryPolicy") or topic.get("defaultHealthyRetryPolicy")
    throttle = own.get("throttlePolicy") or topic.get("defaultThrottlePolicy")
    request = own.get("requestPolicy") or topic.get("defaultRequestPolicy")
    content_type = request.get("headerContentType") if isinstance(request, dict) else None
    return InEffect(retry if isinstance(retry, dict) else DEFAULT_RETRY,
                    throttle if isinstance(throttle, dict) else {},
                    content_type if isinstance(content_type, str) else DEFAULT_CONTENT_TYPE)


# -- helpers -----------------------------------------------------------------------------


def _bad(reason: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter: DeliveryPolicy: {reason}")


def _loaded(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise _bad("failed to parse JSON") from None
    if not isinstance(value, dict):
        raise _bad(f"{what} must be a JSON object")
    return value


def _known(obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            raise _bad(f"{path}{key}: unknown attribute")


def _whole(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        float(value).is_integer()


def _retry(value: Any, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _bad(f"{path} must be a JSON object")
    _known(value, _RETRY_FIELDS, f"{path}.")
    p = {**DEFAULT_RETRY, **value}
    for name in (*_COUNTS, "minDelayTarget", "maxDelayTarget"):
        if not _whole(p[name]) or p[name] < 0:
            raise _bad(f"{path}: {name} must be a whole number, 0 or more")
    if p["numRetries"] > MAX_RETRIES:
        raise _bad(f"{path}: numRetries must be between 0 and {MAX_RETRIES}")
    if p["minDelayTarget"] < 1:
        raise _bad(f"{path}: minDelayTarget must be at least 1 second")
    if p["minDelayTarget"] > p["maxDelayTarget"]:
        raise _bad(f"{path}: minDelayTarget must not exceed maxDelayTarget")
    if p["maxDelayTarget"] > MAX_TOTAL_S:
        raise _bad(f"{path}: maxDelayTarget must not exceed {MAX_TOTAL_S}")
    if sum(p[n] for n in _COUNTS[1:]) > p["numRetries"]:
        raise _bad(f"{path}: numNoDelayRetries, numMinDelayRetries and numMaxDelayRetries "
                   f"together must not exceed numRetries")
    if p["backoffFunction"] not in BACKOFF_FUNCTIONS:
        raise _bad(f"{path}: backoffFunction must be one of {', '.join(BACKOFF_FUNCTIONS)}")
    total = sum(retry_delay_s(p, n) or 0.0 for n in range(1, int(p["numRetries"]) + 1))
    if total > MAX_TOTAL_S:
        raise _bad(f"{path}: Total policy retry time cannot be greater than "
                   f"{MAX_TOTAL_S} seconds")


def _throttle(value: Any, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _bad(f"{path} must be a JSON object")
    _known(value, frozenset({"maxReceivesPerSecond"}), f"{path}.")
    rate = value.get("maxReceivesPerSecond")
    if rate is not None and (not _whole(rate) or rate < 1):
        raise _bad(f"{path}: maxReceivesPerSecond must be a whole number, 1 or more")


def _request(value: Any, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _bad(f"{path} must be a JSON object")
    _known(value, frozenset({"headerContentType"}), f"{path}.")
    content_type = value.get("headerContentType")
    if content_type is not None and not isinstance(content_type, str):
        raise _bad(f"{path}: headerContentType must be a string")
