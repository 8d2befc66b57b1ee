"""HTTP/S topic subscriptions against a real local endpoint: the confirmation handshake
(SubscribeURL), notifications (envelope and raw), retries on the delivery policy, the
dead-letter queue when they run out, and a failing endpoint not delaying a healthy one."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from broker import verify_sns_message
from broker.engine.delivery_policy import retry_delay_s
from broker.server.app import BrokerServer
from tests.broker_servers import serving_in_thread
from tests.conftest import TEST_LIMITS
from tests.server.helpers import REGION, sqs_client, unique_name


class Endpoint:
    """A local HTTP endpoint that records what it is sent; paths ending in /fail answer
    500."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], str]] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with endpoint.lock:
                    endpoint.requests.append((self.path, dict(self.headers), body))
                self.send_response(500 if self.path.endswith("/fail") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self, path: str) -> list[tuple[dict[str, str], str]]:
        with self.lock:
            return [(h, b) for p, h, b in self.requests if p == path]

    def wait_for(self, path: str, count: int, timeout_s: float = 10.0
                 ) -> list[tuple[dict[str, str], str]]:
        deadline = time.monotonic() + timeout_s
        while len(got := self.received(path)) < count:
            assert time.monotonic() < deadline, f"{path}: {len(got)} of {count} requests"
            time.sleep(0.05)
        return got


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    yield e
    e.server.shutdown()
    e.server.server_close()


@pytest.fixture(scope="module")
def server(standalone_url: str) -> Iterator[BrokerServer]:
    with serving_in_thread(standalone_url, limits=TEST_LIMITS,
                           sns_auto_confirm=("http://127.0.0.1:1/trusted",)) as s:
        yield s


@pytest.fixture(scope="module")
def sns(server: BrokerServer) -> Iterator[BaseClient]:
    client = boto3.Session().client(
        "sns", endpoint_url=server.url, region_name=REGION, aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))
    yield client
    client.close()


@pytest.fixture(scope="module")
def sqs(server: BrokerServer) -> Iterator[BaseClient]:
    client = sqs_client(server.url)
    yield client
    client.close()


def _confirmed(sns: BaseClient, endpoint: Endpoint, topic: str, path: str,
               **attributes: str) -> str:
    pending = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url + path,
                            Attributes=attributes)["SubscriptionArn"]
    assert pending == "pending confirmation"
    headers, body = endpoint.wait_for(path, 1)[0]
    message = json.loads(body)
    with urllib.request.urlopen(message["SigningCertURL"], timeout=10) as resp:  # noqa: S310
        assert verify_sns_message(message, resp.read())
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert message["Type"] == "SubscriptionConfirmation" and message["TopicArn"] == topic
    with urllib.request.urlopen(message["SubscribeURL"], timeout=10) as resp:  # noqa: S310
        assert resp.status == 200 and b"ConfirmSubscriptionResult" in resp.read()
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    [sub] = [s["SubscriptionArn"] for s in subs if s["Endpoint"] == endpoint.url + path]
    assert sub.startswith(topic + ":")
    return str(sub)


def test_confirmation_and_notifications(sns: BaseClient, endpoint: Endpoint) -> None:
    topic = sns.create_topic(Name=unique_name("t"))["TopicArn"]
    envelope_path, raw_path = f"/{unique_name('e')}", f"/{unique_name('r')}"
    sub = _confirmed(sns, endpoint, topic, envelope_path)
    _confirmed(sns, endpoint, topic, raw_path, RawMessageDelivery="true")
    sent = sns.publish(TopicArn=topic, Message="hello http", Subject="s1",
                       MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
    headers, body = endpoint.wait_for(envelope_path, 2)[1]
    note = json.loads(body)
    assert (note["Type"], note["Message"], note["Subject"]) == ("Notification", "hello http",
                                                               "s1")
    assert note["MessageId"] == sent["MessageId"]
    assert note["MessageAttributes"]["k"] == {"Type": "String", "Value": "v"}
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-subscription-arn"] == sub
    with urllib.request.urlopen(note["SigningCertURL"], timeout=10) as resp:  # noqa: S310
        assert verify_sns_message(note, resp.read())
    raw_headers, raw_body = endpoint.wait_for(raw_path, 2)[1]
    assert raw_body == "hello http" and raw_headers["x-amz-sns-rawdelivery"] == "true"
    assert headers["Content-Type"] == "text/plain; charset=UTF-8"


def test_request_policy_sets_the_content_type(sns: BaseClient, endpoint: Endpoint) -> None:
    topic = sns.create_topic(Name=unique_name("t"))["TopicArn"]
    path = f"/{unique_name('ct')}"
    sub = _confirmed(sns, endpoint, topic, path)
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps({"requestPolicy": {"headerContentType": "application/json"}}))
    sns.publish(TopicArn=topic, Message="typed")
    headers, _ = endpoint.wait_for(path, 2)[1]
    assert headers["Content-Type"] == "application/json"
    with pytest.raises(sns.exceptions.InvalidParameterException,
                       match="DeliveryPolicy: throttlePolicy: maxReceivesPerSecond"):
        sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="DeliveryPolicy",
            AttributeValue='{"throttlePolicy": {"maxReceivesPerSecond": -1}}')


def test_retries_then_dead_letter_queue(sns: BaseClient, sqs: BaseClient,
                                        endpoint: Endpoint) -> None:
    topic = sns.create_topic(Name=unique_name("t"))["TopicArn"]
    dlq = sqs.create_queue(QueueName=unique_name())["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    healthy, failing = f"/{unique_name('ok')}", f"/{unique_name('x')}/fail"
    _confirmed(sns, endpoint, topic, healthy)
    # the failing endpoint cannot confirm through its 500s: confirm it by its token
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url + failing)
    token = json.loads(endpoint.wait_for(failing, 1)[0][1])["Token"]
    sub = sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"]
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
            {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1,
                                    "maxDelayTarget": 1}}))
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="RedrivePolicy",
        AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}))
    before = len(endpoint.received(failing))
    started = time.monotonic()
    sns.publish(TopicArn=topic, Message="doomed")
    endpoint.wait_for(healthy, 2)
    assert time.monotonic() - started < 2.0  # not held up by the failing endpoint
    endpoint.wait_for(failing, before + 3)  # the first attempt and 2 retries, 1 s apart
    deadline = time.monotonic() + 10
    while not (got := sqs.receive_message(QueueUrl=dlq).get("Messages")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert json.loads(got[0]["Body"])["Message"] == "doomed"


def test_auto_confirmed_prefix_and_validation(sns: BaseClient) -> None:
    topic = sns.create_topic(Name=unique_name("t"))["TopicArn"]
    arn = sns.subscribe(TopicArn=topic, Protocol="http",
                        Endpoint="http://127.0.0.1:1/trusted/hook")["SubscriptionArn"]
    assert arn.startswith(topic + ":")  # trusted: confirmed without the handshake
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="ftp://example.com")
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.confirm_subscription(TopicArn=topic, Token="no-such-token")


@pytest.mark.parametrize(("policy", "expected"), [
    ({}, [20, 20, 20, None]),
    ({"numRetries": 5, "numNoDelayRetries": 1, "numMinDelayRetries": 1,
      "minDelayTarget": 2, "maxDelayTarget": 10, "numMaxDelayRetries": 1},
     [0, 2, 2, 10, 10, None]),
    ({"numRetries": 3, "minDelayTarget": 1, "maxDelayTarget": 9,
      "backoffFunction": "exponential"}, [1, 3, 9, None]),
])
def test_retry_schedule(policy: dict[str, Any], expected: list[float | None]) -> None:
    got: Callable[[int], float | None] = lambda n: retry_delay_s(policy, n)  # noqa: E731
    assert [got(n) for n in range(1, len(expected) + 1)] == pytest.approx(expected)


def test_throttle_policy(sns: BaseClient, endpoint: Endpoint) -> None:
    topic = sns.create_topic(Name=unique_name("t"))["TopicArn"]
    path = f"/{unique_name('slow')}"
    sub = _confirmed(sns, endpoint, topic, path)
    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps({"throttlePolicy": {"maxReceivesPerSecond": 2}}))
    sent = time.monotonic()
    for i in range(6):
        sns.publish(TopicArn=topic, Message=f"m{i}")
    endpoint.wait_for(path, 1 + 6)
    elapsed = time.monotonic() - sent
    assert elapsed >= 1.5, f"6 deliveries at 2/s took {elapsed:.2f} s"
