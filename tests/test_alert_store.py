"""Grouping signals into alerts, and the alert lifecycle."""

from __future__ import annotations

import threading
from dataclasses import asdict

import redis

from socbot.core.alerts import AlertStore, Signal


def signal(n: int, key: str = "203.0.113.7", at: float = 1000.0, window: int = 600) -> Signal:
    return Signal(rule_id="r", title="t", severity="high", dedup_key=key,
                  entity={"type": "ip", "value": key}, event_ids=[f"e{n}"], timestamp=at,
                  dataset="secure", window_s=window, count=1)


def test_signals_with_one_dedup_key_inside_the_window_update_one_alert(
        redis_client: redis.Redis) -> None:
    store = AlertStore(redis_client)
    first, outcome = store.record(signal(1, at=1000))
    assert outcome == "new"
    assert store.record(signal(2, at=1100)) == (first, "updated")
    alert = store.get(first)
    assert alert is not None
    assert (alert.count, alert.first_seen, alert.last_seen) == (2, 1000, 1100)
    assert alert.event_ids == ["e2", "e1"]


def test_a_signal_after_the_window_opens_a_new_alert(redis_client: redis.Redis) -> None:
    store = AlertStore(redis_client)
    first, _ = store.record(signal(1, at=1000, window=600))
    second, outcome = store.record(signal(2, at=1700, window=600))
    assert outcome == "new" and second != first


def test_the_same_signal_twice_counts_once(redis_client: redis.Redis) -> None:
    store = AlertStore(redis_client)
    alert_id, _ = store.record(signal(1))
    store.record(signal(2))
    assert store.record(signal(2)) == (alert_id, "duplicate")
    assert store.get(alert_id).count == 2  # type: ignore[union-attr]


def test_a_resolved_alert_is_not_reopened_by_new_signals(redis_client: redis.Redis) -> None:
    store = AlertStore(redis_client)
    alert_id, _ = store.record(signal(1))
    assert store.transition(alert_id, "resolved", "U1") == (True, "open")
    new_id, outcome = store.record(signal(2, at=1010))
    assert outcome == "new" and new_id != alert_id


def test_concurrent_workers_make_one_alert(redis_client: redis.Redis) -> None:
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        store = AlertStore(redis_client)
        for n in range(offset, 200, 4):
            result = store.record(signal(n, at=1000 + n))
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = {alert_id for alert_id, _ in outcomes}
    assert len(ids) == 1
    assert [o for _, o in outcomes].count("new") == 1
    assert AlertStore(redis_client).get(ids.pop()).count == 200  # type: ignore[union-attr]


def test_acknowledge_once_then_refuse_with_the_status_found(redis_client: redis.Redis) -> None:
    store = AlertStore(redis_client)
    alert_id, _ = store.record(signal(1))
    assert store.transition(alert_id, "acknowledged", "U1") == (True, "open")
    assert store.transition(alert_id, "acknowledged", "U2") == (False, "acknowledged")
    alert = store.get(alert_id)
    assert alert is not None and alert.status_by == "U1"
    assert store.transition("nope", "acknowledged", "U1") == (False, "missing")


def test_closed_alerts_leave_the_open_index(redis_client: redis.Redis) -> None:
    store = AlertStore(redis_client)
    keep, _ = store.record(signal(1, key="a"))
    close, _ = store.record(signal(2, key="b"))
    store.transition(close, "false_positive", "U1", reason="scanner we own")
    assert [a.id for a in store.open_alerts()] == [keep]


def test_a_more_severe_signal_raises_the_alert_with_its_title(redis_client: redis.Redis) -> None:
    store = AlertStore(redis_client)
    alert_id, _ = store.record(Signal(**{**signal(1).__dict__, "severity": "medium",
                                         "title": "HTTPS open", "context": {"ports": "443"}}))
    store.record(Signal(**{**signal(2).__dict__, "severity": "high", "title": "SSH open",
                           "context": {"ports": "22"}}))
    store.record(Signal(**{**signal(3).__dict__, "severity": "low", "title": "quiet"}))
    alert = store.get(alert_id)
    assert alert is not None
    assert (alert.severity, alert.title, alert.context, alert.count) == (
        "high", "SSH open", {"ports": "22"}, 3)


def test_a_signals_view_is_what_asdict_gives_and_shares_no_container() -> None:
    signal = Signal(rule_id="r", title="t", severity="high", dedup_key="d",
                    entity={"type": "ip", "value": "203.0.113.7"}, event_ids=["e1", "e2"],
                    timestamp=1.5, dataset="secure", mitre=["T1110"], playbooks=["block"],
                    context={"user.name": "root", "ports": [22, 2222], "geo": {"cc": "NL"},
                             "pair": ("a", "b")})
    view = signal.to_dict()
    expected = asdict(signal)
    assert expected.pop("merged") == []  # shown only when it holds events
    assert view == expected and list(view) == list(expected)
    merged = Signal(**{**signal.__dict__, "merged": [("e3", 2.5, 1, 4)]})
    assert merged.to_dict() == asdict(merged) and list(merged.to_dict()) == list(asdict(merged))
    view["context"]["geo"]["cc"] = "XX"
    view["event_ids"].append("e3")
    view["entity"]["value"] = "x"
    assert signal.context["geo"] == {"cc": "NL"} and signal.event_ids == ["e1", "e2"]
    assert signal.entity["value"] == "203.0.113.7"
