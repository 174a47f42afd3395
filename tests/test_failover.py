"""Kill the master mid-storm, under Sentinel and in a Redis Cluster: nothing lost, nothing
doubled.

A secure-log collector tails a growing file into ``{soc}:events`` and two detection workers
(one consumer group) turn brute-force storms into alerts, all through ``redis+sentinel://`` or
``redis+cluster://`` clients. The master holding socbot's keys is killed half-way; Sentinel
(or the cluster itself) promotes its replica. With ``SOCBOT_REDIS_WAIT_REPLICAS=1`` the
collector keeps each batch in its spool until the replica has it, so the promoted replica holds
every event; the old master comes back as its replica; the consumer group resumes on the new
master; an approval given before the kill stays spent. The counts of lost and doubled events
and alerts are printed (``pytest -s``) and must be 0.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from own_cluster import OwnCluster
from own_sentinel import OwnSentinels

from socbot.collectors.pipeline import collect_secure
from socbot.collectors.spool import Spool
from socbot.core.actions import ActionStore
from socbot.core.alerts import AlertStore
from socbot.core.events import loads
from socbot.core.redisurl import client as client_for
from socbot.core.redisurl import parse
from socbot.core.streams import ACTIONS, ALERTS, EVENTS, Consumer
from socbot.detections.engine import Engine
from socbot.detections.rule import load_all
from socbot.detections.worker import DetectionWorker

ADDRESSES = [f"198.51.100.{n}" for n in range(1, 9)]
PER_ADDRESS = 40


def storm_lines() -> list[str]:
    """SSH password failures, interleaved across the addresses, within one minute."""
    return [f"Nov 23 03:12:{n % 60:02d} web1 sshd[{7000 + n * 10 + i}]: Failed password for root "
            f"from {ip} port {40000 + n} ssh2"
            for n in range(PER_ADDRESS) for i, ip in enumerate(ADDRESSES)]


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a") as handle:
        handle.write("".join(line + "\n" for line in lines))


def connect(url: str) -> redis.Redis:
    return client_for(parse(url, {}), socket_connect_timeout=0.5, socket_timeout=3)


class Detector:
    """A detection worker in group ``detect``, remembering the entries it handled."""

    def __init__(self, url: str, name: str) -> None:
        client = connect(url)
        worker = DetectionWorker(client, Engine(client, load_all()))
        self.handled: set[str] = set()

        def handle_batch(entries: list[tuple[str, dict[str, str]]]) -> dict[str, Exception]:
            failures = worker.handle_batch(entries)
            self.handled |= {entry_id for entry_id, _ in entries if entry_id not in failures}
            return failures

        self.consumer = Consumer(client, EVENTS, "detect", name, worker.handle,
                                 batch_handler=handle_batch, batch=20, block_ms=100,
                                 min_idle_ms=1000)


class SentinelSide:
    """A master, its replica and three sentinels."""

    name = "sentinel"

    def __init__(self, group: OwnSentinels) -> None:
        self.group = group
        self.url = group.url()

    def replica_view(self) -> redis.Redis:
        return redis.Redis(port=self.group.replica.port)

    def kill_master(self) -> None:
        self.group.master.kill()

    def wait_for_failover(self) -> None:
        self.group.wait_for_failover()

    def restart_old_master(self) -> None:
        self.group.master.start()


class ClusterSide:
    """Three masters with a replica each; socbot's keys ({soc}) live on one of them."""

    name = "cluster"

    def __init__(self, cluster: OwnCluster) -> None:
        self.cluster = cluster
        self.url = cluster.url()
        self.master = cluster.port_of(EVENTS)
        self.replica = cluster.replica_of(self.master)

    def replica_view(self) -> redis.Redis:
        """The replica, read directly (READONLY: a cluster replica answers reads of its
        master's slots on that connection instead of redirecting them)."""
        client = redis.Redis(port=self.replica, single_connection_client=True)
        client.execute_command("READONLY")
        return client

    def kill_master(self) -> None:
        self.cluster.kill(self.master)

    def wait_for_failover(self) -> None:
        assert self.cluster.wait_for_failover(self.master, EVENTS) == self.replica

    def restart_old_master(self) -> None:
        self.cluster.start_node(self.master)  # it rejoins as the new master's replica


@pytest.fixture(params=["sentinel", "cluster"])
def deployment(request: pytest.FixtureRequest) -> SentinelSide | ClusterSide:
    if request.param == "sentinel":
        return SentinelSide(request.getfixturevalue("own_sentinels"))
    return ClusterSide(request.getfixturevalue("own_cluster_with_replicas"))


def test_killing_the_master_mid_storm_loses_and_doubles_nothing(
        tmp_path: Path, deployment: SentinelSide | ClusterSide,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCBOT_REDIS_WAIT_REPLICAS", "1")
    monkeypatch.setenv("SOCBOT_REDIS_WAIT_MS", "500")
    url = deployment.url
    lines = storm_lines()
    log = tmp_path / "secure"
    log.touch()

    actions = ActionStore(connect(url))
    request = actions.create("A1", "disable-access-key", "carol")
    assert actions.decide(request.id, "alice", request.token, "approve").outcome == "approved"

    stop = threading.Event()
    collected = []
    collector = threading.Thread(target=lambda: collected.append(collect_secure(
        connect(url), log, stop, from_start=True, poll_interval=0.02, batch=10,
        spool=Spool(tmp_path / "spool"))))
    detectors = [Detector(url, name) for name in ("d-1", "d-2")]
    threads = [collector] + [threading.Thread(target=d.consumer.run, args=(stop,))
                             for d in detectors]
    for thread in threads:
        thread.start()
    check = deployment.replica_view()
    try:
        half = len(lines) // 2
        for start in range(0, half, 20):
            append(log, lines[start:start + 20])
            time.sleep(0.02)
        deadline = time.monotonic() + 30
        while check.xlen(EVENTS) < half // 2:  # the storm is under way on the master
            assert time.monotonic() < deadline, "the first events never reached the replica"
            time.sleep(0.02)
        deployment.kill_master()
        for start in range(half, len(lines), 20):  # lines keep coming during the failover
            append(log, lines[start:start + 20])
            time.sleep(0.02)
        deployment.wait_for_failover()
        # The old master returns as the new master's replica: until then no replica can
        # confirm a batch, so the collector keeps them in its spool.
        deployment.restart_old_master()
        deadline = time.monotonic() + 90
        while (check.xlen(EVENTS) < len(lines) or check.xinfo_groups(EVENTS)[0]["pending"]
               or check.xinfo_groups(EVENTS)[0]["lag"]):
            assert time.monotonic() < deadline, (
                f"the pipeline did not catch up after failover: {check.xlen(EVENTS)} events, "
                f"group {check.xinfo_groups(EVENTS)}")
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not any(t.is_alive() for t in threads)

    stored = Counter(loads(f[b"e"])["message"] for _i, f in check.xrange(EVENTS))
    lost_events = len(lines) - len(stored)
    doubled_events = sum(n - 1 for n in stored.values())
    kinds = Counter(f[b"kind"] for _i, f in check.xrange(ALERTS))
    alerts = AlertStore(check).open_alerts()
    per_address = Counter(a.entity["value"] for a in alerts)
    lost_alerts = len(set(ADDRESSES) - set(per_address))
    doubled_alerts = kinds[b"new"] - len(per_address) + sum(n - 1 for n in per_address.values())
    print(f"\n{deployment.name} failover: {len(lines)} events, lost {lost_events}, doubled "
          f"{doubled_events}; {len(ADDRESSES)} alerts expected, lost {lost_alerts}, doubled "
          f"{doubled_alerts}; collector spooled {collected[0].spooled} batches")
    assert (lost_events, doubled_events, lost_alerts, doubled_alerts) == (0, 0, 0, 0)
    assert {a.count for a in alerts} == {PER_ADDRESS}  # every event counted once
    assert collected[0].spooled > 0  # the collector did ride out the failover on its spool

    # The approval given before the kill is on the promoted replica: its token stays spent.
    after = ActionStore(connect(url))
    again = after.decide(request.id, "bob", request.token, "approve")
    assert not again.accepted and again.outcome in ("stale", "closed")
    queued = [f[b"action_id"] for _i, f in check.xrange(ACTIONS)]
    assert queued == [request.id.encode()]  # queued for its run once
