"""Fixtures for the broker-server suites: one threaded server per session on the standalone
Redis (tests use unique queue names instead of flushing), and boto3 clients for it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from broker.server.app import BrokerServer
from broker.server.codec_common import SQS_QUERY_COMPAT, apply_query_compat
from tests.broker_servers import serving_in_thread
from tests.conftest import TEST_LIMITS
from tests.server.helpers import REGION, VERSION, sqs_client, unique_name


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


@pytest.fixture(scope="session")
def query_sqs(sqs_server: BrokerServer, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[BaseClient]:
    """boto3 with the SQS model rewritten to the query protocol (as botocore < 1.34.90)."""
    loader = botocore.session.get_session().get_component("data_loader")
    description = apply_query_compat(loader.load_service_model("sqs", "service-2"),
                                     SQS_QUERY_COMPAT)
    root = tmp_path_factory.mktemp("botocore-data")
    model_dir = Path(root, "sqs", VERSION)
    model_dir.mkdir(parents=True)
    (model_dir / "service-2.json").write_text(json.dumps(description))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(root))
    client = boto3.Session(botocore_session=session).client(
        "sqs", endpoint_url=sqs_server.url, region_name=REGION, aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))
    assert client.meta.service_model.protocol == "query"
    yield client
    client.close()


@pytest.fixture(params=["json", "query"])
def any_sqs(request: pytest.FixtureRequest) -> BaseClient:
    """boto3's SQS client on one of the two wire protocols."""
    fixture = "sqs" if request.param == "json" else "query_sqs"
    c: BaseClient = request.getfixturevalue(fixture)
    return c
