"""The detection engine: dispatch, isolation of broken rules, thresholds and grouping."""

from __future__ import annotations

import pytest
import redis
from redis.connection import AbstractConnection

from socbot.core.alerts import AlertStore, Signal
from socbot.core.config import RuleSettings
from socbot.core.events import Event, dumps
from socbot.core.streams import ALERTS, EVENTS, Consumer, Producer
from socbot.detections.engine import PART, Engine
from socbot.detections.rule import Match, Rule, Threshold, load_all
from socbot.detections.worker import DetectionWorker


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
    rule = make_rule(lambda e: True, state=Threshold(by="source.ip", count=3, window_s=60))
    engine = Engine(redis_client, {rule.id: rule})
    # Three failures spread over more than a minute never fill one window.
    spread = [engine.evaluate(failure(n, second=n * 40)) for n in range(3)]
    assert spread == [[], [], []]
    close = [engine.evaluate(failure(n, ip="198.51.100.1", second=n)) for n in range(3)]
    assert [len(s) for s in close] == [0, 0, 1]
    assert close[2][0].count == 3


def test_a_redelivered_event_is_not_counted_twice(redis_client: redis.Redis) -> None:
    rule = make_rule(lambda e: True, state=Threshold(by="source.ip", count=2, window_s=60))
    engine = Engine(redis_client, {rule.id: rule})
    assert engine.evaluate(failure(1)) == []
    assert engine.evaluate(failure(1)) == []
    assert len(engine.evaluate(failure(2))) == 1


def test_a_weighted_match_counts_that_many_times_once(redis_client: redis.Redis) -> None:
    # "message repeated 3 times": one event that stands for three; redelivered, still three.
    rule = make_rule(lambda e: Match(weight=3), state=Threshold(by="source.ip", count=4,
                                                                window_s=60))
    engine = Engine(redis_client, {rule.id: rule})
    assert engine.evaluate(failure(1)) == []
    assert engine.evaluate(failure(1)) == []
    signals = engine.evaluate(failure(2))
    assert len(signals) == 1 and signals[0].count == 6


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


# -- stateful primitives -------------------------------------------------------------------

def event(n: int, action: str = "ssh_login", outcome: str = "failure", second: int | None = None,
          **fields: object) -> Event:
    base = failure(n, second=second)
    base.update({"event.id": f"x{n}", "event.action": action, "event.outcome": outcome})
    base.update(fields)
    return base


def test_distinct_counts_values_per_key_not_events(redis_client: redis.Redis) -> None:
    from socbot.detections.rule import Distinct

    rule = make_rule(lambda e: True, state=Distinct(by="source.ip", field="user.name", count=3,
                                                     window_s=60))
    engine = Engine(redis_client, {rule.id: rule})
    same_user = [engine.evaluate(event(n, **{"user.name": "root"})) for n in range(5)]
    assert same_user == [[]] * 5
    fired = [engine.evaluate(event(10 + n, **{"user.name": f"u{n}"})) for n in range(2)]
    assert [len(f) for f in fired] == [0, 1]
    assert fired[1][0].context["distinct"] == "3 user.name in 60s"


def test_first_seen_needs_history_and_fires_once_per_value(redis_client: redis.Redis) -> None:
    from socbot.detections.rule import FirstSeen

    rule = make_rule(lambda e: True, state=FirstSeen(by="user.name", field="source.ip"))
    engine = Engine(redis_client, {rule.id: rule})
    assert engine.evaluate(event(1, **{"source.ip": "192.0.2.1"})) == []  # no history yet
    assert engine.evaluate(event(2, **{"source.ip": "192.0.2.1"})) == []  # known value
    new = engine.evaluate(event(3, **{"source.ip": "198.51.100.1"}))
    assert len(new) == 1
    # A redelivered event gets the same verdict: it still owns the value it brought.
    assert len(engine.evaluate(event(3, **{"source.ip": "198.51.100.1"}))) == 1
    assert engine.evaluate(event(4, **{"source.ip": "198.51.100.1"})) == []


def test_sequence_fires_on_b_after_enough_a_within_t(redis_client: redis.Redis) -> None:
    from socbot.detections.rule import Sequence

    def fn(e: Event) -> Match:
        return Match(step="first") if e["event.outcome"] == "failure" else Match()

    rule = make_rule(fn, state=Sequence(by="source.ip", within_s=60, count=2))
    engine = Engine(redis_client, {rule.id: rule})
    assert engine.evaluate(event(1, second=0)) == []
    assert engine.evaluate(event(2, outcome="success", second=1)) == []  # one A only
    assert engine.evaluate(event(3, second=2)) == []
    fired = engine.evaluate(event(4, outcome="success", second=3))
    assert len(fired) == 1 and fired[0].context["after"] == "2 earlier within 60s"
    # B long after the A events: they are out of the window.
    assert engine.evaluate(event(5, outcome="success", second=200)) == []


def test_join_meets_two_sources_on_one_key_in_either_order(redis_client: redis.Redis) -> None:
    from socbot.detections.rule import Join

    def fn(e: Event) -> Match:
        return Match(key=str(e["user.name"]), step=str(e["side"]), context={"at": e["side"]})

    rule = make_rule(fn, state=Join(within_s=60, sides=("badge", "login")))
    engine = Engine(redis_client, {rule.id: rule})
    assert engine.evaluate(event(1, second=0, side="login", **{"user.name": "ann"})) == []
    assert engine.evaluate(event(2, second=5, side="login", **{"user.name": "bob"})) == []
    fired = engine.evaluate(event(3, second=30, side="badge", **{"user.name": "ann"}))
    assert len(fired) == 1 and fired[0].entity["value"] == "ann"
    assert engine.evaluate(event(4, second=500, side="badge", **{"user.name": "bob"})) == []


def test_recent_hands_confirm_the_earlier_events(redis_client: redis.Redis) -> None:
    from socbot.detections.rule import Recent, State

    seen: list[State] = []

    def confirm(match: Match, state: State, ctx: object) -> Match | None:
        seen.append(state)
        return match if state.records else None

    rule = make_rule(lambda e: Match(context={"n": e["event.id"]}),
                     state=Recent(by="user.name", within_s=60), confirm=confirm)
    engine = Engine(redis_client, {rule.id: rule})
    assert engine.evaluate(event(1, second=0)) == []
    assert len(engine.evaluate(event(2, second=10))) == 1
    assert [r["n"] for r in seen[-1].records] == ["x1"]


def test_entity_risk_adds_distinct_rules_for_one_entity(redis_client: redis.Redis) -> None:
    from socbot.detections.rule import Risk

    low = make_rule(lambda e: True, id="low", severity="medium", entity_type="ip",
                    dedup_by="source.ip")
    high = make_rule(lambda e: e["event.outcome"] == "success", id="high", severity="high",
                     dedup_by="source.ip")
    risk = make_rule(lambda e: Match(key=str(e.get("source.ip", ""))), id="risk",
                     datasets=("signal",), actions=None, severity="high",
                     state=Risk(threshold=75, window_s=3600))
    engine = Engine(redis_client, {r.id: r for r in (low, high, risk)})
    first = engine.evaluate(event(1))
    assert [s.rule_id for s in first] == ["low"]
    assert [s.rule_id for s in engine.evaluate(event(2))] == ["low"]  # one rule twice: 25
    both = engine.evaluate(event(3, outcome="success"))
    assert sorted(s.rule_id for s in both) == ["high", "low", "risk"]
    insight = next(s for s in both if s.rule_id == "risk")
    assert insight.context["risk_score"] == 75 and "low (medium)" in insight.context["signals"]


def test_stateless_rules_make_no_redis_round_trip(redis_client: redis.Redis) -> None:
    class NoRedis:
        def pipeline(self, *a: object, **k: object) -> object:
            raise AssertionError("a stateless rule reached Redis")

    rule = make_rule(lambda e: True)
    engine = Engine(NoRedis(), {rule.id: rule})  # type: ignore[arg-type]
    assert len(engine.evaluate_batch([failure(n) for n in range(10)])) == 10


def test_a_batch_of_events_shares_one_round_trip(redis_client: redis.Redis,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rule = make_rule(lambda e: True, state=Threshold(by="source.ip", count=3, window_s=60))
    engine = Engine(redis_client, {rule.id: rule})
    calls = []
    original = AbstractConnection.send_command

    def counting(self: AbstractConnection, *a: object, **k: object) -> None:
        calls.append(a[0])
        original(self, *a, **k)

    # Every command the engine sends, whichever way it goes (a client's command or a call
    # sent on a connection of the pool, its reply read later).
    monkeypatch.setattr(AbstractConnection, "send_command", counting)
    out = engine.evaluate_batch([failure(n) for n in range(5)])
    assert [len(s) for s in out] == [0, 0, 1, 1, 1]
    assert calls in (["EVAL"], ["EVALSHA"], ["SCRIPT LOAD", "EVALSHA"])


def test_a_large_batch_is_sent_in_parts_on_one_connection(redis_client: redis.Redis,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rule = make_rule(lambda e: True, state=Threshold(by="source.ip", count=3, window_s=60))
    engine = Engine(redis_client, {rule.id: rule})
    sent: list[tuple[int, object]] = []
    original = AbstractConnection.send_command

    def counting(self: AbstractConnection, *a: object, **k: object) -> None:
        sent.append((id(self), a[0]))
        original(self, *a, **k)

    monkeypatch.setattr(AbstractConnection, "send_command", counting)
    events = [failure(n) for n in range(PART * 2 + 1)]
    out = engine.evaluate_batch(events)
    assert [name for _, name in sent] == ["EVAL"] * 3
    assert len({conn for conn, _ in sent}) == 1
    # The same signals as the events evaluated one by one, on a fresh database.
    redis_client.flushdb()
    single = Engine(redis_client, {rule.id: rule})
    assert out == [found for e in events for found in single.evaluate_batch([e])]
    assert sum(len(found) for found in out) == len(events) - 2


def test_params_override_any_state_and_say_what_is_allowed(redis_client: redis.Redis) -> None:
    from socbot.detections.rule import Sequence

    rule = make_rule(lambda e: True, state=Sequence(by="source.ip", within_s=60, count=5))
    tuned = rule.with_overrides(None, {"count": 2, "within_s": 30})
    assert tuned.state == Sequence(by="source.ip", within_s=30, count=2)
    try:
        rule.with_overrides(None, {"window_s": 5})
    except ValueError as exc:
        assert "count" in str(exc) and "within_s" in str(exc)
    else:
        raise AssertionError("an unknown param was accepted")


def test_muted_signals_are_counted_not_alerted(redis_client: redis.Redis) -> None:
    from socbot.core.mutes import MuteStore

    engine = Engine(redis_client, load_all())
    worker = DetectionWorker(redis_client, engine)
    MuteStore(redis_client).mute("secure.ssh_brute_force", "203.0.113.7", seconds=60, by="U1")
    for n in range(10):
        worker.handle(str(n), {"e": dumps(failure(n))})
        worker.handle(f"b{n}", {"e": dumps(failure(n, ip="198.51.100.9"))})
    alerts = AlertStore(redis_client).open_alerts()
    assert {a.entity["value"] for a in alerts if a.rule_id == "secure.ssh_brute_force"} == {
        "198.51.100.9"}
    assert MuteStore(redis_client).muted_counts() == {"secure.ssh_brute_force:203.0.113.7": 3}


def test_the_risk_threshold_comes_from_the_detection_section(redis_client: redis.Redis) -> None:
    from socbot.core.config import Settings

    settings = Settings.model_validate({"detection": {"risk_threshold": 400}})
    engine = Engine(redis_client, load_all(), settings=settings)
    assert engine.rules["correlation.entity_risk"].state.threshold == 400  # type: ignore[union-attr]
    assert Engine(redis_client, load_all()).rules[
        "correlation.entity_risk"].state.threshold == 100  # type: ignore[union-attr]


def test_entity_risk_lists_the_signals_once_then_only_counts(redis_client: redis.Redis) -> None:
    from socbot.detections.rule import Risk

    rules = {f"r{n}": make_rule(lambda e: True, id=f"r{n}", severity="high",
                                dedup_by="source.ip") for n in range(3)}
    risk = make_rule(lambda e: Match(key=str(e.get("source.ip", ""))), id="risk",
                     datasets=("signal",), actions=None, severity="high",
                     state=Risk(threshold=100, window_s=3600))
    engine = Engine(redis_client, {**rules, "risk": risk})
    insights = [s for s in engine.evaluate(event(1)) if s.rule_id == "risk"]
    # The second rule crosses 100 and lists both; the third adds to the count only.
    assert [s.context["risk_score"] for s in insights] == [100, 150]
    assert insights[0].context["signals"].count("(high)") == 2
    assert "signals" not in insights[1].context
    # The next day's storm is a new window: listed again.
    later = [s for s in engine.evaluate(event(2, **{"@timestamp": "2026-11-24T03:00:00Z"}))
             if s.rule_id == "risk"]
    assert later[0].context["signals"].count("(high)") == 2


def test_entity_risk_answers_alike_for_new_entities_and_trimmed_windows(
        redis_client: redis.Redis) -> None:
    """The risk step skips summing when too few rules are on record for the entity to cross;
    it must still cross when one rule is enough, and never count a member the window left."""
    from socbot.detections.rule import Risk

    def risk_rule(min_rules: int, threshold: int) -> Rule:
        return make_rule(lambda e: Match(key=str(e.get("source.ip", ""))), id="risk",
                         datasets=("signal",), actions=None, severity="high",
                         state=Risk(threshold=threshold, window_s=3600, min_rules=min_rules))

    def risk_of(found: list[Signal]) -> list[int]:
        return [s.context["risk_score"] for s in found if s.rule_id == "risk"]

    high = make_rule(lambda e: e["event.outcome"] == "success", id="high", severity="high",
                     dedup_by="source.ip")
    medium = make_rule(lambda e: e["event.outcome"] == "failure", id="medium",
                       severity="medium", dedup_by="source.ip")
    # One rule may be enough: a new entity's first signal crosses at once.
    alone = Engine(redis_client, {"high": high, "risk": risk_rule(1, 50)})
    assert risk_of(alone.evaluate(event(1, outcome="success", **{"source.ip": "192.0.2.1"}))) \
        == [50]
    # Two rules needed: the first alone stays quiet; it leaves the one-hour window two hours
    # later, so the second rule then is alone too; a signal of the first again makes two.
    redis_client.flushdb()
    pair = Engine(redis_client, {"high": high, "medium": medium, "risk": risk_rule(2, 75)})
    ip = {"source.ip": "192.0.2.2"}
    assert risk_of(pair.evaluate(event(2, second=0, **ip))) == []
    assert risk_of(pair.evaluate(event(3, outcome="success",
                                       **{"@timestamp": "2026-11-23T05:00:00Z"}, **ip))) == []
    assert risk_of(pair.evaluate(event(4, **{"@timestamp": "2026-11-23T05:00:05Z"}, **ip))) \
        == [75]


def test_a_connection_lost_midway_runs_the_unread_calls_again(
        redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    rule = make_rule(lambda e: True, state=Threshold(by="source.ip", count=3, window_s=60))
    events = [failure(n) for n in range(PART * 2 + 1)]
    expected = Engine(redis_client, {rule.id: rule}).evaluate_batch(events)
    redis_client.flushdb()
    original = AbstractConnection.read_response
    lost = []

    def losing(self: AbstractConnection, *a: object, **k: object) -> object:
        reply = original(self, *a, **k)
        if not lost:  # the first reply is lost after Redis ran the call
            lost.append(reply)
            self.disconnect()
            raise redis.ConnectionError("lost")
        return reply

    monkeypatch.setattr(AbstractConnection, "read_response", losing)
    found = Engine(redis_client, {rule.id: rule}).evaluate_batch(events)
    assert lost

    # The same signals, standing for the same events (a call run again answers as for a
    # redelivery: its window's text may name the threshold rather than the count).
    def counted(out: list[list[Signal]]) -> list[list[tuple[object, ...]]]:
        return [[(s.event_ids, s.dedup_key, s.count, s.adds) for s in signals] for signals in out]

    assert counted(found) == counted(expected)
