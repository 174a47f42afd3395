"""One crafted record never costs the others: CloudTrail files, SQS, EventBridge, door webhook and
files. Each hostile shape is one a red-team pass found ending a whole run (issue 12, findings 1-2).
"""

from __future__ import annotations

import copy
import gzip
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from moto_server import MotoServer

from socbot.collectors.base import BadRecord
from socbot.collectors.cloudtrail import read_path
from socbot.collectors.cloudtrail_sqs import collect_sqs
from socbot.collectors.door.webhook import SIGNATURE, TIMESTAMP, make_server, sign
from socbot.collectors.pipeline import collect_cloudtrail
from socbot.collectors.sink import EventSink
from socbot.core.config import DoorCollector
from socbot.core.events import loads
from socbot.core.streams import DEAD_LETTERS, EVENTS

PROJECT = Path(__file__).resolve().parents[1]
SECRET = b"door-shared-secret"


def good_record(n: int) -> dict[str, Any]:
    return {"eventVersion": "1.08", "eventID": f"good-{n}", "eventTime": "2026-11-23T03:12:09Z",
            "eventName": "GetCallerIdentity", "eventSource": "sts.amazonaws.com",
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
            "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "userName": "alice",
                             "arn": "arn:aws:iam::111122223333:user/alice"}}


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


# name -> (record as JSON text, what must come of it: "event" or "bad")
HOSTILE_TEXT: dict[str, tuple[str, str]] = {}


def _hostile(name: str, outcome: str, **changes: Any) -> None:
    record = good_record(0)
    record["eventID"] = f"hostile-{name}"
    for key, value in changes.items():
        record[key] = value
    HOSTILE_TEXT[name] = (json.dumps(record), outcome)


_hostile("session_context_string", "event",
         userIdentity={"type": "AssumedRole", "sessionContext": "not an object",
                       "arn": "arn:aws:sts::1:assumed-role/r/s"})
_hostile("year_9999_minus_5h", "bad", eventTime="9999-12-31T23:59:59-05:00")
_hostile("year_1_plus_1h", "bad", eventTime="0001-01-01T00:30:00+01:00")
_hostile("far_future", "bad", eventTime="2999-01-01T00:00:00Z")
# json.dumps writes a lone surrogate as the escape "\ud800", as a hostile file would.
_hostile("lone_surrogate_user", "event",
         userIdentity={"type": "IAMUser", "userName": "ev\ud800e", "arn": "x"})
_hostile("lone_surrogate_agent", "event", userAgent="curl\udfff")
_hostile("nul_in_agent", "event", userAgent="a\x00b\x1b[31m")
_hostile("event_id_number", "bad", eventID=12345)
HOSTILE_TEXT["nested_5000"] = (json.dumps(good_record(0))[:-1] + ', "requestParameters": '
                               + deep(5000) + "}", "bad")
HOSTILE_TEXT["nested_100"] = (json.dumps(good_record(0))[:-1] + ', "requestParameters": '
                              + deep(100) + "}", "bad")


def delivery_file(hostile: str) -> str:
    """A CloudTrail delivery document: good, hostile, good."""
    return ('{"Records": [' + json.dumps(good_record(1)) + ", " + hostile + ", "
            + json.dumps(good_record(2)) + "]}")


def split(items: list[Any]) -> tuple[list[dict], list[BadRecord]]:
    return ([i for i in items if isinstance(i, dict)], [i for i in items if isinstance(i,
                                                                                  BadRecord)])


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXT))
def test_cloudtrail_file_keeps_its_good_records_around_a_hostile_one(
        name: str, tmp_path: Path) -> None:
    text, outcome = HOSTILE_TEXT[name]
    path = tmp_path / "trail.json"
    path.write_text(delivery_file(text))
    events, bad = split(list(read_path(path)))
    ids = [e["event.id"] for e in events]
    assert "good-1" in ids and "good-2" in ids
    if outcome == "event":
        assert len(events) == 3 and not bad
        for event in events:  # every text encodes as UTF-8: Redis and Lua can take it
            json.dumps(event, ensure_ascii=False).encode("utf-8")
    else:
        assert len(events) == 2 and len(bad) == 1 and bad[0].error


def test_repaired_text_is_marked_and_shows_where_it_was() -> None:
    text, _ = HOSTILE_TEXT["lone_surrogate_user"]
    from socbot.collectors.cloudtrail import read_bytes

    [event] = list(read_bytes(text.encode(), "x"))
    assert isinstance(event, dict)
    assert event["user.name"] == "ev\ufffde"
    assert "text_repaired" in event["tags"]


def test_collect_cloudtrail_sends_the_good_and_dead_letters_the_bad(
        tmp_path: Path, redis_client: redis.Redis) -> None:
    for name, (text, _) in HOSTILE_TEXT.items():
        (tmp_path / f"{name}.json").write_text(delivery_file(text))
    stats = collect_cloudtrail(redis_client, tmp_path)
    bad = sum(1 for _t, outcome in HOSTILE_TEXT.values() if outcome == "bad")
    kept = len(HOSTILE_TEXT) - bad
    assert (stats.sent, stats.failed) == (2 + kept, bad)  # good-1/2 once (dedup), each hostile
    reasons = [f[b"error"].decode() for _i, f in redis_client.xrange(DEAD_LETTERS)]
    assert len(reasons) == bad and all(reasons)
    assert any("deeper" in r or "too deep" in r for r in reasons)


def test_socbot_parse_prints_the_good_records_of_a_poisoned_file(tmp_path: Path) -> None:
    for name, (text, _) in HOSTILE_TEXT.items():
        (tmp_path / f"{name}.json").write_text(delivery_file(text))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "SOCBOT_"))}
    done = subprocess.run([sys.executable, "-m", "socbot.bot.cli", "parse", "--source",
                           "cloudtrail", str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=120, check=False, cwd=PROJECT)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    bad = sum(1 for _t, outcome in HOSTILE_TEXT.values() if outcome == "bad")
    assert len(lines) == 2 * len(HOSTILE_TEXT) + len(HOSTILE_TEXT) - bad
    assert f"{bad} unparsed" in done.stderr


# --- SQS (moto server) -------------------------------------------------------------------------

BUCKET = "trail-bucket"


@pytest.fixture
def queue(aws: MotoServer) -> tuple[Any, Any, str]:
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    url = sqs.create_queue(QueueName="hostile")["QueueUrl"]
    return sqs, s3, url


def eventbridge(record_text: str) -> str:
    return ('{"version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail", '
            '"account": "111122223333", "region": "us-east-1", "detail": ' + record_text + "}")


def left_on_queue(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"])


def test_sqs_poisoned_messages_do_not_stop_the_good_ones(
        queue: tuple[Any, Any, str], redis_client: redis.Redis) -> None:
    sqs, s3, url = queue
    key = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/23/f.json.gz"
    s3.put_object(Bucket=BUCKET, Key=key,
                  Body=gzip.compress(delivery_file(HOSTILE_TEXT["nested_5000"][0]).encode()))
    bodies = [json.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [key]}),
              eventbridge(HOSTILE_TEXT["year_9999_minus_5h"][0]),
              eventbridge(HOSTILE_TEXT["lone_surrogate_user"][0]),
              eventbridge(HOSTILE_TEXT["session_context_string"][0]),
              deep(5000),
              json.dumps({"s3Bucket": 7, "s3ObjectKey": [["not", "a", "key"]]}),
              eventbridge(json.dumps(good_record(3)))]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    stats = collect_sqs(redis_client, sqs, s3, url, threading.Event(), once=True,
                        visibility_s=30)
    ids = sorted(loads(f[b"e"])["event.id"] for _i, f in redis_client.xrange(EVENTS))
    assert ids == ["good-1", "good-2", "good-3", "hostile-lone_surrogate_user",
                   "hostile-session_context_string"]
    # The deep record in the file, the year-9999 record, the deep body and the bad notification.
    assert redis_client.xlen(DEAD_LETTERS) == 4
    assert stats.deleted == len(bodies) and left_on_queue(sqs, url) == 0


# --- door webhook over HTTP and door files ------------------------------------------------------

@pytest.fixture
def receiver(redis_client: redis.Redis) -> Iterator[tuple[str, int]]:
    settings = DoorCollector(max_body_bytes=1 << 20, signature_tolerance_s=60, site="HQ")
    server = make_server(("127.0.0.1", 0), EventSink(redis_client, "door-hostile"),
                         secret=SECRET, settings=settings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[:2]  # type: ignore[misc]
    server.shutdown()
    server.server_close()


def post(address: tuple[str, int], path: str, body: bytes) -> tuple[int, dict]:
    stamp = str(int(time.time()))
    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request("POST", path, body=body, headers={TIMESTAMP: stamp,
                                                   SIGNATURE: sign(SECRET, stamp, body)})
    response = conn.getresponse()
    status, payload = response.status, json.loads(response.read() or b"{}")
    conn.close()
    return status, payload


KISI = {"uuid": "k-1", "type": "lock.unlock", "actor_type": "User", "actor_id": 1,
        "actor_name": "Dana Scully", "object_id": 17, "object_name": "Server room",
        "place_id": 99, "success": True, "created_at": "2026-11-23T03:12:09Z"}
UNIFI_LOG = {"event": "access.logs.add", "data": {"_id": "u-1", "_source": {
    "actor": {"id": "p1", "display_name": "Walter"}, "target": 42,
    "event": {"type": "access.door.unlock", "result": "ACCESS",
              "published": "2026-11-23T03:12:09Z"}}}}


def kisi(**changes: Any) -> bytes:
    body = copy.deepcopy(KISI)
    body.update(changes)
    body["uuid"] = f"k-{len(json.dumps(changes))}-{sorted(changes)}"
    return json.dumps(body).encode()


# path, body, expected status
DOOR_HOSTILE: dict[str, tuple[str, bytes, int]] = {
    "nested_5000": ("/door/kisi", deep(5000).encode(), 400),
    "nested_100": ("/door/kisi", kisi(extra=json.loads(deep(100)))[:-1] + b"}", 422),
    "surrogate_actor_name": ("/door/kisi", kisi(actor_name="Da\ud800na"), 200),
    "created_at_year_9999": ("/door/kisi", kisi(created_at="9999-12-31T23:59:59-05:00"), 422),
    "created_at_1e20": ("/door/kisi", kisi(created_at=1e20), 422),
    "created_at_negative": ("/door/kisi", kisi(created_at=-1e12), 422),
    "unifi_target_number": ("/door/unifi", json.dumps(UNIFI_LOG).encode(), 200),
    "unifi_result_number": ("/door/unifi", json.dumps(
        {**UNIFI_LOG, "data": {"_id": "u-2", "_source": {
            **UNIFI_LOG["data"]["_source"],  # type: ignore[index]
            "event": {"type": "x", "result": 7}}}}).encode(), 422),
    "verkada_data_list": ("/door/verkada", b'{"webhook_type": "x", "data": []}', 422),
    "kisi_type_number": ("/door/kisi", kisi(type=5), 422),
}


@pytest.mark.parametrize("name", sorted(DOOR_HOSTILE))
def test_door_webhook_answers_every_hostile_body(
        name: str, receiver: tuple[str, int], redis_client: redis.Redis) -> None:
    path, body, expected = DOOR_HOSTILE[name]
    status, payload = post(receiver, path, body)
    assert status == expected, payload
    if status == 200:
        [(_id, fields)] = redis_client.xrange(EVENTS)
        json.loads(fields[b"e"])  # valid UTF-8 JSON
    else:
        [(_id, fields)] = redis_client.xrange(DEAD_LETTERS)
        assert fields[b"error"] and fields[b"source"] == b"door"
    # The server still answers: the handler thread did not die.
    assert post(receiver, "/door/kisi", kisi(note=name))[0] == 200


def test_socbot_parse_door_reads_around_hostile_payloads(tmp_path: Path) -> None:
    for name, (_path, body, _status) in DOOR_HOSTILE.items():
        (tmp_path / f"{name}.json").write_bytes(body)
    (tmp_path / "good.json").write_bytes(kisi(note="good"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "SOCBOT_"))}
    done = subprocess.run([sys.executable, "-m", "socbot.bot.cli", "parse", "--source", "door",
                           str(tmp_path)], capture_output=True, text=True, env=env, timeout=120,
                          check=False, cwd=PROJECT)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    accepted = sum(1 for _p, _b, status in DOOR_HOSTILE.values() if status == 200)
    assert len(done.stdout.splitlines()) == accepted + 1


# --- one address form, one line per event -------------------------------------------------------

def test_ipv4_mapped_address_is_the_ipv4_address_in_every_source() -> None:
    from socbot.collectors.cloudtrail import normalize
    from socbot.collectors.secure import parse_line

    record = {**good_record(9), "sourceIPAddress": "::ffff:10.66.66.66"}
    line = ("Nov 11 08:04:51 bastion sshd[2737]: Failed password for root from "
            "::ffff:10.66.66.66 port 58946 ssh2")
    event = parse_line(line, event_id="x")
    assert event is not None
    assert normalize(record)["source.ip"] == event["source.ip"] == "10.66.66.66"


def test_json_lines_output_escapes_unicode_line_breaks(tmp_path: Path) -> None:
    names = ["a\u2028b", "c\u2029d", "e\u0085f"]
    records = [{**good_record(n), "userIdentity": {"type": "IAMUser", "userName": name}}
               for n, name in enumerate(names)]
    (tmp_path / "t.json").write_text(json.dumps({"Records": records}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "SOCBOT_"))}
    done = subprocess.run([sys.executable, "-m", "socbot.bot.cli", "parse", "--source",
                           "cloudtrail", str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=120, check=False, cwd=PROJECT)
    lines = done.stdout.splitlines()  # splits on U+2028, U+2029 and U+0085 as well
    assert len(lines) == 3
    assert [json.loads(line)["user.name"] for line in lines] == names


def test_a_gzip_bomb_is_one_bad_record_not_a_memory_exhaustion(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from socbot.collectors import cloudtrail

    monkeypatch.setattr(cloudtrail, "MAX_FILE_BYTES", 1 << 20)
    bomb = gzip.compress(b" " * (8 << 20))  # 8 MiB of spaces in 8 KiB
    [bad] = list(cloudtrail.read_bytes(bomb, "bomb.json.gz"))
    assert isinstance(bad, BadRecord) and "decompressed" in bad.error


# --- Wi-Fi files ------------------------------------------------------------------------------

AIRODUMP_HEADER = ("BSSID, First time seen, Last time seen, channel, Speed, Privacy, Cipher, "
                   "Authentication, Power, # beacons, # IV, LAN IP, ID-length, ESSID, Key")


def airodump_row(mac: str, power: str = "-40", channel: str = " 6") -> str:
    return (f"{mac}, 2026-11-23 03:12:09, 2026-11-23 03:13:09, {channel},  54, WPA2, CCMP, "
            f"PSK, {power}, 10, 0, 0.  0.  0.  0, 4, corp, ")


KISMET_GOOD = {"kismet.alert.header": "DEAUTHFLOOD", "kismet.alert.timestamp": 1795403529.5,
               "kismet.alert.text": "deauth", "kismet.alert.transmitter_mac": "00:11:22:33:44:55"}

# name -> (file name, content, events expected)
WIFI_HOSTILE: dict[str, tuple[str, bytes, int]] = {
    "airodump_superscript_power": ("a.csv", "\r\n".join([
        "", AIRODUMP_HEADER, airodump_row("00:11:22:33:44:55", power="-4\u00b3"),
        airodump_row("00:11:22:33:44:66")]).encode("latin-1"), 2),  # airodump writes bytes
    "airodump_superscript_channel": ("b.csv", "\r\n".join([
        "", AIRODUMP_HEADER, airodump_row("00:11:22:33:44:55", channel="\u00b2"),
        airodump_row("00:11:22:33:44:66")]).encode("latin-1"), 2),
    "iw_superscript_channel": ("c.iw", b"BSS 00:11:22:33:44:55(on wlan0)\n\tfreq: 2437\n"
                               b"\tSSID: corp\n\tDS Parameter set: channel \xc2\xb2\n"
                               b"BSS 00:11:22:33:44:66(on wlan0)\n\tfreq: 2412\n\tSSID: b\n", 2),
    "kismet_time_1e20": ("d.json", json.dumps(
        [{**KISMET_GOOD, "kismet.alert.timestamp": 1e20}, KISMET_GOOD]).encode(), 1),
    "kismet_nested_5000": ("e.json", ("[" + deep(5000) + ", " + json.dumps(KISMET_GOOD)
                                      + "]").encode(), 1),
    "kismet_surrogate_text": ("f.json", json.dumps(
        [{**KISMET_GOOD, "kismet.alert.text": "x\ud800"}]).encode(), 1),
}


@pytest.mark.parametrize("name", sorted(WIFI_HOSTILE))
def test_wifi_file_keeps_its_good_records_around_a_hostile_one(name: str,
                                                              tmp_path: Path) -> None:
    from socbot.collectors.wifi.files import read_path as read_wifi

    file_name, content, expected = WIFI_HOSTILE[name]
    (tmp_path / file_name).write_bytes(content)
    events = [i for i in read_wifi(tmp_path / file_name) if isinstance(i, dict)]
    assert len(events) == expected
    for event in events:
        json.dumps(event, ensure_ascii=False).encode("utf-8")


def test_ids_that_differ_only_in_repaired_characters_stay_apart(
        redis_client: redis.Redis) -> None:
    from socbot.collectors.cloudtrail import read_bytes

    records = [{**good_record(0), "eventID": "id\x00"}, {**good_record(0), "eventID": "id\ud800"}]
    items = list(read_bytes(json.dumps({"Records": records}).encode(), "x"))
    stats = collect_cloudtrail_items(redis_client, items)
    assert stats.sent == 2 and stats.duplicates == 0


def collect_cloudtrail_items(client: redis.Redis, items: list[Any]) -> Any:
    from socbot.collectors.pipeline import send_cloudtrail

    return send_cloudtrail(client, items)


def test_a_mapped_address_is_searched_as_it_is_indexed() -> None:
    from socbot.core.eventstore import normalize as index_form

    assert index_form("ip", "::ffff:10.66.66.66") == index_form("ip", "10.66.66.66")


def test_a_syslog_procid_of_superscript_digits_is_no_pid_not_a_crash() -> None:
    from socbot.collectors.secure import parse_line

    line = ("<34>1 2026-11-23T03:12:09.003Z host sshd \u00b2\u00b3 - - Failed password for root "
            "from 10.0.0.1 port 22 ssh2")
    event = parse_line(line, event_id="x")  # "²³".isdigit() is True; int() refused it
    assert event is not None and "process.pid" not in event
    assert event["source.ip"] == "10.0.0.1"


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:30:00+01:00"])
def test_a_syslog_time_utc_cannot_hold_is_a_parse_error_not_a_crash(stamp: str) -> None:
    from socbot.collectors.secure import ParseError, parse_line

    for line in (f"<34>1 {stamp} host sshd 1 - - Failed password for root from 10.0.0.1 port "
                 "22 ssh2", f"{stamp} host sshd[1]: Failed password for root from 10.0.0.1 "
                 "port 22 ssh2"):
        with pytest.raises(ParseError):
            parse_line(line, event_id="x")


def test_a_syslog_header_time_far_ahead_is_refused_not_stored() -> None:
    from socbot.collectors.secure import ParseError, parse_line

    for line in ("<34>1 2999-01-01T00:00:00Z host sshd 1 - - Failed password for root from "
                 "10.0.0.1 port 22 ssh2", "2999-01-01T00:00:00Z host sshd[1]: Failed password "
                 "for root from 10.0.0.1 port 22 ssh2"):
        with pytest.raises(ParseError, match="ahead"):
            parse_line(line, event_id="x")
