"""A batch's state operations on one key travel as one fold: the same replies, the same state.

:func:`socbot.detections.state.base.fold` groups the operations of foldable kinds per key;
the Lua steps run a fold as they would run its operations one by one (Threshold queues the
ZADDs of members it knows are new, Sequence writes a run of A events in one ZADD). These tests
compare a batch evaluated at once (folded) with the same events evaluated one per batch
(nothing to fold), on fresh databases, including redelivery, weights and out-of-order events.
"""

from __future__ import annotations

import redis

from socbot.core.events import Event
from socbot.detections.engine import Engine
from socbot.detections.rule import Match, Rule, load_all
from socbot.detections.state.base import Op, fold, unfold
from socbot.detections.state.threshold import Threshold


def test_fold_groups_one_key_and_unfold_puts_replies_back() -> None:
    ops: list[Op] = [
        ["T", "a", "e1", 1.0, 120, 1, 8], ["J", "j", "r", 1.0, 60, 10, 5, []],
        ["T", "b", "e2", 1.0, 120, 1, 8], ["T", "a", "e3", 2.0, 120, 1, 8],
        ["S", "s", "first", "r1", 1.0, 900, 1000], ["S", "s", "then", 2.0, 900, 20],
    ]
    sent, where = fold(ops, frozenset({"T", "S"}))
    # Key "a" folds in the place of its first op; S on "s" mixes lengths and stays as it is.
    assert sent == [["*", "T", "a", 5, "e1", 1.0, 120, 1, 8, "e3", 2.0, 120, 1, 8],
                    ops[1], ops[2], ops[4], ops[5]]
    assert where == [[0, 3], 1, 2, 4, 5]
    replies = [[["a1"], ["a3"]], "j", "b", "s1", "s2"]
    assert unfold(replies, where, len(ops)) == [["a1"], "j", "b", ["a3"], "s1", "s2"]


def test_nothing_to_fold_sends_the_operations_as_they_are() -> None:
    ops: list[Op] = [["T", "a", "e1", 1.0, 120, 1, 8], ["T", "b", "e2", 1.0, 120, 1, 8]]
    sent, where = fold(ops, frozenset({"T"}))
    assert sent == ops and where == [0, 1]


def storm(ips: int, per_ip: int, start: int = 0) -> list[Event]:
    out = []
    for n in range(start, start + ips * per_ip):
        second = n // 20
        out.append({
            "@timestamp": f"2026-11-23T03:{second // 60 % 60:02d}:{second % 60:02d}Z",
            "event.id": f"f-{n}", "event.dataset": "secure", "event.action": "ssh_login",
            "event.outcome": "failure", "source.ip": f"203.0.113.{n % ips + 1}",
            "user.name": f"user{n % 7}", "host.name": "web1",
        })
    return out


def signals(client: redis.Redis, batches: list[list[Event]],
            rules: dict[str, Rule] | None = None) -> list[list[dict[str, object]]]:
    client.flushdb()
    engine = Engine(client, rules or load_all())
    out = []
    for batch in batches:
        for found in engine.evaluate_batch(batch):
            out.append([s.to_dict() for s in found])
    return out


def one_by_one(events: list[Event]) -> list[list[Event]]:
    return [[e] for e in events]


def test_a_storm_folded_equals_one_event_per_batch(redis_client: redis.Redis) -> None:
    events = storm(5, 40)
    folded = signals(redis_client, [events[:100], events[100:]])
    assert folded == signals(redis_client, one_by_one(events))
    assert sum(len(s) for s in folded) > 100  # the thresholds were crossed


def test_redelivered_and_out_of_order_events_fold_exactly(redis_client: redis.Redis) -> None:
    events = storm(3, 30)
    shuffled = events[40:60][::-1] + events[:40] + events[60:]
    # The second half comes again (a redelivery), with an event given twice in one batch.
    batches = [shuffled[:50], shuffled[50:], shuffled[45:] + [shuffled[70]]]
    assert signals(redis_client, batches) == signals(
        redis_client, [[e] for batch in batches for e in batch])


def test_weighted_matches_fold_exactly(redis_client: redis.Redis) -> None:
    def repeated(event: Event) -> Match | None:
        return Match(weight=int(str(event["event.id"]).rpartition("-")[2]) % 3 + 1)

    rule = Rule(id="test.repeated", title="repeated from {source.ip}", severity="low",
                datasets=("secure",), function=repeated,
                state=Threshold(by="source.ip", count=10, window_s=60))
    events = storm(2, 25)
    rules = {rule.id: rule}
    folded = signals(redis_client, [events[:20], events[20:]], rules)
    assert folded == signals(redis_client, one_by_one(events), rules)
    assert any(folded)


def _state(client: redis.Redis) -> dict[bytes, list[tuple[bytes, float]]]:
    return {key: client.zrange(key, 0, -1, withscores=True)
            for key in client.scan_iter("{soc}:*") if client.type(key) == b"zset"}


def test_a_long_storm_folded_keeps_the_state_one_event_per_batch_keeps(
        redis_client: redis.Redis) -> None:
    """Two hours of failures, one every 10 s from each of two addresses: the windows and the
    remembered failures (kept 2 x 900 s by the Sequence rule) are trimmed at the latest time of
    each batch, as one event per batch trims them at each event's."""
    events = []
    for n in range(1440):
        second = n // 2 * 10
        events.append({
            "@timestamp": f"2026-11-23T{3 + second // 3600:02d}:{second // 60 % 60:02d}:"
                          f"{second % 60:02d}Z",
            "event.id": f"l-{n}", "event.dataset": "secure", "event.action": "ssh_login",
            "event.outcome": "failure", "source.ip": f"203.0.113.{n % 2 + 1}",
            "user.name": "root", "host.name": "web1"})
    folded = signals(redis_client, [events[start:start + 60] for start in range(0, 1440, 60)])
    kept = _state(redis_client)
    assert folded == signals(redis_client, one_by_one(events))
    assert kept == _state(redis_client)
    remembered = [members for key, members in kept.items() if key.endswith(b":seq")]
    assert remembered and all(len(m) < 720 for m in remembered)  # trimmed as the storm went


def logins(count: int, addresses: int) -> list[Event]:
    """Accepted logins of two users from a few addresses, each address coming back."""
    return [{
        "@timestamp": f"2026-11-23T04:{n * 3 // 60 % 60:02d}:{n * 3 % 60:02d}Z",
        "event.id": f"ok-{n}", "event.dataset": "secure", "event.action": "ssh_login",
        "event.outcome": "success", "source.ip": f"198.51.100.{n * 7 % addresses + 1}",
        "user.name": f"user{n % 2}", "host.name": "web1"} for n in range(count)]


def test_first_seen_values_fold_exactly(redis_client: redis.Redis) -> None:
    """New and known values of one key, folded: the same verdicts as one event per batch,
    a redelivered event still its value's owner, and the key's expiry set."""
    events = logins(60, 13)
    batches = [events[:25], events[25:], events[20:40] + [events[3]]]
    folded = signals(redis_client, batches)
    expiries = [redis_client.ttl(key) for key in redis_client.scan_iter("{soc}:*:seen")]
    assert folded == signals(redis_client, [[e] for batch in batches for e in batch])
    fired = [s for found in folded for s in found if s["rule_id"] == "secure.new_source_for_user"]
    assert len(fired) >= 10
    assert expiries and all(ttl > 80 * 86400 for ttl in expiries)
