"""No loss: the on-disk spool, the exactly-once sink, and collectors across a Redis restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from own_redis import OwnRedis

from socbot.collectors.pipeline import collect_secure
from socbot.collectors.sink import Batch, EventSink
from socbot.collectors.spool import Spool, SpoolFull
from socbot.core.events import loads
from socbot.core.streams import EVENTS

DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def down_client() -> redis.Redis:
    return redis.Redis.from_url(DOWN, socket_connect_timeout=0.2)


def stream_messages(client: redis.Redis) -> list[str]:
    return [loads(f[b"e"])["message"] for _i, f in client.xrange(EVENTS)]


# --- the spool ------------------------------------------------------------------------------

def test_spool_is_a_fifo_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=100)
    for seq in range(1, 11):
        spool.append("run1", seq, {"e": [f"event {seq}"]})
    assert len(list(tmp_path.glob("*.spool"))) > 2
    items = list(spool)
    assert [i.seq for i in items] == list(range(1, 11))
    spool.acknowledge(items[5])
    assert [i.seq for i in spool] == list(range(7, 11))
    spool.acknowledge(items[-1])
    assert not spool and list(tmp_path.glob("*.spool")) == []


def test_spool_refuses_to_grow_past_its_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1024)
    spool.append("r", 1, {"e": ["x" * 600]})
    with pytest.raises(SpoolFull):
        spool.append("r", 2, {"e": ["x" * 600]})
    assert [i.seq for i in spool] == [1]


def test_spool_drops_a_torn_last_line_after_a_crash(tmp_path: Path) -> None:
    Spool(tmp_path).append("r", 1, {"e": ["a"]})
    segment = next(tmp_path.glob("*.spool"))
    with open(segment, "ab") as handle:
        handle.write(b'r\t2\t{"e": ["trunc')
    assert [i.seq for i in Spool(tmp_path)] == [1]


# --- the sink -------------------------------------------------------------------------------

def batch(*messages: str) -> Batch:
    return Batch(events=[f'{{"message":"{m}"}}' for m in messages])


def test_sink_spools_while_redis_is_down_and_drains_in_order(
        tmp_path: Path, redis_client: redis.Redis) -> None:
    spool = Spool(tmp_path)
    offline = EventSink(down_client(), "t", spool)
    assert offline.send(batch("a", "b")).spooled
    assert offline.send(batch("c")).spooled
    online = EventSink(redis_client, "t", spool)   # a later run, Redis back
    assert online.send(batch("d")).sent
    assert stream_messages(redis_client) == ["a", "b", "c", "d"]
    assert not spool


def test_draining_again_after_a_crash_adds_nothing(tmp_path: Path,
                                                   redis_client: redis.Redis) -> None:
    offline = EventSink(down_client(), "t", Spool(tmp_path))
    for name in ("a", "b", "c"):
        offline.send(batch(name))
    # A collector drains, Redis takes the batches, and the process dies before the spool's
    # files are cleaned up: a copy of the files stands for that.
    copy = tmp_path.parent / "copy"
    shutil.copytree(tmp_path, copy)
    assert EventSink(redis_client, "t", Spool(tmp_path)).drain()
    assert EventSink(redis_client, "t", Spool(copy)).drain()
    assert stream_messages(redis_client) == ["a", "b", "c"]


def test_a_batch_sent_twice_is_added_once(redis_client: redis.Redis) -> None:
    sink = EventSink(redis_client, "t")
    sink._commit(sink.epoch, 1, batch("a"))  # the reply was lost; the caller retries
    sink._commit(sink.epoch, 1, batch("a"))
    assert stream_messages(redis_client) == ["a"]


# --- a Redis server of our own, stopped and started mid-run ----------------------------------

def lines(start: int, stop: int) -> list[str]:
    return [f"Nov 23 03:12:09 h sshd[{i}]: Invalid user u{i} from 192.0.2.{i % 250} port {i}"
            for i in range(start, stop)]


def append(path: Path, new: list[str]) -> None:
    with open(path, "a") as handle:
        handle.write("".join(line + "\n" for line in new))


def test_redis_restart_mid_run_loses_and_doubles_nothing(tmp_path: Path,
                                                         own_redis: OwnRedis) -> None:
    log = tmp_path / "secure"
    log.touch()
    client = redis.Redis.from_url(own_redis.url, socket_connect_timeout=0.5,
                                  socket_timeout=2)
    stop = threading.Event()
    results = []
    worker = threading.Thread(
        target=lambda: results.append(collect_secure(
            client, log, stop, from_start=True, poll_interval=0.02, batch=50,
            spool=Spool(tmp_path / "spool"))))
    worker.start()
    try:
        total = 0
        for step in range(30):
            append(log, lines(total, total + 100))
            total += 100
            time.sleep(0.02)
            if step == 10:
                own_redis.kill()          # mid-run: lines keep coming, the spool takes them
            if step == 20:
                own_redis.start()         # back: the spool drains, then new lines follow
        deadline = time.monotonic() + 60
        check = redis.Redis.from_url(own_redis.url)
        while check.xlen(EVENTS) < total and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    assert stream_messages(check) == lines(0, total)   # every line once, in order
    assert results[0].spooled > 0 and results[0].sent == total


def test_sigterm_while_redis_is_down_keeps_every_event(tmp_path: Path,
                                                       own_redis: OwnRedis) -> None:
    log = tmp_path / "secure"
    append(log, lines(0, 300))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "SOCBOT_"))}
    env.update({"REDIS_URL": own_redis.url, "SOCBOT_STATE_DIR": str(tmp_path / "state")})
    command = [sys.executable, "-m", "socbot.bot.cli", "collect", "secure", "--path", str(log),
               "--from-start"]
    project = Path(__file__).resolve().parents[1]
    check = redis.Redis.from_url(own_redis.url)
    collector = subprocess.Popen(command, env=env, cwd=project, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while check.xlen(EVENTS) < 300:
            assert time.monotonic() < deadline, "the first lines never arrived"
            time.sleep(0.05)
        own_redis.kill()
        append(log, lines(300, 700))     # read while Redis is down: spooled
        spool = tmp_path / "state" / "spool"
        while not any(spool.rglob("*.spool")):
            assert time.monotonic() < deadline, "nothing was spooled"
            time.sleep(0.05)
        time.sleep(1.0)
        collector.send_signal(signal.SIGTERM)
        assert collector.wait(30) == 0
    finally:
        if collector.poll() is None:
            collector.kill()
    own_redis.start()
    again = subprocess.run([*command, "--once"], env=env, cwd=project, capture_output=True,
                           text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert stream_messages(check) == lines(0, 700)


def test_door_receiver_spools_then_answers_503_when_the_spool_is_full(tmp_path: Path) -> None:
    import http.client
    import json

    from socbot.collectors.door.webhook import SIGNATURE, TIMESTAMP, make_server, sign
    from socbot.core.config import DoorCollector

    spool = Spool(tmp_path, max_bytes=4096)
    server = make_server(("127.0.0.1", 0), EventSink(down_client(), "door", spool),
                         secret=b"s", settings=DoorCollector())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    statuses = []
    try:
        for i in range(20):
            body = json.dumps({"uuid": f"u{i}", "type": "lock.unlock", "success": True,
                               "actor_name": "x" * 100, "object_name": "Lab",
                               "created_at": "2026-11-23T03:12:09Z"}).encode()
            stamp = str(int(time.time()))
            conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
            conn.request("POST", "/door/kisi", body,
                         {TIMESTAMP: stamp, SIGNATURE: sign(b"s", stamp, body)})
            statuses.append(conn.getresponse().status)
            conn.close()
    finally:
        server.shutdown()
        server.server_close()
    accepted = statuses.count(200)
    assert 0 < accepted < 20 and statuses == [200] * accepted + [503] * (20 - accepted)
    assert len(list(spool)) == accepted
