"""Recent events in Redis: indexes by dataset, user, IP and host; retention; the index stage."""

from __future__ import annotations

import redis

from socbot.core.events import dumps
from socbot.core.eventstore import GROUP, EventStore, compact
from socbot.core.streams import EVENTS, Consumer, Producer


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(n: int, **fields: object) -> dict[str, object]:
    values: dict[str, object] = {
        "@timestamp": f"2026-11-23T03:12:{n % 60:02d}Z", "event.id": f"ev-{n}",
        "event.dataset": "secure", "event.action": "ssh_login", "event.outcome": "failure",
        "source.ip": f"203.0.113.{n % 5}", "user.name": f"user{n % 3}",
        "host.name": "Bastion", "message": f"line {n}"}
    values.update(fields)
    return values


def ids(events: list[dict[str, object]]) -> list[object]:
    return [e["event.id"] for e in events]


def test_recent_is_newest_first_and_per_dataset(redis_client: redis.Redis) -> None:
    store = EventStore(redis_client)
    store.add_many(event(n) for n in range(10))
    store.add(event(10, **{"event.dataset": "cloudtrail"}))

    assert ids(store.recent(limit=3)) == ["ev-10", "ev-9", "ev-8"]
    assert ids(store.recent("secure", limit=2)) == ["ev-9", "ev-8"]
    assert ids(store.recent("cloudtrail")) == ["ev-10"]
    assert store.recent("door") == []


def test_search_combines_conditions_and_normalizes_values(redis_client: redis.Redis) -> None:
    store = EventStore(redis_client)
    store.add_many(event(n) for n in range(30))

    found = store.search(ip="203.0.113.2", user="user1", limit=50).events
    assert ids(found) == [f"ev-{n}" for n in range(29, -1, -1) if n % 5 == 2 and n % 3 == 1]
    assert len(store.search(host="bastion", limit=100).events) == 30  # hosts are case-blind
    assert store.search(ip="not-an-ip").events == []
    assert store.search(user="nobody").events == []


def test_search_since_bounds_by_time(redis_client: redis.Redis) -> None:
    clock = Clock()
    store = EventStore(redis_client, clock=clock)
    store.add(event(1))
    clock.now += 3600
    store.add(event(2))

    assert ids(store.search(host="bastion", since_s=1800).events) == ["ev-2"]
    assert ids(store.search(host="bastion", since_s=7200).events) == ["ev-2", "ev-1"]


def test_events_past_the_retention_are_not_returned(redis_client: redis.Redis) -> None:
    clock = Clock()
    store = EventStore(redis_client, retention_s=3600, clock=clock)
    store.add(event(1))
    clock.now += 3601
    store.add(event(2))

    assert ids(store.recent()) == ["ev-2"]
    assert ids(store.search(host="bastion").events) == ["ev-2"]
    assert redis_client.ttl(EventStore.index_key("host", "bastion")) <= 3600


def test_a_redelivered_event_is_shown_once(redis_client: redis.Redis) -> None:
    store = EventStore(redis_client)
    store.add(event(1))
    store.add(event(1))
    assert ids(store.recent()) == ["ev-1"]
    assert ids(store.search(user="user1").events) == ["ev-1"]


def test_the_vendor_record_is_dropped_and_long_strings_cut() -> None:
    kept = compact(event(1, original={"big": "x"}, message="m" * 5000))
    assert "original" not in kept and len(str(kept["message"])) == 513


def test_last_event_per_source(redis_client: redis.Redis) -> None:
    store = EventStore(redis_client)
    store.add(event(1))
    store.add(event(2, **{"event.dataset": "wifi", "@timestamp": "2026-11-23T04:00:00Z"}))
    last = store.last_seen()
    assert last["wifi"][0] == "2026-11-23T04:00:00Z" and last["secure"][1] > 0


def test_hostile_values_are_stored_and_searchable_as_text(redis_client: redis.Redis) -> None:
    store = EventStore(redis_client)
    hostile = "<!channel> \x00 <https://evil.example|x>"
    store.add(event(1, **{"user.name": hostile, "wifi.ssid": "a\x00b,\"c\""}))
    [found] = store.search(user=hostile).events
    assert found["wifi.ssid"] == "a\x00b,\"c\""


def test_the_index_stage_reads_soc_events(redis_client: redis.Redis) -> None:
    store = EventStore(redis_client)
    Producer(redis_client).add_many(EVENTS, [{"e": dumps(event(n))} for n in range(5)])
    consumer = Consumer(redis_client, EVENTS, GROUP, "index-test", store.handle, block_ms=0)
    assert consumer.step(block_ms=0) == 5
    assert store.count() == 5 and ids(store.recent(limit=1)) == ["ev-4"]


def test_the_index_stage_stores_what_compact_keeps_from_any_entry(
        redis_client: redis.Redis) -> None:
    """A log line's entry is stored as it came (it is already compact); an entry with a vendor
    record, a nested value or a long string is stored compacted. Either way the store reads
    back what :func:`compact` keeps."""
    store = EventStore(redis_client)
    sent = [event(0), event(1, **{"user.name": "é\u2028x"}), event(2, original={"big": "x"}),
            event(3, tags=["a", "b"]), event(4, message="m" * 600),
            event(5, message="m" * 500, note="n" * 100), event(6, count=3, ok=True, gone=None)]
    Producer(redis_client).add_many(EVENTS, [{"e": dumps(e)} for e in sent])
    consumer = Consumer(redis_client, EVENTS, GROUP, "index-test", store.handle,
                        batch_handler=store.handle_batch, block_ms=0)
    assert consumer.step(block_ms=0) == len(sent)
    stored = {e["event.id"]: e for e in store.recent(limit=len(sent))}
    assert stored == {e["event.id"]: compact(e) for e in sent}
    assert stored["ev-2"].get("original") is None and stored["ev-3"]["tags"] == '["a","b"]'
    assert len(str(stored["ev-4"]["message"])) == 513
    # What needs no change is kept whole (the index stage then stores the entry's own text).
    assert [compact(e) is e for e in sent] == [True, True, False, False, False, True, True]
