"""EmbeddedRedis (broker.embedded) and the test servers built on it (tests.redis_servers)."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from broker import embedded
from broker.embedded import EmbeddedRedis, RedisServerNotFound, RedisServerStartError, free_port
from tests.redis_servers import LocalCluster, redis_server_available, start_standalone

needs_redis = pytest.mark.skipif(
    not redis_server_available(), reason="redis-server not installed (apt-get install redis-server)"
)

NOT_FOUND = (
    "redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server) "
    "or pass --redis-url redis://host:port"
)


# ---------------------------------------------------------------------------- helpers


def _child_redis_pids() -> set[int]:
    """Live (non-zombie included) redis-server children of this test process."""
    me = os.getpid()
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ..." - comm may contain spaces, so split after the ")".
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == me and comm.startswith("redis-server"):
            pids.add(int(entry.name))
    return pids


@contextmanager
def _no_leaked_servers() -> Iterator[None]:
    """Fail if the block leaves a redis-server child behind (running or zombie)."""
    before = _child_redis_pids()
    yield
    leaked = _child_redis_pids() - before
    assert not leaked, f"leaked redis-server processes: {leaked}"


@asynccontextmanager
async def _client(url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _assert_gone(pid: int, port: int) -> None:
    """The process is reaped (not even a zombie) and nothing listens on its port."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert not _exists(pid)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))  # the port is free again


# ---------------------------------------------------------------------------- free_port


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# ---------------------------------------------------------------------------- start / stop


@needs_redis
async def test_starts_and_answers_ping(tmp_path: Path) -> None:
    with _no_leaked_servers():
        async with EmbeddedRedis(data_dir=tmp_path / "data", appendonly=False) as server:
            assert server.running
            assert server.url == f"redis://127.0.0.1:{server.port}"
            assert server.data_dir == (tmp_path / "data").resolve()
            async with _client(server.url) as client:
                assert await client.ping() is True
                config = await client.config_get("*")
                assert config["bind"] == "127.0.0.1"
                assert config["port"] == str(server.port)
                assert config["dir"] == str(server.data_dir)
                assert config["appendonly"] == "no"
                assert config["save"] == ""
                assert config["protected-mode"] == "no"
                assert config["daemonize"] == "no"
                assert config["maxmemory-policy"] == "noeviction"
                assert config["logfile"] == str(server.log_path)
                info = await client.info("server")
                assert info["process_id"] == server.pid
            assert server.log_path.is_file()
        assert not server.running
        assert server.pid is None


@needs_redis
async def test_start_standalone_helper(tmp_path: Path) -> None:
    with _no_leaked_servers():
        server = await start_standalone(tmp_path)
        try:
            async with _client(server.url) as client:
                assert await client.ping() is True
                assert (await client.config_get("appendonly"))["appendonly"] == "no"
        finally:
            await server.stop()


@needs_redis
async def test_writes_persist_across_restart_with_aof(tmp_path: Path) -> None:
    data_dir = tmp_path / "aof"
    with _no_leaked_servers():
        first = EmbeddedRedis(data_dir=data_dir, appendfsync="always")
        async with first, _client(first.url) as client:
            assert (await client.config_get("appendfsync"))["appendfsync"] == "always"
            await client.set("greeting", "hello")
            await client.rpush("queue", "a", "b", "c")
        assert (data_dir / "appendonlydir").is_dir()

        second = EmbeddedRedis(data_dir=data_dir)
        async with second, _client(second.url) as client:
            assert await client.get("greeting") == "hello"
            assert await client.lrange("queue", 0, -1) == ["a", "b", "c"]
            await client.set("second", "run")

        # The same instance can be started again after stop().
        await second.start()
        try:
            async with _client(second.url) as client:
                assert await client.get("second") == "run"
        finally:
            await second.stop()


@needs_redis
async def test_stop_reaps_the_process_and_frees_the_port(tmp_path: Path) -> None:
    with _no_leaked_servers():
        server = EmbeddedRedis(data_dir=tmp_path, appendonly=False)
        await server.stop()  # stopping a server that never started is fine
        await server.start()
        pid, port = server.pid, server.port
        assert pid is not None
        assert _exists(pid)
        await server.stop()
        _assert_gone(pid, port)
        await server.stop()  # idempotent
        assert not server.running


@needs_redis
async def test_concurrent_stops_are_safe(tmp_path: Path) -> None:
    with _no_leaked_servers():
        server = EmbeddedRedis(data_dir=tmp_path, appendonly=False)
        await server.start()
        pid, port = server.pid, server.port
        assert pid is not None
        await asyncio.gather(server.stop(), server.stop(), server.stop())
        _assert_gone(pid, port)


@needs_redis
async def test_start_twice_is_an_error(tmp_path: Path) -> None:
    async with EmbeddedRedis(data_dir=tmp_path, appendonly=False) as server:
        with pytest.raises(RuntimeError, match="already running"):
            await server.start()


# ---------------------------------------------------------------------------- missing binary


async def test_missing_binary_path_raises_not_found(tmp_path: Path) -> None:
    server = EmbeddedRedis(data_dir=tmp_path, binary="/nonexistent/redis-server")
    with pytest.raises(RedisServerNotFound) as caught:
        async with server:
            pytest.fail("must not start")
    assert str(caught.value) == NOT_FOUND
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    assert caught.value.binary == "/nonexistent/redis-server"
    assert server.pid is None


async def test_redis_server_not_on_path_raises_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(RedisServerNotFound) as caught:
        await EmbeddedRedis(data_dir=tmp_path).start()
    assert str(caught.value) == NOT_FOUND
    assert len(str(caught.value).splitlines()) == 1


# ---------------------------------------------------------------------------- failures


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="appendfsync"):
        EmbeddedRedis(appendfsync="sometimes")
    with pytest.raises(ValueError, match="port"):
        EmbeddedRedis(port=70000)
    with pytest.raises(TypeError, match="extra_args"):
        EmbeddedRedis(extra_args="--appendonly yes")


def test_port_is_unknown_before_start() -> None:
    with pytest.raises(RuntimeError, match="start it first"):
        _ = EmbeddedRedis().url
    assert EmbeddedRedis(port=6390).url == "redis://127.0.0.1:6390"


@needs_redis
async def test_bad_config_fails_with_the_log_tail(tmp_path: Path) -> None:
    server = EmbeddedRedis(data_dir=tmp_path, extra_args=("--no-such-directive", "1"))
    with _no_leaked_servers(), pytest.raises(RedisServerStartError) as caught:
        await server.start()
    message = str(caught.value)
    assert "exited with code" in message
    assert "Bad directive" in message  # printed on stderr before the log is open
    assert str(server.log_path) in message
    assert not server.running


@needs_redis
async def test_port_in_use_fails_cleanly(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = EmbeddedRedis(data_dir=tmp_path, port=port, appendonly=False)
        with _no_leaked_servers(), pytest.raises(RedisServerStartError) as caught:
            await server.start()
    assert "Address already in use" in str(caught.value)
    assert not server.running


@needs_redis
async def test_auto_port_retries_when_the_port_was_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        real_free_port = embedded.free_port
        ports = iter([taken])
        monkeypatch.setattr(
            embedded, "free_port", lambda host: next(ports, None) or real_free_port(host)
        )
        with _no_leaked_servers():
            async with EmbeddedRedis(data_dir=tmp_path, appendonly=False) as server:
                assert server.port != taken
                async with _client(server.url) as client:
                    assert await client.ping() is True


@needs_redis
async def test_startup_timeout_kills_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never_ready(client: Redis, pid: int) -> bool:
        return False

    monkeypatch.setattr(EmbeddedRedis, "_answers_ping", staticmethod(never_ready))
    server = EmbeddedRedis(data_dir=tmp_path, appendonly=False, startup_timeout=0.5)
    with _no_leaked_servers(), pytest.raises(RedisServerStartError, match="did not answer PING"):
        await server.start()
    assert not server.running


@needs_redis
async def test_cancelled_start_leaves_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = asyncio.Event()

    async def never_ready(client: Redis, pid: int) -> bool:
        spawned.set()
        return False

    monkeypatch.setattr(EmbeddedRedis, "_answers_ping", staticmethod(never_ready))
    server = EmbeddedRedis(data_dir=tmp_path, appendonly=False)
    with _no_leaked_servers():
        task = asyncio.create_task(server.start())
        await asyncio.wait_for(spawned.wait(), 10)
        assert _child_redis_pids()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not server.running


# ---------------------------------------------------------------------------- LocalCluster


@needs_redis
@pytest.mark.cluster
async def test_local_cluster_serves_keys_across_slots(tmp_path: Path) -> None:
    with _no_leaked_servers():
        async with LocalCluster(tmp_path) as cluster:
            assert len(cluster.startup_nodes) == 3
            host, port = cluster.startup_nodes[0]
            assert cluster.url == f"redis+cluster://{host}:{port}"
            for index, (node_host, _) in enumerate(cluster.startup_nodes):
                assert node_host == "127.0.0.1"
                assert (tmp_path / f"node{index}" / "nodes.conf").is_file()
            endpoints = [(node.pid, node.port) for node in cluster.nodes]

            client = RedisCluster(host=host, port=port, decode_responses=True)
            try:
                await client.initialize()
                keys = [f"key-{i}" for i in range(30)]
                slots = {client.keyslot(key) for key in keys}
                assert len(slots) > 1
                owners = {client.get_node_from_key(key).port for key in keys}
                assert owners == {p for _, p in cluster.startup_nodes}  # all masters serve keys
                for key in keys:
                    assert await client.set(key, key.upper())
                for key in keys:
                    assert await client.get(key) == key.upper()

                tagged = ["{orders}:visible", "{orders}:inflight", "{orders}:delayed"]
                assert len({client.keyslot(key) for key in tagged}) == 1
                # Multi-key commands only work when all keys share a slot.
                await client.mset_nonatomic({key: "v" for key in tagged})
                assert await client.execute_command("DEL", *tagged) == 3
            finally:
                await client.aclose()

        assert cluster.nodes == []
        for pid, node_port in endpoints:
            assert pid is not None
            _assert_gone(pid, node_port)
