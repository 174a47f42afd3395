"""Listener benchmark: records per second from 4 concurrent senders into ``soc:events``, over
syslog on TCP and over the Forward protocol, beside the file collector on the same lines.

Run by hand (not by pytest)::

    .venv/bin/python bench/bench_listen.py [--lines 200000] [--runs 3] [--senders 4]

Each run starts ``socbot collect listen`` as a process of its own against a redis-server of
the bench's own (no persistence) and sends the lines from ``../shared/tools/gen_secure_log.py``
split among the senders: syslog senders write octet-counted frames, Forward senders write
PackedForward chunks of 500 entries and wait for each ack (as fluentd's
``require_ack_response`` does). The clock stops when the last event is in the stream. The file
collector (``socbot collect secure --from-start --once``, one process) reads the same lines in
the same run; medians of the runs and the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack
import redis

from socbot.core import keys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_collectors import GENERATOR, SOCBOT, OwnRedis, load, timed  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def send_syslog(port: int, lines: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        frames = [b"%d %s" % (len(line), line) for line in lines]
        for start in range(0, len(frames), 1000):
            conn.sendall(b"".join(frames[start:start + 1000]))


def send_forward(port: int, lines: list[bytes]) -> None:
    unpacker = msgpack.Unpacker(raw=False)
    with socket.create_connection(("127.0.0.1", port)) as conn:
        for n, start in enumerate(range(0, len(lines), 500)):
            packed = b"".join(msgpack.packb([int(time.time()), {"message": line.decode()}])
                              for line in lines[start:start + 500])
            conn.sendall(msgpack.packb(["host.secure", packed, {"chunk": str(n)}],
                                       use_bin_type=True))
            while True:
                answer = next(unpacker, None)
                if answer is not None:
                    break
                unpacker.feed(conn.recv(4096))


def run_listen(protocol: str, lines: list[bytes], senders: int, client: redis.Redis,
               env: dict[str, str]) -> float:
    """Seconds from the first byte sent to the last event in the stream."""
    client.flushdb()
    port = free_port()
    flag = "--syslog-tcp" if protocol == "syslog" else "--forward"
    process = subprocess.Popen([*SOCBOT, "collect", "listen", flag, f"127.0.0.1:{port}"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("socbot collect listen did not start") from None
                time.sleep(0.05)
        share = [lines[i::senders] for i in range(senders)]
        target = send_syslog if protocol == "syslog" else send_forward
        threads = [threading.Thread(target=target, args=(port, part)) for part in share]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wanted = len(lines)
        while True:  # every line is an event, an ignored line or a dead letter
            done = (client.xlen(keys.EVENTS) + client.xlen(keys.DEAD_LETTERS)
                    + int(client.hget(keys.PARSE_STATS, "secure.ignored") or 0))
            if done >= wanted:
                return time.perf_counter() - started
            if time.perf_counter() - started > 600:
                raise SystemExit(f"only {done} of {wanted} records arrived")
            time.sleep(0.01)
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not on PATH (Debian package redis-server)")
    with tempfile.TemporaryDirectory(prefix="socbot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "secure"
        with open(path, "wb") as handle:
            subprocess.run([sys.executable, str(GENERATOR), str(args.lines)], stdout=handle,
                           check=True)
        lines = path.read_bytes().splitlines()
        server = OwnRedis(tmp)
        client = redis.Redis.from_url(server.url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "SOCBOT_"))}
        env.update({"REDIS_URL": server.url, "SOCBOT_STATE_DIR": str(tmp / "state")})
        print(f"{len(lines):,} lines, {args.senders} senders; {load()}")
        results: dict[str, list[float]] = {"file": [], "syslog": [], "forward": []}
        try:
            for _ in range(args.runs):  # interleaved, so each sees the same machine
                client.flushdb()
                results["file"].append(timed([*SOCBOT, "collect", "secure", "--path",
                                              str(path), "--from-start", "--once"], env)[0])
                for protocol in ("syslog", "forward"):
                    results[protocol].append(run_listen(protocol, lines, args.senders, client,
                                                        env))
        finally:
            server.stop()
        rates = {name: len(lines) / statistics.median(walls) for name, walls in results.items()}
        for name, walls in results.items():
            print(f"  {name:8} median {statistics.median(walls):6.2f} s  "
                  f"{rates[name]:10,.0f} records/s  (runs: "
                  + ", ".join(f"{w:.2f}" for w in walls) + ")")
        for name in ("syslog", "forward"):
            print(f"  {name} / file collector: {rates[name] / rates['file']:.2f}")
        print(f"after: {load()}")


if __name__ == "__main__":
    main()
