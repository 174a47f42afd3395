"""The detection engine: dispatch, isolation of broken rules, thresholds and grouping."""

from __future__ import annotations

import redis

from core.alerts import AlertStore
from core.config import RuleSettings
from core.events import Event, dumps
from core.streams import ALERTS, EVENTS, Consumer, Producer
from detections.engine import Engine
from detections.rule import Match, Rule, Threshold, load_all
from detections.worker import DetectionWorker


def failure(n: int, ip: str = "203.0.113.7", second: int | None = None) -> Event:
    second = n if second is None else second
    return {
        "@timestamp": f"2026-11-23T03:{second // 60:02d}:{second % 60:02d}Z",
        "event.id": f"e{ip}-{n}", "event.dataset": "secure", "event.action": "ssh_login",
        "event.outcome": "failure", "source.ip": ip, "user.name": "root", "host.name": "web1",
    }


def make_rule(function, **kw) -> Rule:  # type: ignore[no-untyped-def]
    defaults = dict(id="test.rule", title="t", severity="low", datasets=("secure",),
                    function=function, actions=("ssh_login",))
    defaults.update(kw)
    return Rule(**defaults)  # type: ignore[arg-type]


def test_an_event_meets_only_rules_indexed_for_its_action(redis_client: redis.Redis) -> None:
    seen: list[str] = []
    rules = {
        "a": make_rule(lambda e: seen.append("a"), id="a", actions=("ssh_login",)),
        "b": make_rule(lambda e: seen.append("b"), id="b", actions=("sudo",)),
        "c": make_rule(lambda e: seen.append("c"), id="c", datasets=("cloudtrail",),
                       actions=None),
        "d": make_rule(lambda e: seen.append("d"), id="d", actions=None),
    }
    Engine(redis_client, rules).evaluate(failure(1))
    assert sorted(seen) == ["a", "d"]


def test_a_rule_that_raises_is_isolated_and_counted(redis_client: redis.Redis) -> None:
    def broken(event: Event) -> bool:
        raise KeyError("boom")

    rules = {"broken": make_rule(broken, id="broken"),
             "fine": make_rule(lambda e: True, id="fine")}
    engine = Engine(redis_client, rules)
    signals = engine.evaluate(failure(1))
    assert [s.rule_id for s in signals] == ["fine"]
    assert engine.errors == {"broken": 1}


def test_threshold_counts_on_event_time_within_the_window(redis_client: redis.Redis) -> None:
    rule = make_rule(lambda e: True, threshold=Threshold(by="source.ip", count=3, window_s=60))
    engine = Engine(redis_client, {rule.id: rule})
    # Three failures spread over more than a minute never fill one window.
    spread = [engine.evaluate(failure(n, second=n * 40)) for n in range(3)]
    assert spread == [[], [], []]
    close = [engine.evaluate(failure(n, ip="198.51.100.1", second=n)) for n in range(3)]
    assert [len(s) for s in close] == [0, 0, 1]
    assert close[2][0].count == 3


def test_a_redelivered_event_is_not_counted_twice(redis_client: redis.Redis) -> None:
    rule = make_rule(lambda e: True, threshold=Threshold(by="source.ip", count=2, window_s=60))
    engine = Engine(redis_client, {rule.id: rule})
    assert engine.evaluate(failure(1)) == []
    assert engine.evaluate(failure(1)) == []
    assert len(engine.evaluate(failure(2))) == 1


def test_overrides_change_severity_threshold_and_disable(redis_client: redis.Redis) -> None:
    rules = load_all()
    engine = Engine(redis_client, rules, {
        "secure.ssh_brute_force": RuleSettings(severity="critical", params={"count": 2}),
        "cloudtrail.sg_open_to_world": RuleSettings(enabled=False),
    })
    assert "cloudtrail.sg_open_to_world" not in engine.rules
    engine.evaluate(failure(1))
    signals = engine.evaluate(failure(2))
    assert signals and signals[0].severity == "critical"


def test_an_override_for_an_unknown_rule_names_the_known_ones(redis_client: redis.Redis) -> None:
    try:
        Engine(redis_client, load_all(), {"secure.ssh_brute": RuleSettings()})
    except ValueError as exc:
        assert "secure.ssh_brute_force" in str(exc)
    else:
        raise AssertionError("an unknown rule id was accepted")


def test_a_storm_from_one_address_is_one_alert_whose_count_grows(
        redis_client: redis.Redis) -> None:
    engine = Engine(redis_client, load_all())
    worker = DetectionWorker(redis_client, engine)
    producer = Producer(redis_client)
    for n in range(50):
        producer.add(EVENTS, {"e": dumps(failure(n))})
    for n in range(20):
        producer.add(EVENTS, {"e": dumps(failure(n, ip="198.51.100.9"))})
    consumer = Consumer(redis_client, EVENTS, "detect", "t", worker.handle)
    while consumer.step(block_ms=0):
        pass
    alerts = AlertStore(redis_client).open_alerts()
    assert sorted(a.entity["value"] for a in alerts) == ["198.51.100.9", "203.0.113.7"]
    counts = {a.entity["value"]: a.count for a in alerts}
    assert counts == {"203.0.113.7": 50, "198.51.100.9": 20}
    kinds = [f[b"kind"] for _, f in redis_client.xrange(ALERTS)]
    assert kinds.count(b"new") == 2


def test_a_rule_match_sets_dedup_and_entity(redis_client: redis.Redis) -> None:
    rule = make_rule(lambda e: Match(dedup="k", entity={"type": "user", "value": "root"},
                                     context={"extra": 1}))
    signal = Engine(redis_client, {rule.id: rule}).evaluate(failure(1))[0]
    assert (signal.dedup_key, signal.entity["value"], signal.context["extra"]) == ("k", "root", 1)
    assert signal.context["source.ip"] == "203.0.113.7"
