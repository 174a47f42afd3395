"""The detect stage folds a batch's signals per alert: exact counts, news only, redelivery safe.

Workers here are what ``socbot run --role detect`` runs: a :class:`DetectionWorker` whose
``handle_batch`` a :class:`Consumer` calls with each batch it reads. To interleave two workers
at the worst moments, a test runs a worker's two steps by hand: the engine's evaluation of its
batch (state in Redis) and the write of its folded signals (alerts and ``{soc}:alerts``).
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
import redis

from socbot.core.alerts import AlertStore, Signal
from socbot.core.events import Event, dumps, loads
from socbot.core.grouping import fold
from socbot.core.keys import NOTIFY_DIRTY
from socbot.core.streams import ALERTS, EVENTS, Consumer, Producer
from socbot.detections.engine import Engine
from socbot.detections.rule import load_all
from socbot.detections.worker import DetectionWorker

RULE = "secure.ssh_brute_force"  # eight failures from one address within 120 s


def failure(n: int, ip: str = "203.0.113.7") -> Event:
    second = n // 10  # ten failures a second: every window holds the storm
    return {
        "@timestamp": f"2026-11-23T03:{second // 60 % 60:02d}:{second % 60:02d}Z",
        "event.id": f"b-{ip}-{n}", "event.dataset": "secure", "event.action": "ssh_login",
        "event.outcome": "failure", "source.ip": ip, "user.name": "root", "host.name": "web1",
    }


def worker(client: redis.Redis) -> DetectionWorker:
    return DetectionWorker(client, Engine(client, load_all()))


def evaluate(w: DetectionWorker, events: list[Event]) -> list[Signal]:
    """A worker's first step, as the detect stage takes it: its batch through the engine (the
    state in Redis moves), signals merged, then the entity-risk pass."""
    out = w.engine.evaluate_events(events, merge=True)
    w.engine.signal_stage(events, out)
    return [s for found in out for s in found]


def counts(client: redis.Redis) -> dict[str, int]:
    return {a.entity["value"]: a.count for a in AlertStore(client).open_alerts(1000)
            if a.rule_id == RULE}


def consumer(client: redis.Redis, w: DetectionWorker, name: str, **options: int) -> Consumer:
    c = Consumer(client, EVENTS, "detect", name, w.handle, batch=500, block_ms=0, **options)
    c.batch_handler = w.handle_batch
    return c


def drain(c: Consumer) -> None:
    while c.step(block_ms=0):
        pass


def test_a_storm_is_one_alert_with_an_exact_count_and_one_entry(
        redis_client: redis.Redis) -> None:
    Producer(redis_client).add_many(EVENTS, [{"e": dumps(failure(n))} for n in range(5000)])
    drain(consumer(redis_client, worker(redis_client), "d-1"))

    assert counts(redis_client) == {"203.0.113.7": 5000}
    # Only news on {soc}:alerts: the alert opened; its growing count is a dirty mark for the
    # notifier's coalesced updates, not 4,999 entries.
    entries = [f for _, f in redis_client.xrange(ALERTS)]
    [alert] = AlertStore(redis_client).open_alerts()
    assert entries == [{b"alert_id": alert.id.encode(), b"kind": b"new"}]
    assert int(redis_client.hget(NOTIFY_DIRTY, alert.id) or 0) > 0
    assert alert.first_seen < alert.last_seen and len(alert.event_ids) == 20


def test_a_worker_writing_late_does_not_count_an_event_twice(redis_client: redis.Redis) -> None:
    a, b = worker(redis_client), worker(redis_client)
    events = [failure(n) for n in range(16)]
    # A's batch crosses the threshold; before A writes, B's batch crosses too (its window
    # already holds A's events) and writes first. Counting each signal's window would give 17.
    late = evaluate(a, events[:8])
    b.record(evaluate(b, events[8:]))
    a.record(late)
    assert counts(redis_client) == {"203.0.113.7": 16}


def test_an_event_behind_a_crossing_on_another_worker_is_counted(
        redis_client: redis.Redis) -> None:
    a, b = worker(redis_client), worker(redis_client)
    events = [failure(n * 10) for n in range(10)]  # one a second
    # B sees events 0-5, 7 and 8 (8 in its window: it crosses); A sees 6 only afterwards,
    # when its own window holds 7: still part of the storm, and counted.
    b.record(evaluate(b, events[:6] + events[7:9]))
    a.record(evaluate(a, [events[6]]))
    b.record(evaluate(b, [events[9]]))
    assert counts(redis_client) == {"203.0.113.7": 10}


def test_two_workers_interleaved_at_random_count_every_event_once(
        redis_client: redis.Redis) -> None:
    addresses = [f"198.51.100.{n}" for n in range(1, 6)]
    for seed in range(5):
        redis_client.flushdb()
        rnd = random.Random(seed)
        events = [failure(n, ip) for n in range(60) for ip in addresses]
        workers = [worker(redis_client), worker(redis_client)]
        # Batches of 1-30 events in stream order, each taken by either worker; a batch's
        # write may wait while the other worker evaluates and writes its next batches.
        waiting: list[tuple[DetectionWorker, list[Signal]]] = []
        start = 0
        while start < len(events):
            size = rnd.randint(1, 30)
            w = rnd.choice(workers)
            waiting.append((w, evaluate(w, events[start:start + size])))
            start += size
            while waiting and rnd.random() < 0.5:
                done = waiting.pop(rnd.randrange(len(waiting)))
                done[0].record(done[1])
        for w, signals in waiting:
            w.record(signals)
        assert counts(redis_client) == dict.fromkeys(addresses, 60), f"seed {seed}"
        kinds = Counter(f[b"kind"] for _, f in redis_client.xrange(ALERTS))
        assert kinds == {b"new": len(addresses)}, f"seed {seed}"


def test_a_worker_that_dies_after_evaluating_loses_nothing(redis_client: redis.Redis) -> None:
    Producer(redis_client).add_many(EVENTS, [{"e": dumps(failure(n))} for n in range(300)])
    live = consumer(redis_client, worker(redis_client), "d-live", min_idle_ms=100)
    dead = worker(redis_client)
    # The dead worker read 100 entries, moved the state in Redis, and died before writing.
    taken = redis_client.xreadgroup("detect", "d-dead", {EVENTS: ">"}, count=100)
    batch = [(i.decode(), {k.decode(): v.decode() for k, v in f.items()})
             for i, f in taken[0][1]]
    evaluate(dead, [loads(f["e"]) for _, f in batch])
    time.sleep(0.15)  # idle for longer than min_idle_ms: the live worker reclaims them
    drain(live)
    assert live.stats.reclaimed == 100
    assert counts(redis_client) == {"203.0.113.7": 300}
    assert redis_client.xlen(ALERTS) == 1


def test_a_worker_that_dies_with_a_batch_read_ahead_loses_nothing(
        redis_client: redis.Redis) -> None:
    """A detect worker in a backlog holds two batches: the one it handles and the one it asked
    for ahead. It dies mid-batch (its alert write never sent): another reclaims both."""
    Producer(redis_client).add_many(EVENTS, [{"e": dumps(failure(n))} for n in range(1500)])
    first = consumer(redis_client, worker(redis_client), "d-first")
    first.read_ahead = True
    first.step(block_ms=0)  # 500 handled; 500 more read ahead

    def dies(entries: object) -> dict[str, Exception]:
        raise SystemExit("killed")  # mid-batch: evaluated nothing, acknowledged nothing

    first.batch_handler = dies
    try:
        first.step(block_ms=0)
    except SystemExit:
        pass
    deadline = time.monotonic() + 5  # the read ahead runs on a connection of its own
    while (int(redis_client.xpending(EVENTS, "detect")["pending"]) < 1000
           and time.monotonic() < deadline):
        time.sleep(0.01)
    assert int(redis_client.xpending(EVENTS, "detect")["pending"]) == 1000
    time.sleep(0.15)
    second = consumer(redis_client, worker(redis_client), "d-second", min_idle_ms=100)
    drain(second)
    assert second.stats.reclaimed == 1000
    assert counts(redis_client) == {"203.0.113.7": 1500}
    assert redis_client.xinfo_groups(EVENTS)[0]["pending"] == 0


def test_a_batch_written_twice_adds_nothing(redis_client: redis.Redis) -> None:
    Producer(redis_client).add_many(EVENTS, [{"e": dumps(failure(n))} for n in range(300)])
    live = consumer(redis_client, worker(redis_client), "d-live", min_idle_ms=100)
    dead = worker(redis_client)
    # The dead worker handled its batch completely and died before acknowledging it.
    taken = redis_client.xreadgroup("detect", "d-dead", {EVENTS: ">"}, count=100)
    dead.handle_batch([(i.decode(), {k.decode(): v.decode() for k, v in f.items()})
                       for i, f in taken[0][1]])
    assert counts(redis_client) == {"203.0.113.7": 100}
    time.sleep(0.15)
    drain(live)
    assert live.stats.reclaimed == 100
    assert counts(redis_client) == {"203.0.113.7": 300}
    assert redis_client.xlen(ALERTS) == 1
    assert redis_client.xinfo_groups(EVENTS)[0]["pending"] == 0


def test_an_entry_without_a_valid_event_fails_alone(redis_client: redis.Redis) -> None:
    Producer(redis_client).add_many(EVENTS, [{"e": dumps(failure(n))} for n in range(10)]
                                    + [{"e": "{not json"}])
    c = consumer(redis_client, worker(redis_client), "d-1", max_deliveries=1)
    drain(c)
    assert counts(redis_client) == {"203.0.113.7": 10}
    assert (c.stats.handled, c.stats.dead_lettered) == (10, 1)
    assert redis_client.xlen("{soc}:dead") == 1


def test_alerts_are_written_while_the_signals_meet_the_risk_rules(
        redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """The write of a batch's alerts goes out before the entity-risk pass over its signals (Redis
    runs it meanwhile); the risk alert that pass raises is written after, in the same batch."""
    w = worker(redis_client)
    watcher = redis.Redis(connection_pool=redis_client.connection_pool)
    seen_during_stage: list[bool] = []
    stage = w.engine.signal_stage

    def watched(events: list[Event], out: list[list[Signal]]) -> list[Signal]:
        deadline = time.monotonic() + 5
        while not counts(watcher) and time.monotonic() < deadline:
            time.sleep(0.01)
        seen_during_stage.append(bool(counts(watcher)))
        return stage(events, out)

    monkeypatch.setattr(w.engine, "signal_stage", watched)
    success = {**failure(20), "event.outcome": "success", "event.id": "b-ok"}
    Producer(redis_client).add_many(
        EVENTS, [{"e": dumps(e)} for e in [*(failure(n) for n in range(20)), success]])
    drain(consumer(redis_client, w, "d-1"))

    assert seen_during_stage == [True]
    assert counts(redis_client) == {"203.0.113.7": 20}  # the crossing stands for the 7 before
    rules = Counter(a.rule_id for a in AlertStore(redis_client).open_alerts(100))
    assert rules["correlation.entity_risk"] == 1
    assert rules["secure.success_after_failures"] == 1
    assert redis_client.xinfo_groups(EVENTS)[0]["pending"] == 0


def _answers(signals: list[list[Signal]]) -> list[list[tuple[object, ...]]]:
    return [sorted((s.rule_id, s.count, s.adds, s.context.get("window"),
                    s.context.get("distinct"), s.context.get("risk_score")) for s in found)
            for found in signals]


def _windows(client: redis.Redis) -> dict[bytes, list[tuple[bytes, float]]]:
    return {key: client.zrange(key, 0, -1, withscores=True)
            for pattern in ("{soc}:win:*", "{soc}:st:*")
            for key in client.scan_iter(pattern) if client.type(key) == b"zset"}


def test_one_batch_answers_exactly_as_one_event_at_a_time(redis_client: redis.Redis) -> None:
    # Many events per second (the state script carries a key's count from one operation to
    # the next at the same time), seconds out of order, weighted lines, users coming back at
    # an earlier and a later time, and an event repeated inside the batch. (Out of order by
    # less than a window: upkeep after every event would drop what a batch still counts.)
    rng = random.Random(11)
    events: list[Event] = []
    for n in range(400):
        second = rng.choice((0, 0, 1, 1, 1, 2, 5, 3, 30, 31))
        event = failure(n, ip=f"203.0.113.{rng.randint(1, 3)}")
        event["@timestamp"] = f"2026-11-23T03:{second // 60:02d}:{second % 60:02d}Z"
        event["user.name"] = rng.choice(("root", "alice", "bob", "carol", "dave", "erin"))
        if rng.random() < 0.1:
            event["system.auth.count"] = rng.randint(2, 4)
        events.append(event)
    events += [dict(events[n]) for n in (3, 50, 51, 200)]
    engine = Engine(redis_client, load_all())
    together = _answers(engine.evaluate_batch(events))
    kept = _windows(redis_client)
    redis_client.flushdb()
    engine = Engine(redis_client, load_all())
    alone = _answers([engine.evaluate_batch([event])[0] for event in events])

    assert together == alone
    assert kept == _windows(redis_client)  # and the next batch starts from the same state
    assert sum(1 for found in together for a in found if a[0] == RULE) > 300
    assert any(a[0] == "secure.password_spraying" for found in together for a in found)


def _mixed_traffic(seed: int) -> list[Event]:
    """Failures and a few successes from three addresses on two hosts, several users, seconds
    out of order and gaps longer than the brute-force rule's alert window (a new alert)."""
    rng = random.Random(seed)
    window = load_all()[RULE].dedup_window_s
    events: list[Event] = []
    base = 0.0
    for n in range(600):
        if rng.random() < 0.01:
            base += window + rng.randint(1, 600)  # a quiet spell: the next signals open anew
        second = int(base) + rng.choice((0, 0, 1, 1, 2, 3, 7))
        base += rng.choice((0, 0, 0.2, 1))
        event = failure(n, ip=f"203.0.113.{rng.randint(1, 3)}")
        event["@timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1795000000 + second))
        event["host.name"] = rng.choice(("web1", "web1", "web2"))
        event["user.name"] = rng.choice(("root", "root", "root", "admin", "oracle"))
        if rng.random() < 0.02:
            event["event.outcome"] = "success"
        events.append(event)
    return events


def _alerts(client: redis.Redis) -> dict[tuple[str, str, float], tuple[object, ...]]:
    """Every alert as people and the notifier see it, by rule, dedup key and first seen (the
    alert id is random), with the ids of the signals it counted."""
    out = {}
    for alert in AlertStore(client).open_alerts(10_000):
        members = sorted(client.smembers(f"{{soc}}:alert:{alert.id}:signals"))
        if "signals" in alert.context:
            # The entity-risk pass sees a merged run of signals once, so which signal of a rule
            # last refreshed an entity's risk (the title it lists) may differ: the rules, their
            # severities and the score may not.
            alert.context["signals"] = sorted(part.split(":")[0] for part
                                              in alert.context["signals"].split("; "))
        out[(alert.rule_id, alert.dedup_key, alert.first_seen)] = (
            alert.count, alert.last_seen, alert.severity, alert.title, alert.context,
            alert.entity, alert.event_ids, members)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_merged_signals_write_the_alerts_that_signals_one_by_one_write(
        redis_client: redis.Redis, seed: int) -> None:
    """The detect stage merges a batch's signals that differ only by event, time and counts;
    the alerts it writes (counts, times, severity, context, recent events, counted signals)
    are those the unmerged signals write, batch after batch."""
    events = _mixed_traffic(seed)
    found: dict[bool, dict[tuple[str, str, float], tuple[object, ...]]] = {}
    signals: dict[bool, int] = {}
    for merge in (False, True):
        redis_client.flushdb()
        w = worker(redis_client)
        signals[merge] = 0
        for start in range(0, len(events), 150):
            batch = events[start:start + 150]
            out = w.engine.evaluate_events(batch, merge=merge)
            w.engine.signal_stage(batch, out)
            flat = [s for one in out for s in one]
            signals[merge] += len(flat)
            places = {id(s): place for place, one in enumerate(out) for s in one}
            w.writer.write(fold(flat, places), now=1795000000.0)
        found[merge] = _alerts(redis_client)
    assert found[True] == found[False]
    assert len(found[True]) > 6  # alerts of several rules, addresses and spells
    assert {key[0] for key in found[True]} >= {RULE, "secure.success_after_failures"}
    assert signals[True] < signals[False] / 3  # merged: far fewer signals were built


def test_a_merged_signal_stands_for_each_of_its_events(redis_client: redis.Redis) -> None:
    events = [failure(n) for n in range(40)]
    events[20]["host.name"] = "web2"  # other triage fields: a signal of its own
    out = worker(redis_client).engine.evaluate_events(events, merge=True)
    found = [(n, s) for n, one in enumerate(out) for s in one]
    # The crossing (the eighth failure) opens a signal; the later failures from web1 join it,
    # the one from web2 is its own signal, under its own event.
    assert [(n, s.event_ids, len(s.merged)) for n, s in found] == [
        (7, ["b-203.0.113.7-7"], 31), (20, ["b-203.0.113.7-20"], 0)]
    head = found[0][1]
    assert [m[0] for m in head.merged] == [f"b-203.0.113.7-{n}" for n in range(8, 40)
                                           if n != 20]
    assert head.adds == 8 and {m[2] for m in head.merged} == {1}
    assert [m[3] for m in head.merged] == [n for n in range(8, 40) if n != 20]  # places
    assert head.to_dict()["merged"][0] == ("b-203.0.113.7-8", head.merged[0][1], 1, 8)


def test_replay_and_the_engine_alone_never_merge(redis_client: redis.Redis) -> None:
    events = [failure(n) for n in range(40)]
    out = Engine(redis_client, load_all()).evaluate_batch(events)
    brute = [s for one in out for s in one if s.rule_id == RULE]
    assert len(brute) == 33 and not any(s.merged for s in brute)
