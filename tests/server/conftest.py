"""Fixtures for the broker-server suites: one threaded server per session on the standalone
Redis (tests use unique queue names instead of flushing), and boto3 clients for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.client import BaseClient

from broker.server.app import BrokerServer
from tests.broker_servers import serving_in_thread
from tests.conftest import TEST_LIMITS
from tests.server.helpers import sqs_client, unique_name


@pytest.fixture(scope="session")
def sqs_server(standalone_url: str) -> Iterator[BrokerServer]:
    """An unauthenticated broker server in a thread of its own, shared by the session."""
    with serving_in_thread(standalone_url, limits=TEST_LIMITS) as server:
        yield server


@pytest.fixture(scope="session")
def sqs(sqs_server: BrokerServer) -> Iterator[BaseClient]:
    """boto3's SQS client for ``sqs_server`` (JSON protocol, no retries); closed before
    the server stops."""
    client = sqs_client(sqs_server.url)
    yield client
    client.close()


@pytest.fixture
def queue_name() -> str:
    return unique_name()


@pytest.fixture
def queue_url(sqs: BaseClient, queue_name: str) -> str:
    """A fresh standard queue with default attributes."""
    url: str = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    return url
