"""A redis-server of a test's own, on a free port, that the test may kill and start again."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


class OwnRedis:
    """A redis-server on a free port, with an append-only file synced on every write."""

    def __init__(self, directory: Path, *extra: str) -> None:
        self.directory = directory
        self.extra = list(extra)  # more redis-server options, e.g. "--replicaof", HOST, PORT
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--protected-mode", "no", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        """Stop it the hard way: what was acknowledged must survive, nothing else."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@pytest.fixture(name="own_redis")
def own_redis_fixture(tmp_path: Path) -> Iterator[OwnRedis]:
    """A started :class:`OwnRedis`; skipped where ``redis-server`` is not installed."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH: the test needs a server it may stop")
    server = OwnRedis(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        server.process.wait(10)

