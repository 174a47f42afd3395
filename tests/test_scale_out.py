"""Scale out: detection workers in one consumer group share a stream without duplicating work.

Each worker is what ``socbot run --role detect`` runs: a :class:`DetectionWorker` behind a
:class:`Consumer` in group ``detect``. Redis hands each entry to one consumer; the alert store's
Lua script groups signals atomically, so two workers seeing one storm open one alert.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import redis

from socbot.core.alerts import AlertStore
from socbot.core.events import Event, dumps
from socbot.core.streams import ALERTS, EVENTS, Consumer, Producer
from socbot.detections.engine import Engine
from socbot.detections.rule import load_all
from socbot.detections.worker import DetectionWorker

ADDRESSES = [f"198.51.100.{n}" for n in range(1, 9)]
PER_ADDRESS = 40


def failure(n: int, ip: str) -> Event:
    return {
        "@timestamp": f"2026-11-23T03:{n // 60:02d}:{n % 60:02d}Z",
        "event.id": f"scale-{ip}-{n}", "event.dataset": "secure", "event.action": "ssh_login",
        "event.outcome": "failure", "source.ip": ip, "user.name": "root",
        "host.name": f"web{n % 4}",
    }


def storm(client: redis.Redis) -> int:
    """Interleaved brute-force storms from several addresses; returns how many events."""
    entries = [{"e": dumps(failure(n, ip))} for n in range(PER_ADDRESS) for ip in ADDRESSES]
    Producer(client).add_many(EVENTS, entries)
    return len(entries)


class Worker:
    """One detection worker process: its own engine, handler and consumer name."""

    def __init__(self, client: redis.Redis, name: str, **consumer: int) -> None:
        worker = DetectionWorker(client, Engine(client, load_all()))
        self.handled: list[str] = []

        def handle_batch(entries: list[tuple[str, dict[str, str]]]) -> dict[str, Exception]:
            failures = worker.handle_batch(entries)
            self.handled += [entry_id for entry_id, _ in entries if entry_id not in failures]
            return failures

        self.consumer = Consumer(client, EVENTS, "detect", name, worker.handle,
                                 batch_handler=handle_batch, **consumer)


def run_until_done(client: redis.Redis, workers: list[Worker], total: int) -> None:
    stop = threading.Event()
    threads = [threading.Thread(target=w.consumer.run, args=(stop,), daemon=True)
               for w in workers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60  # a bound that only a hang reaches
    while sum(len(w.handled) for w in workers) < total and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(10)


def check_one_alert_per_address(client: redis.Redis) -> None:
    alerts = AlertStore(client).open_alerts()
    assert sorted(a.entity["value"] for a in alerts) == sorted(ADDRESSES)
    kinds = Counter(f[b"kind"] for _, f in client.xrange(ALERTS))
    assert kinds[b"new"] == len(ADDRESSES)
    # Exact, also when two workers cross the threshold at once: each event is counted by one
    # signal only (see detections/state/threshold.py).
    assert {a.count for a in alerts} == {PER_ADDRESS}


def test_two_workers_in_one_group_process_each_event_once(redis_client: redis.Redis) -> None:
    total = storm(redis_client)
    workers = [Worker(redis_client, name, batch=10, block_ms=50) for name in ("d-1", "d-2")]
    run_until_done(redis_client, workers, total)
    first, second = (set(w.handled) for w in workers)
    assert len(first) + len(second) == total
    assert not first & second  # no event was handled by both
    assert first and second  # and both took part
    info = redis_client.xinfo_groups(EVENTS)[0]
    assert info["pending"] == 0
    check_one_alert_per_address(redis_client)


def test_a_dead_workers_entries_are_reclaimed_without_duplicate_alerts(
        redis_client: redis.Redis) -> None:
    total = storm(redis_client)
    live = Worker(redis_client, "d-live", batch=10, block_ms=50, min_idle_ms=100)
    # A worker that read a batch and died before acknowledging it.
    taken = redis_client.xreadgroup("detect", "d-dead", {EVENTS: ">"}, count=25)
    assert len(taken[0][1]) == 25
    time.sleep(0.15)  # the entries are now idle for longer than min_idle_ms
    run_until_done(redis_client, [live], total)
    assert len(live.handled) == total
    assert live.consumer.stats.reclaimed == 25
    check_one_alert_per_address(redis_client)
