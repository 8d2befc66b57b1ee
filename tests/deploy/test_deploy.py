"""deploy/: the compose files validate (`docker-compose config`), the Dockerfile passes
hadolint, and the stack as local processes (`deploy/local.sh`) carries a message from a
producer through the broker to the worker, exposes its metrics, and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from broker.embedded import free_port
from broker.sdk import Client

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _require(tool: str) -> str:
    found = shutil.which(tool) or shutil.which(tool, path=str(Path(sys.executable).parent))
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is not installed; ./dev test installs it")
    pytest.skip(f"{tool} not installed")


@pytest.mark.parametrize("compose", ["docker-compose.yml", "docker-compose.cluster.yml"])
def test_compose_files_validate(compose: str) -> None:
    tool = _require("docker-compose")
    r = subprocess.run([tool, "-f", str(DEPLOY / compose), "--profile", "loadtest", "config"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    services = subprocess.run([tool, "-f", str(DEPLOY / compose), "--profile", "loadtest",
                               "config", "--services"], capture_output=True, text=True,
                              timeout=60).stdout.split()
    expected = {"broker", "worker"} | ({"redis", "prometheus", "grafana", "loadtest"}
                                       if compose == "docker-compose.yml"
                                       else {f"redis-{i}" for i in range(1, 7)}
                                       | {"cluster-init"})
    assert expected <= set(services)


def test_dockerfile_passes_hadolint() -> None:
    tool = _require("hadolint")
    r = subprocess.run([tool, str(DEPLOY / "Dockerfile")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        body: bytes = resp.read()
    return body.decode()


@pytest.mark.timeout(120)
async def test_local_stack_carries_a_message_and_stops(tmp_path: Path) -> None:
    _require("redis-server")
    ports = {"REDIS_PORT": free_port(), "BROKER_PORT": free_port(),
             "WORKER_METRICS_PORT": free_port(), "PROMETHEUS_PORT": free_port()}
    env = {**os.environ, "REDCURRENT_LOCAL_DIR": str(tmp_path), "PYTHON": sys.executable,
           **{k: str(v) for k, v in ports.items()}}

    def local(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(DEPLOY / "local.sh"), *args], capture_output=True,
                              text=True, env=env, timeout=90)

    try:
        up = local("up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "worker: running" in up.stdout and "broker: running" in up.stdout
        broker = f"http://127.0.0.1:{ports['BROKER_PORT']}"
        async with Client(broker) as client:  # a producer, over the AWS wire protocol
            sent = await client.queue("orders").send("order from the test")
            deadline = time.monotonic() + 20
            while sent.message_id not in (tmp_path / "worker.log").read_text():
                assert time.monotonic() < deadline, "the worker did not handle the message"
                await asyncio.sleep(0.1)
        broker_metrics = await asyncio.to_thread(_get, f"{broker}/metrics")
        for name in ("redcurrent_requests_total", "redcurrent_request_seconds_bucket",
                     "redcurrent_queue_visible_messages",
                     "redcurrent_queue_oldest_message_age_seconds",
                     "redcurrent_topic_http_deliveries"):
            assert name in broker_metrics, name
        worker_metrics = await asyncio.to_thread(
            _get, f"http://127.0.0.1:{ports['WORKER_METRICS_PORT']}/metrics")
        for name in ("workers_messages_processed_total", "workers_handler_duration_seconds",
                     "workers_messages_in_flight", "workers_messages_waiting"):
            assert name in worker_metrics, name
        if shutil.which("prometheus"):  # it scrapes both (every 5 s)
            deadline = time.monotonic() + 30
            while True:
                try:
                    targets = await asyncio.to_thread(
                        _get, f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}/api/v1/targets")
                except OSError as exc:  # still starting
                    targets = str(exc)
                if targets.count('"health":"up"') == 2:
                    break
                assert time.monotonic() < deadline, targets
                await asyncio.sleep(0.5)
        pids = [int(p.read_text()) for p in tmp_path.glob("*.pid")]  # noqa: ASYNC240
        assert len(pids) >= 3
    finally:
        down = local("down")
    assert down.returncode == 0, down.stdout + down.stderr
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "stopped" in local("status").stdout
