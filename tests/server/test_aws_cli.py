"""The aws CLI against a broker server: create-queue, send-message, receive-message,
list-queues, and an error as the CLI reports it.

The CLI comes with the dev extra (``pip install -e '.[dev]'``). Locally a missing ``aws``
skips these tests; on CI (``CI`` set) it fails them, as for ``redis-server``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from broker.server.app import BrokerServer
from broker.server.credentials import Credential, CredentialStore
from tests.broker_servers import serving_in_thread
from tests.conftest import TEST_LIMITS
from tests.server.helpers import ACCOUNT, REGION, md5_of_attributes, md5_text, unique_name


def _aws_binary() -> str:
    beside_python = Path(sys.executable).parent / "aws"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("aws")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("the aws CLI is not installed; CI must run the aws CLI tests "
                    "(pip install -e '.[dev]')")
    pytest.skip("the aws CLI is not installed (pip install awscli)")


@pytest.fixture(scope="module")
def aws() -> list[str]:
    return [_aws_binary()]


def run_aws(aws: list[str], server: BrokerServer, *args: str, key: str = "test",
            secret: str = "test", check: bool = True) -> subprocess.CompletedProcess[str]:
    home = Path(os.environ.get("TMPDIR", "/tmp"))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        # never read the developer's own profiles
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PAGER": "",
    }
    result = subprocess.run(
        [*aws, "sqs", *args, "--endpoint-url", server.url, "--output", "json"],
        capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def out(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_create_send_receive_list(aws: list[str], sqs_server: BrokerServer) -> None:
    name = unique_name("cli")
    created = out(run_aws(aws, sqs_server, "create-queue", "--queue-name", name,
                          "--attributes", "VisibilityTimeout=45", "--tags", "team=cli"))
    url = created["QueueUrl"]
    assert url == f"{sqs_server.url}/{ACCOUNT}/{name}"

    attributes = {"kind": {"DataType": "String", "StringValue": "greeting"},
                  "n": {"DataType": "Number", "StringValue": "3"}}
    sent = out(run_aws(aws, sqs_server, "send-message", "--queue-url", url,
                       "--message-body", "hello from the aws cli",
                       "--message-attributes", json.dumps(attributes)))
    assert sent["MD5OfMessageBody"] == md5_text("hello from the aws cli")
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)

    got = out(run_aws(aws, sqs_server, "receive-message", "--queue-url", url,
                      "--attribute-names", "All", "--message-attribute-names", "All",
                      "--max-number-of-messages", "10", "--wait-time-seconds", "5"))
    [message] = got["Messages"]
    assert message["Body"] == "hello from the aws cli"
    assert message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"] == attributes
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"

    listed = out(run_aws(aws, sqs_server, "list-queues", "--queue-name-prefix", name))
    assert listed["QueueUrls"] == [url]
    attrs = out(run_aws(aws, sqs_server, "get-queue-attributes", "--queue-url", url,
                        "--attribute-names", "VisibilityTimeout"))
    assert attrs["Attributes"] == {"VisibilityTimeout": "45"}


def test_error_as_the_cli_reports_it(aws: list[str], sqs_server: BrokerServer) -> None:
    result = run_aws(aws, sqs_server, "get-queue-url", "--queue-name", unique_name(),
                     check=False)
    assert result.returncode != 0
    # (newer CLIs add "(reached max retries: 0)" after the operation name)
    assert re.search(r"An error occurred \(AWS\.SimpleQueueService\.NonExistentQueue\) when "
                     r"calling the GetQueueUrl operation( \([^)]*\))?: The specified queue "
                     r"does not exist\.", result.stderr), result.stderr


def test_cli_signs_for_an_authenticated_server(aws: list[str], standalone_url: str) -> None:
    store = CredentialStore([Credential(access_key_id="AKIDCLI000000001",
                                       secret_access_key="cli/secret+key",
                                       account_id="333333333333")])
    with serving_in_thread(standalone_url, limits=TEST_LIMITS, credentials=store) as server:
        name = unique_name("cli")
        created = out(run_aws(aws, server, "create-queue", "--queue-name", name,
                              key="AKIDCLI000000001", secret="cli/secret+key"))
        assert created["QueueUrl"] == f"{server.url}/333333333333/{name}"
        refused = run_aws(aws, server, "list-queues", key="AKIDCLI000000001",
                          secret="wrong", check=False)
        assert refused.returncode != 0
        assert "SignatureDoesNotMatch" in refused.stderr
