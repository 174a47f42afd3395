"""Collector benchmark: parsing against fail2ban-regex, and lines per second into Redis.

Run by hand (not by pytest)::

    .venv/bin/python bench/bench_collectors.py [--lines 400000] [--runs 3] [--redis-url URL]

1. ``socbot parse --source secure --summary FILE`` (default ``--jobs``: one process per CPU
   for a file this size, and again with ``--jobs 1``) and ``fail2ban-regex FILE sshd``
   (Debian's fail2ban), each as a whole process, start-up included, on the same file from
   ``../shared/tools/gen_secure_log.py``, interleaved run by run so that both see the same
   machine; medians and the ratio.
2. ``socbot collect secure --path FILE --from-start --once`` into a Redis stream, one
   collector process: lines per second of wall time and per CPU second of the collector
   (the Redis server runs beside it). A redis-server of its own on a free port unless
   ``--redis-url`` names a database to use (it is flushed).

The load average is printed before and after: on a shared machine it says how much of the
CPU the figures had.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from socbot.core import keys

PROJECT = Path(__file__).resolve().parents[1]
GENERATOR = PROJECT.parent / "shared" / "tools" / "gen_secure_log.py"
SOCBOT = [sys.executable, "-m", "socbot.bot.cli"]


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=env, cwd=PROJECT, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def report(name: str, lines: int, walls: list[float], cpus: list[float]) -> float:
    wall = statistics.median(walls)
    cpu = statistics.median(cpus)
    print(f"  {name:<44} median {wall:7.2f} s wall ({lines / wall:>9,.0f} lines/s), "
          f"{cpu:7.2f} s CPU ({lines / cpu:>9,.0f} lines/CPU-s)   runs: "
          + ", ".join(f"{w:.2f}" for w in walls))
    return wall


def bench_parse(path: Path, lines: int, runs: int) -> None:
    f2b = shutil.which("fail2ban-regex")
    commands: dict[str, list[str]] = {
        "socbot parse --summary (default jobs)": [*SOCBOT, "parse", "--source", "secure",
                                                  "--summary", str(path)],
        "socbot parse --summary --jobs 1": [*SOCBOT, "parse", "--source", "secure",
                                            "--summary", "--jobs", "1", str(path)],
    }
    if f2b:
        commands["fail2ban-regex FILE sshd"] = [f2b, str(path), "sshd"]
    else:
        print("  fail2ban-regex is not installed (apt-get install fail2ban): its runs skipped")
    results: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in commands}
    for run in range(runs):
        for name, command in commands.items():
            wall, cpu = timed(command)
            results[name][0].append(wall)
            results[name][1].append(cpu)
        print(f"  run {run + 1}/{runs} done ({load()})", flush=True)
    medians = {name: report(name, lines, *values) for name, values in results.items()}
    if f2b:
        theirs = medians["fail2ban-regex FILE sshd"]
        for name, ours in medians.items():
            if name.startswith("socbot"):
                print(f"  ratio, {name}: {theirs / ours:.1f}x fail2ban-regex's lines/s")


class OwnRedis:
    """A redis-server without persistence on a free port, in a temporary directory."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(directory), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def bench_collect(path: Path, lines: int, runs: int, url: str | None, tmp: Path) -> None:
    import redis

    server = None
    if url is None:
        if shutil.which("redis-server") is None:
            print("  redis-server is not on PATH: give --redis-url to measure collection")
            return
        server = OwnRedis(tmp)
        url = server.url
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "SOCBOT_"))}
    env.update({"REDIS_URL": url, "SOCBOT_STATE_DIR": str(tmp / "state")})
    walls, cpus = [], []
    try:
        for _ in range(runs):
            client.flushdb()
            wall, cpu = timed([*SOCBOT, "collect", "secure", "--path", str(path), "--from-start",
                               "--once"], env)
            events = client.xlen(keys.EVENTS)
            walls.append(wall)
            cpus.append(cpu)
        client.flushdb()
    finally:
        if server is not None:
            server.stop()
    print(f"  ({events:,} events on soc:events per run)")
    report("socbot collect secure (file to stream)", lines, walls, cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", help="use this database (flushed) instead of a "
                                            "redis-server of our own")
    parser.add_argument("--skip", choices=("parse", "collect"), action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="socbot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "secure"
        with open(path, "wb") as handle:
            subprocess.run([sys.executable, str(GENERATOR), str(args.lines)], stdout=handle,
                           check=True)
        print(f"{args.lines:,} lines, {path.stat().st_size / 1e6:.1f} MB; {load()}")
        steps: list[tuple[str, Callable[[], None]]] = [
            ("parse", lambda: bench_parse(path, args.lines, args.runs)),
            ("collect", lambda: bench_collect(path, args.lines, args.runs, args.redis_url,
                                              tmp)),
        ]
        for name, step in steps:
            if name not in args.skip:
                print(f"\n{name}:")
                step()
        print(f"\n{load()}")


if __name__ == "__main__":
    main()
