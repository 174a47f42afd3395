"""SOCBOT_REDIS_WAIT_REPLICAS on real servers: what happens when replicas confirm a write in
time, and when none does (a master with no replica, where WAIT times out)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import redis
from own_redis import OwnRedis

from socbot.collectors.sink import Batch, EventSink
from socbot.collectors.spool import Spool
from socbot.core import replication
from socbot.core.actions import ActionStore
from socbot.core.streams import EVENTS


@pytest.fixture(autouse=True)
def wait_for_one_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(replication.WAIT_REPLICAS_ENV, "1")
    monkeypatch.setenv(replication.WAIT_MS_ENV, "100")


def with_replica(tmp_path: Path, master: OwnRedis) -> OwnRedis:
    (tmp_path / "replica").mkdir()
    replica = OwnRedis(tmp_path / "replica", "--replicaof", "127.0.0.1", str(master.port))
    replica.start()
    deadline = time.monotonic() + 20
    while redis.Redis(port=master.port).info("replication").get(
            "slave0", {}).get("state") != "online":
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.05)
    return replica


def test_an_unconfirmed_batch_stays_in_the_spool_and_is_stored_once(
        tmp_path: Path, own_redis: OwnRedis) -> None:
    client = redis.Redis.from_url(own_redis.url)
    sink = EventSink(client, "t", Spool(tmp_path / "spool"))
    assert sink.send(Batch(events=['{"message":"a"}'])).spooled  # in Redis, not confirmed
    assert sink.send(Batch(events=['{"message":"b"}'])).spooled  # queued behind "a"
    assert client.xlen(EVENTS) == 1  # the re-send of "a" added nothing
    replica = with_replica(tmp_path, own_redis)
    try:
        # Confirmed now: the spool empties, in order. (A loaded machine may let one WAIT of
        # 100 ms pass before the new replica answers: the batch then stays and goes again.)
        deadline = time.monotonic() + 10
        while not sink.drain():
            assert time.monotonic() < deadline, "the replica never confirmed the spooled batches"
        assert not sink.spool
        assert [f[b"e"] for _i, f in client.xrange(EVENTS)] == [b'{"message":"a"}',
                                                                 b'{"message":"b"}']
        assert sink.send(Batch(events=['{"message":"c"}'])).sent
    finally:
        replica.kill()


def test_an_unconfirmed_run_start_is_taken_back(own_redis: OwnRedis) -> None:
    store = ActionStore(redis.Redis.from_url(own_redis.url))
    action = store.create("A1", "disable-access-key", "carol")
    assert store.decide(action.id, "alice", action.token, "approve").outcome == "approved"
    with pytest.raises(replication.Unconfirmed, match="not run now"):
        store.move(action.id, "approved", "running")
    current = store.get(action.id)
    assert current is not None and current.status == "approved"  # a later try may run it


def test_a_confirmed_run_start_moves_once(tmp_path: Path, own_redis: OwnRedis) -> None:
    replica = with_replica(tmp_path, own_redis)
    try:
        store = ActionStore(redis.Redis.from_url(own_redis.url))
        action = store.create("A1", "disable-access-key", "carol")
        store.decide(action.id, "alice", action.token, "approve")
        assert store.move(action.id, "approved", "running")
        assert not store.move(action.id, "approved", "running")  # a second runner: no
    finally:
        replica.kill()


def test_an_unconfirmed_approval_is_logged(own_redis: OwnRedis,
                                           caplog: pytest.LogCaptureFixture) -> None:
    store = ActionStore(redis.Redis.from_url(own_redis.url))
    action = store.create("A1", "disable-access-key", "carol")
    with caplog.at_level(logging.WARNING, logger="socbot.core.actions"):
        decision = store.decide(action.id, "alice", action.token, "approve")
    assert decision.outcome == "approved"
    assert f"the approve of {action.id} by alice is not confirmed by 1 replica(s)" in caplog.text


def test_bad_settings_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="SOCBOT_REDIS_WAIT_REPLICAS"):
        replication.wanted({replication.WAIT_REPLICAS_ENV: "one"})
