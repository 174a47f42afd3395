"""A Redis Cluster of a test's own: three masters on free loopback ports, slots spread by
``redis-cli --cluster create``; with ``replicas=1`` each master has a replica, so the test may
kill the master that holds socbot's keys and watch the cluster promote its replica.

Every socbot key carries the ``{soc}`` hash tag, so all of them live in one slot on one master
(:meth:`OwnCluster.port_of`). The node timeout is short (1 s) so a failover takes seconds.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

NODE_TIMEOUT_MS = 1000


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free as well."""
    while True:
        with socket.socket() as probe, socket.socket() as bus:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
            if port + 10000 > 65535:
                continue
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            return port


def wait_ping(port: int, timeout: float = 10) -> None:
    """Return once the redis-server on ``port`` answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            redis.Redis(port=port).ping()
            return
        except redis.ConnectionError:
            assert time.monotonic() < deadline, f"redis-server on {port} did not start"
            time.sleep(0.05)


class OwnCluster:
    """Three cluster-enabled masters (and ``replicas`` replicas of each) with append-only
    files, joined into one cluster."""

    def __init__(self, directory: Path, replicas: int = 0) -> None:
        self.directory = directory
        self.replicas = replicas
        self.ports = [cluster_port() for _ in range(3 * (1 + replicas))]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start_node(self, port: int) -> None:
        node = self.directory / str(port)
        node.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ping(port)

    def start(self) -> None:
        for port in self.ports:
            self.start_node(port)
        subprocess.run(["redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-replicas",
                        str(self.replicas), "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        self.wait_until_ok(self.ports)
        if self.replicas:  # a loaded machine (a whole test run beside it) may need a while
            deadline = time.monotonic() + 90
            while waiting := self._replicas_waiting():
                assert time.monotonic() < deadline, f"the replicas did not sync in 90 s: {waiting}"
                time.sleep(0.1)

    def wait_until_ok(self, ports: list[int], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while any(self._state(p) != "ok" for p in ports):
            assert time.monotonic() < deadline, "the cluster did not reach state ok"
            time.sleep(0.1)

    @staticmethod
    def _state(port: int) -> str:
        try:
            return str(redis.Redis(port=port, socket_timeout=1).cluster("info")
                       .get("cluster_state"))
        except redis.RedisError:
            return "unreachable"

    def _replicas_waiting(self) -> str:
        """What is not in sync yet (empty once every replica is)."""
        for port in self.ports:
            info = redis.Redis(port=port).info("replication")
            if info.get("role") == "master" and info.get("connected_slaves", 0) < self.replicas:
                return f"master {port} has {info.get('connected_slaves', 0)} replicas"
            if info.get("role") == "slave" and info.get("master_link_status") != "up":
                return f"replica {port}: link to its master {info.get('master_link_status')}"
            # and every node's map of the slots names them (it learns them by gossip)
            slots = redis.Redis(port=port).cluster("slots")
            if any(len(entry) < 3 + self.replicas for entry in slots):
                return f"node {port} does not list every replica in its slot map yet"
        return ""

    def port_of(self, key: str) -> int:
        """The port of the master serving ``key``'s slot now (asked of a live node)."""
        for port in self.ports:
            if self.processes[port].poll() is not None:
                continue
            try:
                client = redis.Redis(port=port, socket_timeout=1)
                slot = int(client.cluster("keyslot", key))
                for start, end, master, *_replicas in client.cluster("slots"):
                    if start <= slot <= end:
                        return int(master[1])
            except redis.RedisError:
                continue
        raise AssertionError("no live node answered CLUSTER SLOTS")

    def replica_of(self, master: int) -> int:
        """The port of a replica of the master on ``master``."""
        for port in self.ports:
            info = redis.Redis(port=port).info("replication")
            if info.get("role") == "slave" and int(info["master_port"]) == master:
                return port
        raise AssertionError(f"the master on {master} has no replica")

    def kill(self, port: int) -> None:
        """Stop one node the hard way."""
        self.processes[port].kill()
        self.processes[port].wait(10)

    def wait_for_failover(self, old_master: int, key: str, timeout: float = 30) -> int:
        """Wait until a replica serves ``key``'s slot instead of ``old_master`` and the live
        nodes say the cluster is ok; return the new master's port."""
        deadline = time.monotonic() + timeout
        live = [p for p in self.ports if p != old_master]
        while True:
            try:
                port = self.port_of(key)
            except AssertionError:
                port = old_master
            if port != old_master and all(self._state(p) == "ok" for p in live):
                return port
            assert time.monotonic() < deadline, f"no failover within {timeout} s"
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(10)


def _need_tools() -> None:
    missing = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH: the test builds a Redis Cluster of "
                    "its own (Debian package redis-server, which has redis-cli)")


@pytest.fixture(name="own_cluster")
def own_cluster_fixture(tmp_path: Path) -> Iterator[OwnCluster]:
    """A started 3-master :class:`OwnCluster`; skipped where redis-server or redis-cli is
    missing."""
    _need_tools()
    cluster = OwnCluster(tmp_path / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(name="own_cluster_with_replicas")
def own_cluster_with_replicas_fixture(tmp_path: Path) -> Iterator[OwnCluster]:
    """A started :class:`OwnCluster` of three masters, each with a replica."""
    _need_tools()
    cluster = OwnCluster(tmp_path / "cluster", replicas=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
