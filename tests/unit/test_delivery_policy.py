"""SNS HTTP/S delivery policies: what SetSubscriptionAttributes / SetTopicAttributes
accept, and which policy is in effect for a subscription."""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker import errors
from broker.engine import delivery_policy as dp


def _retry(**fields: Any) -> str:
    return json.dumps({"healthyRetryPolicy": fields})


@pytest.mark.parametrize(("policy", "reason"), [
    ("nope", "failed to parse JSON"),
    ("[1]", "must be a JSON object"),
    ('{"healthyRetryPolicy": 3}', "healthyRetryPolicy must be a JSON object"),
    ('{"retryPolicy": {}}', "retryPolicy: unknown attribute"),
    (_retry(numRetries=101), "numRetries must be between 0 and 100"),
    (_retry(numRetries="3"), "numRetries must be a whole number"),
    (_retry(numRetries=2.5), "numRetries must be a whole number"),
    (_retry(numRetries=True), "numRetries must be a whole number"),
    (_retry(minDelayTarget=0), "minDelayTarget must be at least 1 second"),
    (_retry(minDelayTarget=30, maxDelayTarget=20), "must not exceed maxDelayTarget"),
    (_retry(maxDelayTarget=4000, minDelayTarget=1, numRetries=0),
     "maxDelayTarget must not exceed 3600"),
    (_retry(numRetries=3, numNoDelayRetries=2, numMaxDelayRetries=2),
     "together must not exceed numRetries"),
    (_retry(backoffFunction="cubic"), "backoffFunction must be one of"),
    (_retry(minDelayTarget=20, maxDelayTarget=800, numRetries=10),
     "Total policy retry time cannot be greater than 3600 seconds"),
    (_retry(numTries=3), "healthyRetryPolicy.numTries: unknown attribute"),
    ('{"throttlePolicy": {"maxReceivesPerSecond": 0}}', "maxReceivesPerSecond must be"),
    ('{"requestPolicy": {"headerContentType": 7}}', "headerContentType must be a string"),
])
def test_subscription_policy_refused(policy: str, reason: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="Invalid parameter: DeliveryPolicy: "
                       ) as caught:
        dp.validate_subscription_policy(policy)
    assert reason in str(caught.value)


def test_policies_accepted() -> None:
    dp.validate_subscription_policy(json.dumps({
        "healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 60, "numRetries": 50,
                               "numNoDelayRetries": 3, "numMinDelayRetries": 2,
                               "numMaxDelayRetries": 35, "backoffFunction": "exponential"},
        "throttlePolicy": {"maxReceivesPerSecond": 10},
        "requestPolicy": {"headerContentType": "application/json"}}))
    dp.validate_topic_policy(json.dumps({
        "http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 20, "maxDelayTarget": 20,
                                               "numRetries": 3},
                 "disableSubscriptionOverrides": False,
                 "defaultThrottlePolicy": {"maxReceivesPerSecond": 1}},
        "sqs": {"anything": "AWS-managed, stored as given"}}))
    with pytest.raises(errors.InvalidParameter, match="disableSubscriptionOverrides"):
        dp.validate_topic_policy('{"http": {"disableSubscriptionOverrides": "yes"}}')


def test_policy_in_effect() -> None:
    topic = json.dumps({"http": {"defaultHealthyRetryPolicy": {"numRetries": 7},
                                 "defaultRequestPolicy": {"headerContentType": "text/html"}}})
    own = json.dumps({"healthyRetryPolicy": {"numRetries": 1},
                      "throttlePolicy": {"maxReceivesPerSecond": 5}})
    got = dp.effective(topic, own)
    assert got.retry == {"numRetries": 1} and got.throttle == {"maxReceivesPerSecond": 5}
    assert got.content_type == "text/html"  # the topic's default fills what it lacks
    assert dp.effective(topic, None).retry == {"numRetries": 7}
    locked = json.dumps({"http": {"disableSubscriptionOverrides": True}})
    assert dp.effective(locked, own).retry == dp.DEFAULT_RETRY
    # a policy stored before it was validated counts as absent, it does not crash
    bad = dp.effective('{"http": []}', '{"healthyRetryPolicy": 3}')
    assert bad == (dp.DEFAULT_RETRY, {}, dp.DEFAULT_CONTENT_TYPE)
