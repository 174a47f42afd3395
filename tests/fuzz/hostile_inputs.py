"""A red-team catalogue: hostile values in every field, at every entry point; count the outcomes.

Each hostile value (lone surrogates, control and invisible characters, Slack tokens, times
UTC cannot hold, 1e20, nesting 5,000 deep, 100,000 characters, wrong types, IPv4-mapped
addresses, injected "from" clauses) is put in turn into each field of a valid record, next to
good records, and sent through the real entry point: CloudTrail files into Redis, EventBridge
bodies through moto's SQS, door payloads over HTTP to the webhook, door, Wi-Fi and syslog
files, and Slack messages. An outcome is *handled* when no exception escaped, the good
records beside it were delivered, and the hostile record was either stored as a valid event
(UTF-8 JSON on one line, one address form, no address but the daemon's) or dead-lettered with
a reason; anything else is *wrong*.

Run (FLUSHES the Redis database it is given)::

    SOCBOT_REDTEAM_REDIS_URL=redis://127.0.0.1:6379/5 python tests/fuzz/hostile_inputs.py
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from socbot.bot.blocks import alert_message
from socbot.collectors.base import BadRecord, encode_event
from socbot.collectors.cloudtrail import read_bytes
from socbot.collectors.door.files import read_file as read_door_file
from socbot.collectors.door.webhook import SIGNATURE, TIMESTAMP, make_server, sign
from socbot.collectors.pipeline import send_cloudtrail
from socbot.collectors.sink import EventSink
from socbot.collectors.wifi.files import read_file as read_wifi_file
from socbot.collectors.wifi.parsers import Sensor
from socbot.core import edge
from socbot.core.alerts import Alert
from socbot.core.config import DoorCollector
from socbot.core.events import validate
from socbot.core.streams import DEAD_LETTERS, EVENTS

DEEP = "@@deep@@"
HOSTILE: list[Any] = [
    "\ud800", "a\udfffb", "\x00", "\x1b[2J\r", "<!channel>", "<https://evil.example|Approve>",
    "evil\u202egpj.exe", "ad\u200bmin", "a\u2028b\u0085c", "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:30:00+01:00", "2999-01-01T00:00:00Z", 1e20, -1e20, 10**30, float("nan"),
    True, None, [], {"a": 1}, "x" * 100_000, DEEP, json.loads('{"a":' * 100 + "1" + "}" * 100),
    "::ffff:10.66.66.66", "10.0.0.1 from 10.9.9.9", 12345, "",
]
INVISIBLE = set("\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060"
                "\u2066\u2067\u2068\u2069\ufeff")
SECRET = b"redteam"


def dumps(value: Any) -> str:
    """JSON text, with the deep placeholder expanded to 5,000 levels of nesting."""
    return json.dumps(value).replace(json.dumps(DEEP), '{"a":' * 5000 + "1" + "}" * 5000)


def sound(event: dict[str, Any]) -> str | None:
    """Why a stored event is wrong, or None."""
    try:
        validate(event)
        text = encode_event(event)
        text.encode("utf-8")
    except Exception as exc:
        return f"invalid event: {type(exc).__name__}: {exc}"
    if "\u2028" in text or "\u0085" in text:
        return "raw Unicode line break"
    if "source.ip" in event and edge.ip_text(event["source.ip"]) != event["source.ip"]:
        return f"address not in its one form: {event['source.ip']}"
    try:
        edge.admit(event)
    except edge.EdgeError as exc:
        return f"stored though the edge refuses it: {exc}"
    return None


def ct_record(event_id: str) -> dict[str, Any]:
    return {"eventID": event_id, "eventTime": "2026-11-23T03:12:09Z", "eventName": "ConsoleLogin",
            "eventSource": "signin.amazonaws.com", "sourceIPAddress": "203.0.113.9",
            "userAgent": "aws-cli/2", "recipientAccountId": "111122223333",
            "awsRegion": "us-east-1", "responseElements": {"ConsoleLogin": "Success"},
            "userIdentity": {"type": "IAMUser", "userName": "alice",
                             "sessionContext": {"sessionIssuer": {"userName": "r"}}}}


CT_FIELDS = ["eventID", "eventTime", "eventName", "sourceIPAddress", "userAgent",
             "userIdentity", "responseElements", "errorCode", "recipientAccountId",
             "requestParameters"]


def cloudtrail_file(client: redis.Redis, results: Counter[str], wrong: list[str]) -> None:
    for n, (field, value) in enumerate((f, v) for f in CT_FIELDS for v in HOSTILE):
        hostile = ct_record(f"h-{n}")
        hostile[field] = value
        text = ('{"Records": [' + json.dumps(ct_record(f"g-{n}-a")) + ", " + dumps(hostile)
                + ", " + json.dumps(ct_record(f"g-{n}-b")) + "]}")
        try:
            items = list(read_bytes(text.encode("utf-8", "surrogatepass"), f"case-{n}"))
            stats = send_cloudtrail(client, items)
        except Exception as exc:
            wrong.append(f"cloudtrail-file {field}={value!r:.40}: {type(exc).__name__}: {exc}")
            continue
        events = [i for i in items if isinstance(i, dict)]
        why = next((w for e in events if (w := sound(e))), None)
        kept = [i.get("event.id") if isinstance(i, dict) else None for i in items]
        hostile_ok = len(items) == 3 and (isinstance(items[1], dict) or (
            isinstance(items[1], BadRecord) and items[1].error and stats.failed == 1))
        if why or not hostile_ok or (kept[0], kept[-1]) != (f"g-{n}-a", f"g-{n}-b"):
            wrong.append(f"cloudtrail-file {field}={value!r:.40}: {why or items}")
        else:
            results["cloudtrail-file"] += 1


def cloudtrail_sqs(client: redis.Redis, results: Counter[str], wrong: list[str]) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    from socbot.collectors.cloudtrail_sqs import collect_sqs

    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update({"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "x",
                       "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "eu-west-1"})
    try:
        sqs, s3 = boto3.client("sqs"), boto3.client("s3")
        url = sqs.create_queue(QueueName="redteam")["QueueUrl"]
        cases = []
        for n, (field, value) in enumerate((f, v) for f in CT_FIELDS for v in HOSTILE):
            # The mark first: a dead letter keeps only the first 8 KiB of what it sets aside.
            hostile = {"sharedEventID": f"mark-{n}-", **ct_record(f"sqs-h-{n}")}
            hostile[field] = value
            body = ('{"detail-type": "AWS API Call via CloudTrail", "account": "1", '
                    '"region": "us-east-1", "detail": ' + dumps(hostile) + "}")
            if len(body) > 250_000:  # SQS's own limit is 256 KiB
                continue
            good = json.dumps({"detail-type": "AWS API Call via CloudTrail",
                               "detail": ct_record(f"sqs-g-{n}")})
            sqs.send_message(QueueUrl=url, MessageBody=body)
            sqs.send_message(QueueUrl=url, MessageBody=good)
            cases.append((n, field, value))
        try:
            collect_sqs(client, sqs, s3, url, threading.Event(), once=True, visibility_s=30)
        except Exception as exc:  # the collector died: what it had not stored is counted below
            print(f"sqs collector died: {type(exc).__name__}: {exc}", file=sys.stderr)
        stored = [json.loads(f[b"e"]) for _i, f in client.xrange(EVENTS)]
        ids = {e["event.id"] for e in stored}
        marked = {e["original"].get("sharedEventID"): e for e in stored
                  if isinstance(e.get("original"), dict)}
        dead = " ".join(f[b"line"].decode() for _i, f in client.xrange(DEAD_LETTERS))
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        left = int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"])
        for n, field, value in cases:
            mark = f"mark-{n}-"
            why = sound(marked[mark]) if mark in marked else None
            if why or f"sqs-g-{n}" not in ids or (mark not in marked and mark not in dead):
                wrong.append(f"sqs {field}={value!r:.40}: {why or 'lost a record'}")
            else:
                results["cloudtrail-sqs"] += 1
        if left:
            wrong.append(f"sqs: {left} messages left on the queue")
    finally:
        server.stop()


DOOR = {
    "kisi": {"uuid": "k", "type": "lock.unlock", "actor_name": "Dana", "actor_id": 1,
             "object_name": "Server room", "place_id": 9, "success": True,
             "created_at": "2026-11-23T03:12:09Z"},
    "verkada": {"webhook_type": "notification", "webhook_id": "w", "created_at": 1795403529,
                "data": {"notification_type": "door_access_granted", "event_id": "v",
                         "door_id": "d", "created": 1795403529, "user_info": {"name": "Fox"}}},
    "unifi": {"event": "access.logs.add", "data": {"_id": "u", "_source": {
        "actor": {"display_name": "Walter"}, "target": [{"type": "door", "id": "d"}],
        "event": {"type": "access.door.unlock", "result": "ACCESS",
                  "published": "2026-11-23T03:12:09Z"}}}},
}
DOOR_FIELDS = {"kisi": ["uuid", "type", "actor_name", "object_name", "success", "created_at"],
               "verkada": ["webhook_type", "created_at", "data"],
               "unifi": ["event", "data"]}


def door_cases() -> list[tuple[str, str, Any, str]]:
    cases = []
    for vendor, fields in DOOR_FIELDS.items():
        for field in fields:
            for value in HOSTILE:
                body = json.loads(json.dumps(DOOR[vendor]))
                body[field] = value
                if vendor == "kisi":
                    body["uuid"] = body["uuid"] if field == "uuid" else f"k-{len(cases)}"
                cases.append((vendor, field, value, dumps(body)))
    return cases


def door_webhook(client: redis.Redis, results: Counter[str], wrong: list[str]) -> None:
    settings = DoorCollector(max_body_bytes=1 << 20, signature_tolerance_s=60)
    server = make_server(("127.0.0.1", 0), EventSink(client, "redteam"), secret=SECRET,
                         settings=settings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = server.server_address[:2]
    try:
        for vendor, field, value, text in door_cases():
            body = text.encode("utf-8", "surrogatepass")
            stamp = str(int(time.time()))
            before = (client.xlen(EVENTS), client.xlen(DEAD_LETTERS))
            try:
                conn = http.client.HTTPConnection(*address, timeout=10)  # type: ignore[misc]
                conn.request("POST", f"/door/{vendor}", body=body,
                             headers={TIMESTAMP: stamp, SIGNATURE: sign(SECRET, stamp, body)})
                status = conn.getresponse().status
                conn.close()
            except Exception as exc:
                wrong.append(f"webhook {vendor}.{field}={value!r:.40}: no answer: {exc}")
                continue
            after = (client.xlen(EVENTS), client.xlen(DEAD_LETTERS))
            ok = (status == 200 and after[0] == before[0] + 1) or (
                status in (400, 422) and after[1] == before[1] + 1)
            if status == 200 and ok:
                last = json.loads(client.xrevrange(EVENTS, count=1)[0][1][b"e"])
                if why := sound(last):
                    ok = False
                    status = f"{status} {why}"  # type: ignore[assignment]
            if ok:
                results["door-webhook"] += 1
            else:
                wrong.append(f"webhook {vendor}.{field}={value!r:.40}: {status}")
    finally:
        server.shutdown()
        server.server_close()


def door_files(results: Counter[str], wrong: list[str]) -> None:
    good = json.dumps(DOOR["kisi"])
    with tempfile.TemporaryDirectory() as folder:
        for n, (vendor, field, value, text) in enumerate(door_cases()):
            path = Path(folder) / f"{n}.jsonl"
            path.write_bytes((good + "\n" + text + "\n" + good + "\n").encode(
                "utf-8", "surrogatepass"))
            try:
                items = list(read_door_file(path))
            except Exception as exc:
                wrong.append(f"door file {vendor}.{field}={value!r:.40}: {exc!r}")
                continue
            events = [i for i in items if isinstance(i, dict)]
            why = next((w for e in events if (w := sound(e))), None)
            if why or len(items) != 3 or len(events) < 2:
                wrong.append(f"door file {vendor}.{field}={value!r:.40}: {why or items}")
            else:
                results["door-files"] += 1


KISMET = {"kismet.alert.header": "DEAUTHFLOOD", "kismet.alert.timestamp": 1795403529.5,
          "kismet.alert.text": "x", "kismet.alert.transmitter_mac": "00:11:22:33:44:55",
          "kismet.alert.channel": "6", "kismet.alert.severity": 5}


def wifi_files(results: Counter[str], wrong: list[str]) -> None:
    sensor = Sensor("s", "HQ")
    texts = [v for v in HOSTILE if isinstance(v, str) and v != DEEP]
    cases: list[tuple[str, str, bytes]] = []
    for field in KISMET:
        for value in HOSTILE:
            alert = {**KISMET, field: value}
            cases.append((f"kismet {field}={value!r:.30}", "k.json", (
                "[" + json.dumps(KISMET) + ", " + dumps(alert) + "]").encode(
                "utf-8", "surrogatepass")))
    for value in texts:
        raw = value.encode("utf-8", "surrogatepass")[:2000]
        cases.append((f"iw SSID/channel={value!r:.30}", "s.iw",
                      b"BSS 00:11:22:33:44:55(on wlan0)\n\tfreq: 2437\n\tSSID: " + raw +
                      b"\n\tDS Parameter set: channel " + raw[:20] +
                      b"\nBSS 00:11:22:33:44:66(on wlan0)\n\tfreq: 2412\n\tSSID: b\n"))
        cases.append((f"airodump power={value!r:.30}", "a.csv", (
            "\r\nBSSID, First time seen, Last time seen, channel, Speed, Privacy, Cipher, "
            "Authentication, Power, # beacons, # IV, LAN IP, ID-length, ESSID, Key\r\n"
            f"00:11:22:33:44:55, 2026-11-23 03:12:09, 2026-11-23 03:13:09,  6,  54, WPA2, CCMP,"
            f" PSK, {value[:50]}, 10, 0, 0.  0.  0.  0, 4, corp, \r\n"
            "00:11:22:33:44:66, 2026-11-23 03:12:09, 2026-11-23 03:13:09,  6,  54, WPA2, CCMP,"
            " PSK, -40, 10, 0, 0.  0.  0.  0, 4, b, \r\n").encode("utf-8", "surrogatepass")))
    with tempfile.TemporaryDirectory() as folder:
        for n, (name, file_name, data) in enumerate(cases):
            path = Path(folder) / f"{n}-{file_name}"
            path.write_bytes(data)
            try:
                items = [i for i in read_wifi_file(path, sensor) if i is not None]
            except Exception as exc:
                wrong.append(f"wifi {name}: {exc!r}")
                continue
            events = [i for i in items if isinstance(i, dict)]
            why = next((w for e in events if (w := sound(e))), None)
            if why or not events or any(isinstance(i, BadRecord) and not i.error
                                        for i in items):
                wrong.append(f"wifi {name}: {why or items}")
            else:
                results["wifi-files"] += 1


SECURE_TEMPLATES = [
    "Nov 23 03:12:09 {v} sshd[2737]: Failed password for root from 203.0.113.9 port 22 ssh2",
    "Nov 23 03:12:09 bastion {v}[2737]: Failed password for root from 203.0.113.9 port 22 ssh2",
    "Nov 23 03:12:09 bastion sshd[{v}]: Failed password for root from 203.0.113.9 port 22 ssh2",
    "Nov 23 03:12:09 bastion sshd[2737]: Failed password for {v} from 203.0.113.9 port 22 ssh2",
    "Nov 23 03:12:09 bastion sshd[2737]: Invalid user {v} from 203.0.113.9 port 22",
    "Nov 23 03:12:09 bastion sshd[2737]: Failed password for root from {v} port 22 ssh2",
    "Nov 23 03:12:09 bastion sshd[2737]: Failed password for root from 203.0.113.9 port {v} ssh2",
    "<34>1 {v} bastion sshd 2737 - - Failed password for root from 203.0.113.9 port 22 ssh2",
    "{v} bastion sshd[2737]: Failed password for root from 203.0.113.9 port 22 ssh2",
    "<34>1 2026-11-23T03:12:09Z bastion sshd {v} - - Accepted password for root from "
    "203.0.113.9 port 22 ssh2",
]
GOOD_LINE = ("Nov 23 03:12:10 bastion sshd[2738]: Failed password for alice from 198.51.100.4 "
             "port 22 ssh2")


def secure_files(results: Counter[str], wrong: list[str]) -> None:
    """Syslog lines with the value in each daemon- or attacker-written position: the good
    lines around it are read, and no address but the daemon's is ever blamed."""
    from datetime import UTC, datetime

    from socbot.collectors.files import read_secure

    texts = [v for v in HOSTILE if isinstance(v, str) and v != DEEP] + [
        "10.0.0.1 from 10.9.9.9 port 1 ssh2", "\u00b2\u00b3", "99999999999999999999"]
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        for n, (template, value) in enumerate((t, v) for t in SECURE_TEMPLATES for v in texts):
            path = Path(folder) / f"{n}.log"
            line = template.replace("{v}", value)
            path.write_bytes("\n".join([GOOD_LINE, line, GOOD_LINE, ""]).encode(
                "utf-8", "surrogatepass"))
            try:
                items = list(read_secure(path, now))
            except Exception as exc:
                wrong.append(f"secure {template[:30]}.. {value!r:.30}: {exc!r}")
                continue
            events = [i for i in items if isinstance(i, dict)]
            why = next((w for e in events if (w := sound(e))), None)
            goods = [e for e in events if e.get("user.name") == "alice"]
            # The value itself may be the address only where sshd writes one.
            blamed = {e.get("source.ip") for e in events} - {"203.0.113.9", "198.51.100.4",
                                                             None}
            if "from {v}" in template or "port {v}" in template:
                # sshd writes these slots itself (an attacker never does): the line's last
                # address is then the daemon's, whatever the value held.
                blamed -= {edge.ip_text(token) for token in value.split(" ")}
            if why or len(goods) != 2 or blamed:
                wrong.append(f"secure {template[:40]}.. {value!r:.30}: {why or blamed or items}")
            else:
                results["secure-files"] += 1


def slack(results: Counter[str], wrong: list[str]) -> None:
    texts = [v for v in HOSTILE if isinstance(v, str) and v != DEEP]
    for value in texts:
        for place in ("title", "entity", "context key", "context value"):
            alert = Alert(id="A1", rule_id="r", title=value if place == "title" else "t",
                          severity="high", dedup_key="k",
                          entity={"type": "ip", "value": value if place == "entity" else "e"},
                          dataset="secure", status="open", count=1, first_seen=1.7e9,
                          last_seen=1.7e9, mitre=[], runbook="", playbooks=[],
                          context={value if place == "context key" else "k":
                                   value if place == "context value" else "v"})
            try:
                blob = json.dumps(alert_message(alert, []), ensure_ascii=False)
            except Exception as exc:
                wrong.append(f"slack {place}={value!r:.30}: {exc!r}")
                continue
            shown = json.loads(blob)
            strings: list[str] = []
            stack: list[Any] = [shown]
            while stack:
                item = stack.pop()
                if isinstance(item, str):
                    strings.append(item)
                elif isinstance(item, dict):
                    stack += item.values()
                elif isinstance(item, list):
                    stack += item
            bad = [s for s in strings if "<!" in s or "<http" in s or INVISIBLE & set(s)
                   or any(ord(c) < 32 and c not in "\n\t" for c in s)]
            if bad:
                wrong.append(f"slack {place}={value!r:.30}: {bad[0]!r:.80}")
            else:
                results["slack"] += 1


def main() -> int:
    url = os.environ.get("SOCBOT_REDTEAM_REDIS_URL")
    if not url:
        print("set SOCBOT_REDTEAM_REDIS_URL to a Redis database this may flush",
              file=sys.stderr)
        return 2
    client = redis.Redis.from_url(url)
    client.flushdb()
    results: Counter[str] = Counter()
    wrong: list[str] = []
    steps: list[tuple[str, Callable[[], None]]] = [
        ("cloudtrail-file", lambda: cloudtrail_file(client, results, wrong)),
        ("cloudtrail-sqs", lambda: cloudtrail_sqs(client, results, wrong)),
        ("door-webhook", lambda: door_webhook(client, results, wrong)),
        ("door-files", lambda: door_files(results, wrong)),
        ("wifi-files", lambda: wifi_files(results, wrong)),
        ("secure-files", lambda: secure_files(results, wrong)),
        ("slack", lambda: slack(results, wrong)),
    ]
    print(f"{'entry point':<16} {'tried':>6} {'handled':>8} {'wrong':>6}")
    for name, step in steps:
        before = len(wrong)
        client.flushdb()  # each entry point from an empty Redis: no dedup marks carried over
        step()
        bad = sum(1 for w in wrong[before:] if not w.startswith("sqs:"))
        print(f"{name:<16} {results[name] + bad:>6} {results[name]:>8} {bad:>6}")
    for line in wrong:
        print("WRONG", line)
    client.flushdb()
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
