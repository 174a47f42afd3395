"""The detect stage as ``socbot run`` runs it: ``soc:events`` -> worker -> alerts -> ``soc:alerts``.

Four kinds of traffic, side by side in one run:

- quiet: the invictus-ir CloudTrail recording (about 2,900 real records) repeated until
  ``--lines`` events, each repetition the same traffic on a later day (new event ids);
- ssh-storm: ``--lines`` failed-SSH lines from 50 addresses (parsed by the secure collector),
  about 1,000 lines a second of log time, so every address stays over the brute-force threshold;
- cloudtrail-burst: ``--lines`` AccessDenied calls by one principal (normalized by the
  CloudTrail collector);
- ssh-logins: ``--lines`` accepted SSH logins of one user, each from an address never seen
  before (the background of ``bench/bench_slack.py``'s latency runs): every line a signal of one
  open alert and an entity-risk step for a new entity.

The events are written to ``soc:events`` first; then the clock runs while the detect consumer
that :class:`socbot.bot.runtime.Runtime` builds (role ``detect`` only, one thread, so one core
of Python; Redis is its own process) reads and handles them all, grouping signals into alerts
and writing ``soc:alerts``; the garbage collector is set as ``socbot run`` sets it
(``socbot.core.process.tune_gc``; a tree without it only has what start-up left frozen).
Reported per traffic kind: lines per second (median of ``--runs``),
signals turned into alerts, alerts, and entries written to ``soc:alerts``.

``--baseline DIR`` measures a second source tree (a checkout of an earlier commit) in the same
run, alternating with this one, and prints both and the ratio; ``--after DIR`` measures another
checkout instead of the installed tree (both pinned while the benchmark runs). Every
measurement runs in its own process with its own embedded Redis (or ``--redis-url``, a
database it may flush).

    .venv/bin/python bench/bench_detect_stage.py [--lines 100000] [--runs 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tree_layout import use_tree

ROOT = Path(__file__).resolve().parents[1]
RECORDING = (ROOT.parent / "shared" / "data" / "cloudtrail" / "invictus-ir-aws-dataset"
             / "CloudTrail")
KINDS = ("quiet", "ssh-storm", "cloudtrail-burst", "ssh-logins")
TARGET_STORM = 50_000


def quiet_events(lines: int) -> list[dict[str, Any]]:
    from socbot.collectors.cloudtrail import read_path

    base = sorted((e for e in read_path(RECORDING) if isinstance(e, dict)),
                  key=lambda e: e["@timestamp"])
    out: list[dict[str, Any]] = []
    rep = 0
    while len(out) < lines:
        for event in base[:lines - len(out)]:
            moved = dict(event)
            day = date.fromisoformat(event["@timestamp"][:10]) + timedelta(days=rep)
            moved["@timestamp"] = day.isoformat() + event["@timestamp"][10:]
            moved["event.id"] = f"{event['event.id']}#{rep}"
            out.append(moved)
        rep += 1
    return out


def secure_events(lines: int, scratch: Path, message: Callable[[int], str]) -> list[dict[str, Any]]:
    """``lines`` sshd lines, 1,000 a second of log time (``message(n)``: line n after its
    time stamp), parsed by the secure collector."""
    from datetime import UTC, datetime

    from socbot.collectors.files import read_secure

    path = scratch / "secure"
    with path.open("w") as handle:
        for n in range(lines):
            second = n // 1000
            stamp = f"Nov 23 {3 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
            handle.write(f"{stamp} {message(n)}\n")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return [e for e in read_secure(path, now=now) if isinstance(e, dict)]


def ssh_storm_events(lines: int, scratch: Path) -> list[dict[str, Any]]:
    return secure_events(lines, scratch, lambda n: (
        f"web0{n % 3} sshd[{4000 + n % 30000}]: Failed password for root from "
        f"203.0.113.{n % 50 + 1} port {20000 + n % 40000} ssh2"))


def ssh_logins_events(lines: int, scratch: Path) -> list[dict[str, Any]]:
    return secure_events(lines, scratch, lambda n: (
        f"web01 sshd[{1000 + n % 30000}]: Accepted publickey for deploy from "
        f"10.1.{n // 250 % 250}.{n % 250} port {20000 + n % 40000} ssh2: RSA SHA256:abc"))


def cloudtrail_burst_events(lines: int) -> list[dict[str, Any]]:
    from socbot.collectors.cloudtrail import normalize

    names = ("ListBuckets", "DescribeInstances", "GetSecretValue", "ListUsers", "GetObject")
    out = []
    for n in range(lines):
        second = n // 500
        out.append(normalize({
            "eventVersion": "1.08", "eventID": f"burst-{n:08d}",
            "eventTime": f"2026-11-23T04:{second // 60 % 60:02d}:{second % 60:02d}Z",
            "eventSource": "s3.amazonaws.com", "eventName": names[n % len(names)],
            "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.77",
            "userAgent": "aws-cli/2.15.0", "errorCode": "AccessDenied",
            "errorMessage": "User is not authorized to perform this operation",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDABURST",
                             "accountId": "111122223333",
                             "arn": "arn:aws:iam::111122223333:user/intruder",
                             "userName": "intruder"},
        }))
    return out


def measure(kind: str, lines: int, redis_url: str, scratch: Path) -> dict[str, Any]:
    """One measurement in this process: fill soc:events, then time the detect consumer."""
    import redis

    from socbot.bot.runtime import Runtime
    from socbot.core.config import Secrets, Settings
    from socbot.core.events import dumps
    from socbot.core.streams import ALERTS, EVENTS, Producer

    if redis_url:
        client = redis.Redis.from_url(redis_url)
    else:
        from socbot.core.redisconn import embedded

        client = embedded(scratch / "redis.db")
    client.flushdb()
    if kind == "quiet":
        events = quiet_events(lines)
    elif kind == "ssh-storm":
        events = ssh_storm_events(lines, scratch)
    elif kind == "ssh-logins":
        events = ssh_logins_events(lines, scratch)
    else:
        events = cloudtrail_burst_events(lines)
    producer = Producer(client, maxlen=len(events) + 1000)
    for start in range(0, len(events), 5000):
        producer.add_many(EVENTS, [{"e": dumps(e)} for e in events[start:start + 5000]])
    total = len(events)
    # A live worker's heap holds only the events in flight: drop the generated ones, and keep
    # full garbage collections from rescanning what was loaded before the clock starts.
    del events
    gc.collect()
    gc.freeze()
    runtime = Runtime(client, Settings(), Secrets(), roles=("detect",)).build()
    try:  # what `socbot run` does once built, in a tree that has it
        from socbot.core.process import tune_gc
    except ImportError:
        pass
    else:
        tune_gc()
    consumer = runtime.consumers["detect"]
    handled = 0
    started = time.perf_counter()
    while handled < total:
        done = consumer.step(block_ms=200)
        if not done:
            break  # nothing left to read: a failed entry would show in the stats
        handled += done
    elapsed = time.perf_counter() - started
    from socbot.core import keys  # the measured tree's key names

    prefix = keys.ALERT_PREFIX.encode()
    alert_keys = [k for k in client.scan_iter(keys.ALERT_PREFIX + "*", count=10_000)
                  if b":" not in k[len(prefix):]]
    counts = sum(int(client.hget(k, "count") or 0) for k in alert_keys)
    result = {"kind": kind, "lines": total, "handled": handled, "seconds": elapsed,
              "rate": handled / elapsed, "alerts": len(alert_keys), "alert_count_sum": counts,
              "alert_entries": client.xlen(ALERTS), "failed": consumer.stats.failed}
    client.flushdb()
    if not redis_url:
        client.shutdown()
    return result


def one(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="socbot-bench-") as tmp:
        scratch = Path(tmp)
        if args.tree:
            use_tree(Path(args.tree).resolve(), scratch)
        import socbot.detections.engine as engine_module

        result = measure(args.one, args.lines, args.redis_url, scratch)
        result["engine"] = engine_module.__file__
        print(json.dumps(result))
    return 0


def run_one(kind: str, tree: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", kind, "--lines", str(args.lines)]
    if tree:
        command += ["--tree", tree]
    if args.redis_url:
        command += ["--redis-url", args.redis_url]
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"measurement {kind} ({tree or 'this tree'}) failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--baseline", default="",
                        help="a source tree (checkout of an earlier commit) to measure too")
    parser.add_argument("--after", default="",
                        help="measure this source tree instead of the installed one")
    parser.add_argument("--redis-url", default="",
                        help="a Redis database this benchmark may flush (default: embedded)")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return one(args)
    kinds = [k for k in args.kinds.split(",") if k]
    this = str(Path(args.after).resolve()) if args.after else ""
    trees = {"this tree": this}
    if args.baseline:
        trees = {"baseline": str(Path(args.baseline).resolve()), "this tree": this}
    rates: dict[tuple[str, str], list[float]] = {}
    print(f"{args.lines:,} lines per kind; {args.runs} runs; variants: {', '.join(trees)}")
    for run in range(args.runs):
        for kind in kinds:
            for label, tree in trees.items():
                result = run_one(kind, tree, args)
                rates.setdefault((label, kind), []).append(result["rate"])
                print(f"  run {run + 1} {label:<9} {kind:<16} {result['rate']:>9,.0f} lines/s "
                      f"({result['handled']:,} in {result['seconds']:.2f} s; "
                      f"{result['alerts']} alerts, counts {result['alert_count_sum']:,}, "
                      f"{result['alert_entries']:,} soc:alerts entries)", flush=True)
    print("medians (lines/s):")
    for label in trees:
        medians = {k: statistics.median(rates[(label, k)]) for k in kinds}
        line = "; ".join(f"{k} {v:,.0f}" for k, v in medians.items())
        print(f"  {label:<9} {line}")
        if "quiet" in medians and "ssh-storm" in medians:
            storm, quiet = medians["ssh-storm"], medians["quiet"]
            print(f"  {label:<9} storm/quiet {storm / quiet:.2f} (target >= 0.5); storm "
                  f"{'meets' if storm >= TARGET_STORM else 'misses'} {TARGET_STORM:,} lines/s")
    if args.baseline:
        for kind in kinds:
            before = statistics.median(rates[("baseline", kind)])
            after = statistics.median(rates[("this tree", kind)])
            print(f"  {kind}: {after / before:.1f}x the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
