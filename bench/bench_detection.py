"""CloudTrail records per second through the full rule pack, against a naive loop.

The invictus-ir recording (2,900 real records) is repeated until at least ``--records``
(default 1,000,000) have gone through; each repetition is the same day's traffic on a later
day (every record gets a new event id and its timestamp moves by whole days), so windows,
sequences and first-seen state behave as they would on that traffic day after day. Two ways
of evaluating the same rules, in the same process and run:

- engine: the dispatch index (an event meets only the rules of its dataset and action), stateless
  rules without any Redis call, stateful rules queued on one pipeline per batch of 1,000 events;
- engine, stateless rules only: the same, without the rules that keep state (no Redis);
- naive: every rule's dataset/action condition and function on every event, and one Redis round
  trip per stateful match (run on ``--naive-records``, default 100,000; records/s compares).

Signals are produced (and counted) but not grouped into alerts: this measures detection.
Redis is an embedded server (a separate process) unless ``--redis-url`` names a database this
benchmark may flush. Prints the median of ``--runs`` runs and the ratio.

    .venv/bin/python bench/bench_detection.py [--records 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socbot.collectors.cloudtrail import read_path  # noqa: E402
from socbot.core.config import Settings  # noqa: E402
from socbot.core.events import Event  # noqa: E402
from socbot.detections.engine import SIGNAL_DATASET, Engine, signal_event  # noqa: E402
from socbot.detections.rule import load_all  # noqa: E402

RECORDING = (ROOT.parent / "shared" / "data" / "cloudtrail" / "invictus-ir-aws-dataset"
             / "CloudTrail")
BATCH = 1000


def load() -> list[Event]:
    events = [e for e in read_path(RECORDING) if isinstance(e, dict)]
    events.sort(key=lambda e: e["@timestamp"])
    return events


def repetitions(events: list[Event], records: int) -> int:
    return -(-records // len(events))


class Shifter:
    """Moves the recording to day ``rep`` after its own: new ids, timestamps + rep days."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.ids = [e["event.id"] for e in events]
        self.stamps = [e["@timestamp"] for e in events]

    def day(self, rep: int, tag: str = "") -> None:
        dates = {s[:10] for s in self.stamps}
        moved = {d: (date.fromisoformat(d) + timedelta(days=rep)).isoformat() for d in dates}
        for event, base, stamp in zip(self.events, self.ids, self.stamps, strict=True):
            event["event.id"] = f"{base}#{tag}{rep}"
            event["@timestamp"] = moved[stamp[:10]] + stamp[10:]

    def restore(self) -> None:
        for event, base, stamp in zip(self.events, self.ids, self.stamps, strict=True):
            event["event.id"] = base
            event["@timestamp"] = stamp


def run_engine(engine: Engine, events: list[Event], reps: int) -> tuple[float, int, int]:
    shifter = Shifter(events)
    signals = 0
    started = time.perf_counter()
    for rep in range(reps):
        shifter.day(rep)
        for start in range(0, len(events), BATCH):
            for found in engine.evaluate_batch(events[start:start + BATCH]):
                signals += len(found)
    elapsed = time.perf_counter() - started
    shifter.restore()
    return elapsed, reps * len(events), signals


def naive_signals(engine: Engine, rules: list[Any], event: Event) -> list[Any]:
    """Every rule on the event: its dataset and action condition, then its function."""
    out = []
    dataset, action = event.get("event.dataset"), event.get("event.action")
    for rule in rules:
        if dataset not in rule.datasets or (rule.actions is not None
                                            and action not in rule.actions):
            continue
        match = engine.call(rule, event)
        if match is None:
            continue
        if rule.state is None:
            signal = engine._signal(rule, event, match, None, None)
            if signal is not None:
                out.append(signal)
        else:
            out.extend(engine.stateful_signal(rule, event, match))
    return out


def run_naive(engine: Engine, events: list[Event], records: int) -> tuple[float, int, int]:
    rules = list(engine.rules.values())
    shifter = Shifter(events)
    done = signals = 0
    rep = 0
    started = time.perf_counter()
    while done < records:
        shifter.day(rep, "n")
        for event in events:
            found = naive_signals(engine, rules, event)
            for signal in list(found):
                if signal.dataset != SIGNAL_DATASET:
                    found += naive_signals(engine, rules, signal_event(signal, event))
            signals += len(found)
            done += 1
            if done >= records:
                break
        rep += 1
    elapsed = time.perf_counter() - started
    shifter.restore()
    return elapsed, done, signals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--naive-records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default="",
                        help="a Redis database this benchmark may flush (default: embedded)")
    args = parser.parse_args()

    import redis

    tmp = tempfile.TemporaryDirectory(prefix="socbot-bench-")
    if args.redis_url:
        client = redis.Redis.from_url(args.redis_url)
    else:
        from socbot.core.redisconn import embedded

        client = embedded(Path(tmp.name) / "redis.db")
    events = load()
    # The recording stays in memory for the whole run; a live worker's heap holds only the
    # events in flight. Freezing it keeps full garbage collections from rescanning it.
    gc.collect()
    gc.freeze()
    reps = repetitions(events, args.records)
    rules = load_all()
    stateful = sum(1 for r in rules.values() if r.state is not None)
    print(f"{len(events)} CloudTrail records x {reps} = {len(events) * reps:,} records; "
          f"{len(rules)} rules ({stateful} stateful); batches of {BATCH}; "
          f"{args.runs} runs each")
    engine_rates, naive_rates, stateless_rates = [], [], []
    stateless = {k: r for k, r in rules.items() if r.state is None}
    for run in range(args.runs):
        client.flushdb()
        engine = Engine(client, rules, settings=Settings())
        elapsed, count, signals = run_engine(engine, events, reps)
        engine_rates.append(count / elapsed)
        print(f"  run {run + 1}: engine {count / elapsed:>10,.0f} records/s "
              f"({count:,} in {elapsed:.1f} s, {signals:,} signals)", flush=True)
        client.flushdb()
        engine = Engine(client, stateless, settings=Settings())
        elapsed, count, signals = run_engine(engine, events, reps)
        stateless_rates.append(count / elapsed)
        print(f"  run {run + 1}: engine, stateless rules only {count / elapsed:>10,.0f} "
              f"records/s ({signals:,} signals)", flush=True)
        client.flushdb()
        engine = Engine(client, rules, settings=Settings())
        elapsed, count, signals = run_naive(engine, events, args.naive_records)
        naive_rates.append(count / elapsed)
        print(f"  run {run + 1}: naive  {count / elapsed:>10,.0f} records/s "
              f"({count:,} in {elapsed:.1f} s, {signals:,} signals)", flush=True)
    fast, slow = statistics.median(engine_rates), statistics.median(naive_rates)
    print(f"median engine: {fast:,.0f} records/s; median naive: {slow:,.0f} records/s; "
          f"ratio {fast / slow:.1f}x; target 50,000 records/s: "
          f"{'met' if fast >= 50_000 else 'NOT met'}")
    print(f"median engine with the {len(stateless)} stateless rules only: "
          f"{statistics.median(stateless_rates):,.0f} records/s (no Redis round trip)")
    client.flushdb()
    if not args.redis_url:
        client.shutdown()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
