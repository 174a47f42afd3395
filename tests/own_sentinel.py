"""A master, a replica and three sentinels of a test's own, on free loopback ports.

The test may kill the master; the sentinels then promote the replica, as in production. The
timings are short (down after 1 s) so a failover takes a few seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from own_redis import OwnRedis

SERVICE = "socbot"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class OwnSentinels:
    """``master`` and ``replica`` (:class:`OwnRedis`) watched by three sentinels."""

    def __init__(self, directory: Path) -> None:
        (directory / "master").mkdir(parents=True)
        (directory / "replica").mkdir()
        self.directory = directory
        self.master = OwnRedis(directory / "master")
        self.replica = OwnRedis(directory / "replica")
        self.replica.extra = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/{db}"

    def start(self) -> None:
        self.master.start()
        self.replica.start()
        for port in self.ports:
            conf = self.directory / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {self.directory}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 4000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n")
            self.sentinels.append(subprocess.Popen(
                ["redis-server", str(conf), "--sentinel"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while not self._ready():
            assert time.monotonic() < deadline, "the sentinels did not see the replica in 20 s"
            time.sleep(0.1)

    def _ready(self) -> bool:
        replication = redis.Redis(port=self.master.port).info("replication")
        if replication.get("slave0", {}).get("state") != "online":
            return False
        for port in self.ports:
            try:
                sentinel = redis.Redis(port=port, socket_connect_timeout=0.5)
                replicas = sentinel.sentinel_slaves(SERVICE)
                known = sentinel.sentinel_sentinels(SERVICE)
            except redis.RedisError:
                return False
            if not replicas or len(known) < 2:
                return False
        return True

    def wait_for_failover(self, timeout: float = 30) -> None:
        """Return once every sentinel names the replica as a master in good standing.

        A client asks the sentinels in turn and takes the first that names a master that is
        not flagged down; right after the switch some sentinels still flag the new master
        (or name the old one), so waiting for one sentinel alone leaves a window where a
        client finds no master.
        """
        deadline = time.monotonic() + timeout
        while not all(self._names_replica_as_master(port) for port in self.ports):
            assert time.monotonic() < deadline, f"no failover within {timeout} s"
            time.sleep(0.1)

    def _names_replica_as_master(self, port: int) -> bool:
        try:
            state = redis.Redis(port=port, socket_connect_timeout=0.5).sentinel_master(SERVICE)
        except redis.RedisError:
            return False
        return (int(state["port"]) == self.replica.port and not state["is_sdown"]
                and not state["is_odown"] and not state["is_disconnected"])

    def stop(self) -> None:
        for process in [*self.sentinels, self.master.process, self.replica.process]:
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)


@pytest.fixture(name="own_sentinels")
def own_sentinels_fixture(tmp_path: Path) -> Iterator[OwnSentinels]:
    """A started :class:`OwnSentinels`; skipped where ``redis-server`` is not installed."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: the test starts a master, a replica and "
                    "three sentinels (redis-server --sentinel) of its own")
    group = OwnSentinels(tmp_path / "sentinel")
    try:
        group.start()
        yield group
    finally:
        group.stop()
