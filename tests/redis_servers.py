"""Real ``redis-server`` processes for tests: a standalone server and a 3-master cluster.

Plain helpers, not fixtures: conftest files wrap them as they see fit::

    server = await start_standalone(tmp_path)
    try:
        ...
    finally:
        await server.stop()

    async with LocalCluster(tmp_path) as cluster:
        client = RedisCluster(host=cluster.startup_nodes[0][0], port=cluster.startup_nodes[0][1])

``LocalCluster`` needs Redis >= 7.0 (``cluster-port``, ``CLUSTER ADDSLOTSRANGE``); it builds the
cluster with plain commands, so ``redis-cli`` is not needed.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import redis.asyncio as aioredis

from broker.embedded import EmbeddedRedis, RedisServerStartError, free_port

__all__ = ["LocalCluster", "redis_server_available", "start_standalone"]

CLUSTER_SLOTS = 16384
_PORT_ATTEMPTS = 3


def redis_server_available() -> bool:
    """Whether a ``redis-server`` executable is on ``PATH``."""
    return shutil.which("redis-server") is not None


async def start_standalone(tmp_dir: Path) -> EmbeddedRedis:
    """Start a throw-away standalone server (no AOF) in ``tmp_dir``; the caller stops it."""
    server = EmbeddedRedis(data_dir=Path(tmp_dir), appendonly=False)
    await server.start()
    return server


async def _cluster(client: aioredis.Redis, *args: str | int) -> Any:
    """Run ``CLUSTER <args>`` (redis-py's ``execute_command`` is untyped)."""
    return await client.execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]


def _text(response: Any) -> str:
    if isinstance(response, bytes):
        return response.decode()
    return str(response)


def _parse_info(response: Any) -> dict[str, str]:
    """``CLUSTER INFO`` as a dict, whether redis-py already parsed it or not."""
    if isinstance(response, Mapping):
        return {_text(k): _text(v) for k, v in response.items()}
    fields: dict[str, str] = {}
    for line in _text(response).splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key] = value
    return fields


def _slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Split the slots evenly, the way ``redis-cli --cluster create`` does."""
    per_node = CLUSTER_SLOTS / masters
    return [(round(i * per_node), round((i + 1) * per_node) - 1) for i in range(masters)]


class LocalCluster:
    """A Redis Cluster of ``masters`` masters (no replicas) on 127.0.0.1, as an async CM.

    Each node is an :class:`EmbeddedRedis` in ``base_dir/node<i>`` with its own
    ``nodes.conf``. On entry the cluster is built (config epochs, slots, ``CLUSTER MEET``) and
    this waits until every node reports ``cluster_state:ok`` and knows all 16384 slots and all
    nodes. On exit all nodes are stopped.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        masters: int = 3,
        host: str = "127.0.0.1",
        node_timeout_ms: int = 5000,
        ready_timeout: float = 30.0,
        binary: str | None = None,
    ) -> None:
        if masters < 1:
            raise ValueError("a cluster needs at least one master")
        self.base_dir = Path(base_dir)
        self.masters = masters
        self.host = host
        self.node_timeout_ms = node_timeout_ms
        self.ready_timeout = ready_timeout
        self.binary = binary
        self.nodes: list[EmbeddedRedis] = []
        self._bus_ports: list[int] = []

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every node."""
        return [(node.host, node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """``redis+cluster://HOST:PORT`` of the first node."""
        if not self.nodes:
            raise RuntimeError("LocalCluster is not started")
        host, port = self.startup_nodes[0]
        return f"redis+cluster://{host}:{port}"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the nodes, join them into a cluster and wait until it is healthy."""
        if self.nodes:
            raise RuntimeError("LocalCluster is already started")
        try:
            await self._start_nodes()
            await self._create_cluster()
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every node (idempotent)."""
        nodes, self.nodes, self._bus_ports = self.nodes, [], []
        await asyncio.gather(*(node.stop() for node in nodes), return_exceptions=True)

    # ------------------------------------------------------------------ internals

    async def _start_node(self, index: int) -> tuple[EmbeddedRedis, int]:
        node_dir = (self.base_dir / f"node{index}").resolve()
        node_dir.mkdir(parents=True, exist_ok=True)
        config_file = node_dir / "nodes.conf"
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            config_file.unlink(missing_ok=True)  # a stale one would name old ports
            port = free_port(self.host)
            bus_port = free_port(self.host)
            while bus_port == port:
                bus_port = free_port(self.host)
            node = EmbeddedRedis(
                data_dir=node_dir,
                port=port,
                host=self.host,
                appendonly=False,
                binary=self.binary,
                extra_args=(
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(config_file),
                    "--cluster-node-timeout", str(self.node_timeout_ms),
                    "--cluster-port", str(bus_port),
                ),
            )  # fmt: skip
            try:
                await node.start()
            except RedisServerStartError as err:
                if attempt < _PORT_ATTEMPTS and "Address already in use" in str(err):
                    continue
                raise
            return node, bus_port
        raise AssertionError("unreachable")

    async def _start_nodes(self) -> None:
        results = await asyncio.gather(
            *(self._start_node(i) for i in range(self.masters)), return_exceptions=True
        )
        for result in results:
            if not isinstance(result, BaseException):
                self.nodes.append(result[0])
                self._bus_ports.append(result[1])
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _client(self, node: EmbeddedRedis) -> aioredis.Redis:
        return aioredis.Redis(host=node.host, port=node.port, decode_responses=True)

    async def _create_cluster(self) -> None:
        clients = [self._client(node) for node in self.nodes]
        try:
            for epoch, (client, (first, last)) in enumerate(
                zip(clients, _slot_ranges(self.masters), strict=True), start=1
            ):
                # Distinct config epochs, as redis-cli sets them: no epoch collisions to settle.
                await _cluster(client, "SET-CONFIG-EPOCH", epoch)
                await _cluster(client, "ADDSLOTSRANGE", first, last)
            for node, bus_port in zip(self.nodes[1:], self._bus_ports[1:], strict=True):
                await _cluster(clients[0], "MEET", node.host, node.port, bus_port)
        finally:
            await asyncio.gather(*(client.aclose() for client in clients))

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        clients = [self._client(node) for node in self.nodes]
        try:
            while True:
                problems = await self._problems(clients)
                if not problems:
                    return
                if loop.time() >= deadline:
                    raise TimeoutError(
                        f"cluster not ready after {self.ready_timeout:g} s: " + "; ".join(problems)
                    )
                await asyncio.sleep(0.1)
        finally:
            await asyncio.gather(*(client.aclose() for client in clients))

    async def _problems(self, clients: list[aioredis.Redis]) -> list[str]:
        """What still keeps the cluster from being ready (empty when it is)."""
        problems: list[str] = []
        expected = {
            (node.port, first, last)
            for node, (first, last) in zip(self.nodes, _slot_ranges(self.masters), strict=True)
        }
        for node, client in zip(self.nodes, clients, strict=True):
            info = _parse_info(await _cluster(client, "INFO"))
            wanted = {
                "cluster_state": "ok",
                "cluster_slots_assigned": str(CLUSTER_SLOTS),
                "cluster_slots_ok": str(CLUSTER_SLOTS),
                "cluster_known_nodes": str(self.masters),
                "cluster_size": str(self.masters),
            }
            for key, value in wanted.items():
                if info.get(key) != value:
                    problems.append(f"node :{node.port} {key}={info.get(key)} (want {value})")
            owners = await self._slot_owners(client)
            if owners != expected:
                problems.append(f"node :{node.port} sees slots {sorted(owners)}")
        return problems

    @staticmethod
    async def _slot_owners(client: aioredis.Redis) -> set[tuple[int, int, int]]:
        """``(port, first, last)`` for every slot range the node knows, from ``CLUSTER NODES``."""
        owners: set[tuple[int, int, int]] = set()
        text = _text(await _cluster(client, "NODES"))
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 8 or "master" not in fields[2].split(","):
                continue
            # address is "ip:port@cport[,hostname]"
            port = int(fields[1].split("@", 1)[0].rsplit(":", 1)[1])
            for slots in fields[8:]:
                if slots.startswith("["):  # a slot being migrated/imported
                    continue
                first, _, last = slots.partition("-")
                owners.add((port, int(first), int(last or first)))
        return owners
