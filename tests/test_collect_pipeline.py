"""Collectors into a real Redis: exactly-once tailing, dead letters, CloudTrail dedup."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis

from socbot.collectors.pipeline import collect_cloudtrail, collect_secure
from socbot.collectors.tail import FileTailer, PositionStore
from socbot.core.events import loads
from socbot.core.keys import PARSE_STATS
from socbot.core.streams import DEAD_LETTERS, EVENTS


def sent_messages(client: redis.Redis) -> list[str]:
    return [loads(fields[b"e"])["message"] for _id, fields in client.xrange(EVENTS)]


def stats(client: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(PARSE_STATS).items()}


def collect_once(client: redis.Redis, path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    return collect_secure(client, path, threading.Event(), from_start=True, once=True, **kwargs)


@pytest.fixture
def sample_lines(shared_data: Path) -> list[str]:
    return (shared_data / "authlog/wazuh/log-entries_sshd").read_text().splitlines()


def write(path: Path, lines: list[str], mode: str = "a") -> None:
    with open(path, mode) as fh:
        fh.write("".join(line + "\n" for line in lines))


def test_real_sample_is_collected_once_in_place(
        shared_data: Path, redis_client: redis.Redis) -> None:
    path = shared_data / "authlog/wazuh/log-entries_sshd"
    first = collect_once(redis_client, path, batch=100)
    assert (first.parsed, first.sent, first.failed) == (345, 345, 0)
    assert redis_client.xlen(EVENTS) == 345
    assert stats(redis_client) == {"secure.parsed": 345}
    again = collect_once(redis_client, path)
    assert again.sent == 0 and redis_client.xlen(EVENTS) == 345


def test_restart_resumes_without_loss_or_repeat(
        tmp_path: Path, redis_client: redis.Redis, sample_lines: list[str]) -> None:
    log = tmp_path / "secure"
    write(log, sample_lines[:50])
    collect_once(redis_client, log, batch=7)
    # A collector that read lines and died before its transaction: nothing was committed.
    write(log, sample_lines[50:80])
    crashed = FileTailer(log, PositionStore(redis_client))
    assert len(crashed.read_batch(100)) == 30
    crashed.close()
    write(log, sample_lines[80:100])
    collect_once(redis_client, log, batch=7)
    assert sent_messages(redis_client) == sample_lines[:100]
    ids = [loads(f[b"e"])["event.id"] for _i, f in redis_client.xrange(EVENTS)]
    assert len(set(ids)) == 100


def test_rotation_by_rename_loses_nothing(
        tmp_path: Path, redis_client: redis.Redis, sample_lines: list[str]) -> None:
    log = tmp_path / "secure"
    write(log, sample_lines[:10])
    collect_once(redis_client, log)
    write(log, sample_lines[10:15])           # after the last collection, before rotation
    log.rename(tmp_path / "secure.1")
    write(log, sample_lines[15:20])
    collect_once(redis_client, log)
    assert sent_messages(redis_client) == sample_lines[:20]


def test_truncation_reads_the_new_content(
        tmp_path: Path, redis_client: redis.Redis, sample_lines: list[str]) -> None:
    log = tmp_path / "secure"
    write(log, sample_lines[:10])
    collect_once(redis_client, log)
    write(log, sample_lines[10:12], mode="w")  # copytruncate, then two new lines
    collect_once(redis_client, log)
    assert sent_messages(redis_client) == sample_lines[:12]


def test_partial_last_line_is_sent_once_complete(
        tmp_path: Path, redis_client: redis.Redis, sample_lines: list[str]) -> None:
    log = tmp_path / "secure"
    head, tail = sample_lines[1][:25], sample_lines[1][25:]
    log.write_text(sample_lines[0] + "\n" + head)
    assert collect_once(redis_client, log).sent == 1
    with open(log, "a") as fh:
        fh.write(tail + "\n")
    assert collect_once(redis_client, log).sent == 1
    assert sent_messages(redis_client) == sample_lines[:2]


def test_too_long_and_unparseable_lines_are_dead_lettered(
        tmp_path: Path, redis_client: redis.Redis, sample_lines: list[str]) -> None:
    log = tmp_path / "secure"
    long_line = sample_lines[0] + " " + "x" * 10_000
    write(log, [long_line, "not syslog at all", "Nov 23 03:12:09 h kernel: link up",
                sample_lines[1]])
    result = collect_once(redis_client, log)
    assert (result.parsed, result.ignored, result.failed, result.sent) == (1, 1, 2, 1)
    dead = [{k.decode(): v.decode() for k, v in f.items()}
            for _i, f in redis_client.xrange(DEAD_LETTERS)]
    assert [d["source"] for d in dead] == ["secure", "secure"]
    assert dead[0]["error"].startswith("LineTooLong")
    assert dead[0]["line"] == long_line[:8192] and dead[0]["path"] == str(log)
    assert dead[1]["error"].startswith("ParseError") and dead[1]["line"] == "not syslog at all"
    assert stats(redis_client) == {"secure.parsed": 1, "secure.ignored": 1, "secure.failed": 2}


def test_follow_mode_runs_until_stopped(
        tmp_path: Path, redis_client: redis.Redis, sample_lines: list[str]) -> None:
    log = tmp_path / "secure"
    log.touch()
    stop = threading.Event()
    worker = threading.Thread(target=collect_secure, args=(redis_client, log, stop),
                              kwargs={"poll_interval": 0.02})
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not redis_client.exists(PositionStore(redis_client).key(log)):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        write(log, sample_lines[:3])
        while redis_client.xlen(EVENTS) < 3:
            assert time.monotonic() < deadline, "lines appended were not collected"
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert sent_messages(redis_client) == sample_lines[:3]


# --- CloudTrail ----------------------------------------------------------------------------

def test_cloudtrail_file_read_twice_is_sent_once(
        shared_data: Path, redis_client: redis.Redis) -> None:
    folder = shared_data / "cloudtrail/invictus-ir-aws-dataset/CloudTrail"
    path = min(folder.glob("*.json"))
    first = collect_cloudtrail(redis_client, path, dedup_ttl=600)
    assert first.sent == first.parsed > 0 and first.duplicates == 0
    again = collect_cloudtrail(redis_client, path, dedup_ttl=600)
    assert (again.sent, again.duplicates) == (0, first.parsed)
    assert redis_client.xlen(EVENTS) == first.sent
    some_id = loads(redis_client.xrange(EVENTS, count=1)[0][1][b"e"])["event.id"]
    assert 0 < redis_client.ttl(f"{{soc}}:seen:ct:{some_id}") <= 600
    assert stats(redis_client) == {"cloudtrail.parsed": 2 * first.parsed,
                                   "cloudtrail.duplicates": first.parsed}


def test_cloudtrail_whole_recording_in_small_batches(
        shared_data: Path, redis_client: redis.Redis) -> None:
    folder = shared_data / "cloudtrail/invictus-ir-aws-dataset/CloudTrail"
    result = collect_cloudtrail(redis_client, folder, batch=97)
    assert (result.parsed, result.sent, result.failed) == (2900, 2900, 0)
    assert redis_client.xlen(EVENTS) == 2900


def test_cloudtrail_bad_record_is_dead_lettered(tmp_path: Path, redis_client: redis.Redis) -> None:
    path = tmp_path / "trail.json"
    path.write_text('{"Records": [{"eventID": "a", "eventTime": "2023-07-10T12:00:00Z", '
                    '"eventName": "StopLogging"}, {"eventName": "NoIdOrTime"}]}')
    result = collect_cloudtrail(redis_client, path)
    assert (result.sent, result.failed) == (1, 1)
    [(_id, fields)] = redis_client.xrange(DEAD_LETTERS)
    assert fields[b"source"] == b"cloudtrail" and b"NoIdOrTime" in fields[b"line"]
    assert b"eventID" in fields[b"error"] and fields[b"index"] == b"1"
