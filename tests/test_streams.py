"""The consumer-group loop: ack after success, reclaim, dead letters, trimming."""

from __future__ import annotations

import threading
import time

import redis

from socbot.core.streams import DEAD_LETTERS, Consumer, Producer, ensure_group, read_reply

STREAM = "test:stream"


def test_entries_are_acknowledged_only_after_the_handler_returns(
        redis_client: redis.Redis) -> None:
    Producer(redis_client).add(STREAM, {"n": "1"})

    def fail(entry_id: str, fields: dict[str, str]) -> None:
        raise RuntimeError("not yet")

    Consumer(redis_client, STREAM, "g", "c1", fail, block_ms=0).step()
    assert redis_client.xpending(STREAM, "g")["pending"] == 1


def test_a_dead_consumers_entries_are_reclaimed_by_another(redis_client: redis.Redis) -> None:
    Producer(redis_client).add(STREAM, {"n": "1"})
    ensure_group(redis_client, STREAM, "g")
    # c1 reads the entry and dies before acknowledging it.
    redis_client.xreadgroup("g", "c1", {STREAM: ">"}, count=10)
    seen: list[str] = []
    survivor = Consumer(redis_client, STREAM, "g", "c2", lambda i, f: seen.append(f["n"]),
                        min_idle_ms=50, block_ms=0)
    time.sleep(0.1)
    survivor.step()
    assert seen == ["1"]
    assert redis_client.xpending(STREAM, "g")["pending"] == 0
    assert survivor.stats.reclaimed == 1


def test_a_poison_entry_goes_to_the_dead_letter_stream_with_its_error(
        redis_client: redis.Redis) -> None:
    Producer(redis_client).add(STREAM, {"n": "poison"})

    def fail(entry_id: str, fields: dict[str, str]) -> None:
        raise ValueError("cannot parse this")

    consumer = Consumer(redis_client, STREAM, "g", "c", fail, min_idle_ms=10, block_ms=0,
                        max_deliveries=3)
    for _ in range(10):
        consumer.step()
        time.sleep(0.02)
    dead = redis_client.xrange(DEAD_LETTERS)
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"n"] == b"poison"
    assert b"cannot parse this" in fields[b"dead.error"]
    assert redis_client.xpending(STREAM, "g")["pending"] == 0
    assert consumer.stats.failed == 3


def test_two_consumers_in_one_group_share_the_work_once(redis_client: redis.Redis) -> None:
    producer = Producer(redis_client)
    producer.add_many(STREAM, ({"n": str(n)} for n in range(500)))
    seen: list[str] = []
    lock = threading.Lock()

    def record(entry_id: str, fields: dict[str, str]) -> None:
        with lock:
            seen.append(fields["n"])

    stop = threading.Event()
    workers = [Consumer(redis_client, STREAM, "g", f"c{i}", record, batch=20, block_ms=50)
               for i in range(2)]
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(seen) < 500 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join()
    assert sorted(seen, key=int) == [str(n) for n in range(500)]


def test_the_producer_trims_the_stream_approximately(redis_client: redis.Redis) -> None:
    producer = Producer(redis_client, maxlen=100)
    producer.add_many(STREAM, ({"n": str(n)} for n in range(5000)))
    assert 100 <= redis_client.xlen(STREAM) < 1000


def test_a_full_read_marks_the_consumer_behind_and_a_short_one_clears_it(
        redis_client: redis.Redis) -> None:
    Producer(redis_client).add_many(STREAM, ({"n": str(n)} for n in range(15)))
    consumer = Consumer(redis_client, STREAM, "g", "c", lambda i, f: None, batch=10,
                        block_ms=0)
    consumer.step()
    assert consumer.behind  # ten of fifteen read: more are waiting
    consumer.step()
    assert not consumer.behind


def test_a_deferring_consumer_handles_one_batch_per_bound_then_catches_up(
        redis_client: redis.Redis) -> None:
    Producer(redis_client).add_many(STREAM, ({"n": str(n)} for n in range(50)))
    busy = threading.Event()
    busy.set()
    seen: list[str] = []
    consumer = Consumer(redis_client, STREAM, "g", "c", lambda i, f: seen.append(f["n"]),
                        batch=10, block_ms=10, defer_to=busy.is_set, max_defer_s=0.6)
    stop = threading.Event()
    runner = threading.Thread(target=consumer.run, args=(stop,))
    runner.start()
    try:
        time.sleep(1.0)  # other work has a backlog: one batch now, one after 0.6 s
        assert 10 <= len(seen) <= 20
        busy.clear()  # the backlog is gone: the rest follows at once
        deadline = time.monotonic() + 5
        while len(seen) < 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(seen, key=int) == [str(n) for n in range(50)]
    finally:
        stop.set()
        runner.join(5)


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM, "g")["pending"])


def test_a_consumer_reading_ahead_asks_for_the_next_batch_before_handling_this_one(
        redis_client: redis.Redis) -> None:
    Producer(redis_client).add_many(STREAM, ({"n": str(n)} for n in range(25)))
    seen: list[str] = []
    pending_while_handling: list[int] = []

    def handle(entry_id: str, fields: dict[str, str]) -> None:
        pending_while_handling.append(_pending(redis_client))
        seen.append(fields["n"])

    consumer = Consumer(redis_client, STREAM, "g", "c", handle, batch=10, block_ms=0,
                        read_ahead=True)
    assert consumer.step() == 10
    # The second batch was delivered before the first was handled: 20 pending at the first
    # entry (the plain consumer would show 10).
    assert pending_while_handling[0] == 20
    assert consumer.step() == 10  # the batch read ahead, and the third asked for
    assert consumer.step() == 5  # a short read: nothing more is asked for ahead
    assert consumer._ahead is None
    assert seen == [str(n) for n in range(25)]
    assert _pending(redis_client) == 0


def test_a_stopped_consumer_handles_the_batch_it_read_ahead(redis_client: redis.Redis) -> None:
    Producer(redis_client).add_many(STREAM, ({"n": str(n)} for n in range(20)))
    seen: list[str] = []
    stop = threading.Event()

    def handle(entry_id: str, fields: dict[str, str]) -> None:
        seen.append(fields["n"])
        stop.set()  # stop after the first entry: the batch read ahead is still waiting

    consumer = Consumer(redis_client, STREAM, "g", "c", handle, batch=10, block_ms=0,
                        read_ahead=True)
    consumer.run(stop)
    assert seen == [str(n) for n in range(20)]
    assert _pending(redis_client) == 0 and consumer._ahead is None


def test_a_batch_read_ahead_on_a_lost_connection_is_reclaimed(redis_client: redis.Redis) -> None:
    Producer(redis_client).add_many(STREAM, ({"n": str(n)} for n in range(30)))
    seen: list[str] = []
    consumer = Consumer(redis_client, STREAM, "g", "c", lambda i, f: seen.append(f["n"]),
                        batch=10, block_ms=0, min_idle_ms=100, read_ahead=True)
    consumer.step()  # 0-9 handled, 10-19 delivered ahead

    connection = consumer._ahead

    def lost(*args: object, **kwargs: object) -> object:
        del connection.read_response  # once: reconnected, the connection reads again
        raise redis.ConnectionError("connection reset")

    connection.read_response = lost
    consumer.step()  # the reply is lost: 20-29 are read instead; 10-19 stay pending
    assert seen == [str(n) for n in range(10)] + [str(n) for n in range(20, 30)]
    time.sleep(0.2)
    consumer._next_claim = 0.0
    consumer.step()  # idle long enough: reclaimed and handled
    assert sorted(seen, key=int) == [str(n) for n in range(30)]
    assert _pending(redis_client) == 0


def test_entries_read_off_a_connection_equal_those_redis_py_parses(
        redis_client: redis.Redis) -> None:
    """The read ahead takes XREADGROUP's reply as Redis sends it (each entry's fields a flat
    list; in RESP3 a map of streams): the same entries, in order, as redis-py's parsed reply
    gives, an entry trimmed away while pending left out."""
    producer = Producer(redis_client)
    ids = [producer.add("s", {"e": f'{{"n":{n}}}', "k": "v\u00e9"}) for n in range(5)]
    ensure_group(redis_client, "s", "g")
    parsed = read_reply(redis_client.xreadgroup("g", "c1", {"s": ">"}, count=3))
    ahead = Consumer(redis_client, "s", "g", "c2", lambda _i, _f: None, batch=3)
    ahead._ask_ahead()
    assert read_reply(ahead._read_ahead_reply()) == [
        ("s", [(ids[3], {"e": '{"n":3}', "k": "v\u00e9"}),
               (ids[4], {"e": '{"n":4}', "k": "v\u00e9"})])]
    assert parsed[0][1][0] == (ids[0], {"e": '{"n":0}', "k": "v\u00e9"})
    redis_client.xdel("s", ids[1])  # pending for c1, then trimmed away
    again = redis_client.xreadgroup("g", "c1", {"s": "0"})
    connection = redis_client.connection_pool.get_connection()
    try:
        connection.send_command("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "0")
        raw = connection.read_response()
    finally:
        redis_client.connection_pool.release(connection)
    assert read_reply(raw) == read_reply(again)
    assert [entry_id for entry_id, _ in read_reply(raw)[0][1]] == [ids[0], ids[2]]
