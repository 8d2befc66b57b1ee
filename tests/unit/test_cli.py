"""The ``broker`` command, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def broker(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "broker", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=cwd)


async def test_queue_commands(plain_url: str) -> None:
    url = ["--redis-url", plain_url]
    r = broker("queue", "create", "cli-q", "-a", "VisibilityTimeout=5", *url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "http://localhost:4566/000000000000/cli-q"
    assert "cli-q" in broker("queue", "list", *url).stdout
    r = broker("queue", "send", "cli-q", "hello from the cli", "-a", "k=v", *url)
    assert r.returncode == 0 and r.stdout.startswith("sent ")
    r = broker("queue", "attributes", "cli-q", *url)
    assert "ApproximateNumberOfMessages" in r.stdout and "VisibilityTimeout" in r.stdout
    r = broker("queue", "receive", "cli-q", "--json", "--delete", *url)
    assert '"Body": "hello from the cli"' in r.stdout and '"k": "v"' in r.stdout
    assert broker("queue", "receive", "cli-q", *url).stdout.strip() == "no messages"
    r = broker("queue", "attributes", "cli-q", "--set", "DelaySeconds=3", *url)
    assert "DelaySeconds" in r.stdout and " 3\n" in r.stdout
    assert broker("queue", "purge", "cli-q", *url).returncode == 0
    assert broker("queue", "delete", "cli-q", *url).returncode == 0


async def test_fifo_and_redrive_commands(plain_url: str) -> None:
    url = ["--redis-url", plain_url]
    assert broker("queue", "create", "cli.fifo", *url).returncode == 0
    r = broker("queue", "send", "cli.fifo", "first", "--group-id", "g", "--dedup-id", "1",
               *url)
    assert r.returncode == 0 and ", sequence " in r.stdout
    r = broker("queue", "send", "cli.fifo", "no group", "--dedup-id", "2", *url)
    assert r.returncode == 1 and "MissingParameter" in r.stderr
    assert broker("queue", "create", "cli-dlq", *url).returncode == 0
    policy = ('RedrivePolicy={"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:'
              'cli-dlq","maxReceiveCount":"1"}')
    assert broker("queue", "create", "cli-src", "-a", policy, "-a", "VisibilityTimeout=0",
                  *url).returncode == 0
    broker("queue", "send", "cli-src", "poison", *url)
    for _ in range(2):  # received once, then moved by the next receive
        broker("queue", "receive", "cli-src", *url)
    r = broker("queue", "redrive", "cli-dlq", *url)
    assert r.returncode == 0, r.stderr
    assert "COMPLETED  moved 1/1 -> (sources)" in r.stdout
    assert "COMPLETED" in broker("queue", "redrive-status", "cli-dlq", *url).stdout
    r = broker("queue", "receive", "cli-src", "--json", *url)
    assert '"Body": "poison"' in r.stdout


async def test_topic_commands(plain_url: str) -> None:
    url = ["--redis-url", plain_url]
    r = broker("topic", "create", "cli-alerts", "-a", "DisplayName=Alerts", *url)
    assert r.returncode == 0 and r.stdout.strip().endswith(":cli-alerts"), r.stderr
    assert "cli-alerts" in broker("topic", "list", *url).stdout
    assert broker("queue", "create", "cli-alerts-q", *url).returncode == 0
    r = broker("topic", "subscribe", "cli-alerts", "cli-alerts-q", "--raw",
               "--filter", '{"level":["high"]}', *url)
    assert r.returncode == 0 and ":cli-alerts:" in r.stdout, r.stderr
    assert broker("topic", "publish", "cli-alerts", "low one", "-a", "level=low",
                  *url).stdout.startswith("published ")
    assert broker("topic", "publish", "cli-alerts", "high one", "-a", "level=high",
                  *url).returncode == 0
    r = broker("queue", "receive", "cli-alerts-q", "--max", "10", "--json", *url)
    assert '"Body": "high one"' in r.stdout and "low one" not in r.stdout
    assert "cli-alerts-q" in broker("topic", "subscriptions", "cli-alerts", *url).stdout
    r = broker("topic", "subscribe", "cli-alerts", "cli-alerts-q", "--filter", '{"a":1}',
               *url)
    assert r.returncode == 1 and "InvalidParameter" in r.stderr
    assert broker("topic", "delete", "cli-alerts", *url).returncode == 0


async def test_stream_commands(plain_url: str) -> None:
    url = ["--redis-url", plain_url]
    r = broker("stream", "create", "cli-clicks", "--shards", "2", *url)
    assert r.returncode == 0 and r.stdout.strip().endswith(":stream/cli-clicks"), r.stderr
    assert "cli-clicks  ACTIVE  PROVISIONED  2 open shards" in broker("stream", "list",
                                                                    *url).stdout
    r = broker("stream", "put", "cli-clicks", "hello", "--key", "user-1", *url)
    shard, sequence = r.stdout.split()
    r = broker("stream", "get", "cli-clicks", "--shard", shard, *url)
    assert r.stdout.strip() == f"{sequence}  user-1  hello"
    assert broker("stream", "reshard", "cli-clicks", "--count", "4", *url).returncode == 0
    described = broker("stream", "describe", "cli-clicks", *url).stdout
    assert described.count(" open\n") == 4 and "closed at" in described
    assert broker("stream", "delete", "cli-clicks", *url).returncode == 0
    r = broker("stream", "put", "cli-clicks", "x", "--key", "k", *url)
    assert r.returncode == 1 and "ResourceNotFoundException" in r.stderr


async def test_errors_exit_non_zero_with_aws_code(plain_url: str) -> None:
    r = broker("queue", "send", "missing", "x", "--redis-url", plain_url)
    assert r.returncode == 1
    assert r.stderr.strip() == ("broker: AWS.SimpleQueueService.NonExistentQueue: "
                                "The specified queue does not exist.")
    r = broker("queue", "receive", "missing", "--max", "11", "--redis-url", plain_url)
    assert r.returncode == 1 and "InvalidParameterValue" in r.stderr
    assert "Traceback" not in r.stderr
    assert broker("queue", "frobnicate").returncode == 2


def test_missing_redis_server_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    env.pop("BROKER_REDIS_URL", None)
    r = broker("queue", "list", "--data-dir", str(tmp_path / "data"), env=env)
    assert r.returncode == 3
    assert r.stderr.count("\n") == 1 and "apt-get install redis-server" in r.stderr


@pytest.mark.timeout(60)
async def test_demo_runs(plain_url: str, tmp_path: Path) -> None:
    r = broker("demo", "--redis-url", plain_url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "moved to" in r.stdout and "long poll returned 'wake up'" in r.stdout
