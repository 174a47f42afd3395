"""The detect stage with 1, 2 and 4 worker processes, on one Redis and on a 3-master Redis
Cluster, side by side in one run.

Each measurement starts its own Redis (one ``redis-server``, or three cluster-enabled ones
joined by ``redis-cli --cluster create``; no persistence on either, so the comparison is of
the topology, not of disk writes), writes ``--lines`` events to ``{soc}:events``, starts N
``socbot``-style detect workers (separate processes, each the consumer that ``socbot run
--role detect`` builds, one consumer group), lets them connect and load the rules, then starts
the clock and stops it when the group has read and acknowledged every event. Reported:
events per second (median of ``--runs``), the ratio to one worker on the same Redis, and the
cluster's rate against one Redis for the same number of workers.

Traffic: ``quiet`` (the invictus-ir CloudTrail recording repeated, as in
``bench_detect_stage.py``) or ``ssh-storm``.

    .venv/bin/python bench/bench_workers.py [--lines 60000] [--runs 3] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

TOPOLOGIES = ("one Redis", "cluster")


def start_single(directory: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    from own_cluster import cluster_port, wait_ping

    port = cluster_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", "--appendonly", "no", "--protected-mode", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ping(port)
    return f"redis://127.0.0.1:{port}/0", [process]


def start_cluster(directory: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    from own_cluster import cluster_port, wait_ping

    ports = [cluster_port() for _ in range(3)]
    processes = []
    for port in ports:
        node = directory / str(port)
        node.mkdir()
        processes.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--save", "",
             "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for port in ports:
        wait_ping(port)
    subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                    "--cluster-replicas", "0", "--cluster-yes"],
                   check=True, capture_output=True, timeout=60)
    import redis

    deadline = time.monotonic() + 30
    while any(redis.Redis(port=p).cluster("info").get("cluster_state") != "ok" for p in ports):
        if time.monotonic() > deadline:
            raise SystemExit("the cluster did not reach state ok")
        time.sleep(0.1)
    return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports), processes


def fill(url: str, kind: str, lines: int, scratch: Path) -> None:
    from bench_detect_stage import quiet_events, ssh_storm_events

    from socbot.core.events import dumps
    from socbot.core.redisconn import connect
    from socbot.core.streams import EVENTS, Producer, ensure_group

    client = connect(url, env={})
    events = quiet_events(lines) if kind == "quiet" else ssh_storm_events(lines, scratch)
    producer = Producer(client, maxlen=len(events) + 10)
    for start in range(0, len(events), 5000):
        producer.add_many(EVENTS, [{"e": dumps(e)} for e in events[start:start + 5000]])
    ensure_group(client, EVENTS, "detect")


def worker(url: str) -> int:
    """One detect worker: ready on stdout once built, starts on a line on stdin, stops when the
    group has nothing left."""
    from socbot.bot.runtime import Runtime
    from socbot.core.config import Secrets, Settings
    from socbot.core.redisconn import connect
    from socbot.core.streams import EVENTS

    client = connect(url, env={})
    consumer = Runtime(client, Settings(), Secrets(), roles=("detect",)).build() \
        .consumers["detect"]
    print("ready", flush=True)
    sys.stdin.readline()
    handled = 0
    while True:
        done = consumer.step(block_ms=100)
        handled += done
        if not done:
            group = next(g for g in client.xinfo_groups(EVENTS) if g["name"] in (b"detect",
                                                                                  "detect"))
            if not group["lag"] and not group["pending"]:
                break
    print(json.dumps({"handled": handled, "failed": consumer.stats.failed}), flush=True)
    return 0


def measure(topology: str, workers: int, kind: str, lines: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="socbot-bench-workers-") as tmp:
        scratch = Path(tmp)
        url, servers = (start_single if topology == "one Redis" else start_cluster)(scratch)
        try:
            fill(url, kind, lines, scratch)
            env = dict(os.environ, PYTHONHASHSEED="0")
            procs = [subprocess.Popen([sys.executable, __file__, "--worker", url],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                      env=env) for _ in range(workers)]
            for proc in procs:
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    raise SystemExit("a worker did not start")
            started = time.perf_counter()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            results = []
            for proc in procs:
                assert proc.stdout is not None
                results.append(json.loads(proc.stdout.readline()))
                proc.wait(60)
            elapsed = time.perf_counter() - started
        finally:
            for server in servers:
                server.terminate()
                server.wait(10)
    handled = sum(r["handled"] for r in results)
    return {"handled": handled, "failed": sum(r["failed"] for r in results),
            "seconds": elapsed, "rate": handled / elapsed,
            "split": [r["handled"] for r in results]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--kind", choices=("quiet", "ssh-storm"), default="quiet")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    missing = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"{' and '.join(missing)} not on PATH: this benchmark starts its own "
                         "Redis servers (Debian package redis-server)")
    counts = [int(n) for n in args.workers.split(",")]
    rates: dict[tuple[str, int], list[float]] = {}
    print(f"{args.lines:,} {args.kind} events; {args.runs} runs; workers {counts}; "
          f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}")
    for run in range(args.runs):
        for workers in counts:
            for topology in TOPOLOGIES:
                result = measure(topology, workers, args.kind, args.lines)
                rates.setdefault((topology, workers), []).append(result["rate"])
                print(f"  run {run + 1} {topology:<9} {workers} worker(s) {result['rate']:>9,.0f}"
                      f" events/s ({result['handled']:,} in {result['seconds']:.2f} s, split "
                      f"{result['split']}, failed {result['failed']})", flush=True)
    print("medians (events/s):")
    for topology in TOPOLOGIES:
        one = statistics.median(rates[(topology, counts[0])])
        cells = []
        for workers in counts:
            median = statistics.median(rates[(topology, workers)])
            cells.append(f"{workers}: {median:,.0f} ({median / one:.2f}x)")
        print(f"  {topology:<9} " + "; ".join(cells))
    for workers in counts:
        single = statistics.median(rates[("one Redis", workers)])
        cluster = statistics.median(rates[("cluster", workers)])
        print(f"  {workers} worker(s): cluster / one Redis = {cluster / single:.2f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
