"""Door access: vendor payloads built from the documented skeletons, exports, the receiver."""

from __future__ import annotations

import copy
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

import pytest
import redis

from socbot.collectors.base import BadRecord
from socbot.collectors.door.adapters import PayloadError, to_event
from socbot.collectors.door.export import read_export
from socbot.collectors.door.files import read_file
from socbot.collectors.door.webhook import SIGNATURE, TIMESTAMP, make_server, sign
from socbot.collectors.sink import EventSink
from socbot.core.config import DoorCollector, DoorExport
from socbot.core.events import loads, validate
from socbot.core.streams import EVENTS

SECRET = b"door-shared-secret"


@pytest.fixture(scope="module")
def vendors(shared_data: Path) -> dict[str, dict]:
    doc = json.loads((shared_data / "door/door_access_vendor_schemas.json").read_text())
    return {v["vendor"]: v for v in doc["vendors"]}


def fill(value: Any, values: dict[str, Any]) -> Any:
    """Replace the documentation's "<type>" placeholders with concrete values."""
    if isinstance(value, dict):
        return {k: fill(v, {**values, "_key": k}) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, str) and value.startswith("<"):
        return values.get(values.get("_key", ""), value)
    return value


def kisi_payload(vendors: dict[str, dict], success: bool) -> dict:
    return fill(vendors["Kisi"]["skeleton"], {
        "uuid": "6f1c2a8e-0001", "actor_type": "User", "actor_id": 4242,
        "actor_name": "Dana Scully", "object_id": 17, "object_name": "Server room",
        "organization_id": 1, "place_id": 99, "success": success,
        "error_code": None if success else "access_denied",
        "error_message": None if success else "No access rights at this time",
        "created_at": "2026-11-23T03:12:09Z"})


def verkada_payload(vendors: dict[str, dict], kind: str) -> dict:
    payload = fill(vendors["Verkada Access Control"]["skeleton"], {
        "webhook_id": "wh-1", "org_id": "org-1", "created_at": 1795403529,
        "notification_type": kind, "device_id": "dev-1", "created": 1795403529,
        "input_value": "0012345678", "door_id": "door-7", "event_id": f"ev-{kind}",
        "user_id": "u-9", "name": "Fox Mulder", "email": "fox@example.com"})
    payload["data"]["door_info"] = {"name": "Lobby"}
    payload["data"]["aux_info"] = {"site": "HQ"}
    return payload


def unifi_unlock(vendors: dict[str, dict], result: str) -> dict:
    payload = fill(vendors["Ubiquiti UniFi Access"]["access.door.unlock_skeleton"], {
        "event_object_id": "obj-1", "id": "door-uuid-1", "name": "Back door",
        "up_id": "floor-1"})
    # The stored excerpt ends before actor and object: their documented fields.
    payload["data"]["actor"] = {"id": "person-1", "name": "Walter Skinner", "type": "user"}
    payload["data"]["object"] = {"authentication_type": "NFC",
                                 "authentication_value": "C0FFEE01", "result": result}
    return payload


def test_kisi_unlock_granted_and_denied(vendors: dict[str, dict]) -> None:
    granted = validate(to_event(kisi_payload(vendors, True), "kisi"))
    denied = validate(to_event(kisi_payload(vendors, False), "kisi"))
    assert (granted["event.action"], granted["event.outcome"], granted["door.result"]) == (
        "door_access", "success", "granted")
    assert (denied["event.outcome"], denied["door.result"], denied["door.reason"]) == (
        "failure", "denied", "No access rights at this time")
    assert (granted["user.name"], granted["user.id"], granted["door.name"], granted["door.id"],
            granted["door.site"], granted["observer.vendor"]) == (
        "Dana Scully", "4242", "Server room", "17", "99", "kisi")
    assert granted["@timestamp"] == "2026-11-23T03:12:09Z"
    assert granted["event.id"] == "kisi:6f1c2a8e-0001"
    assert granted["original"]["type"] == "lock.unlock"


@pytest.mark.parametrize(("kind", "action", "outcome"), [
    ("door_access_granted", "door_access", "success"),
    ("door_access_denied", "door_access", "failure"),
    ("door_forced_open", "door_forced_open", "unknown"),
    ("door_held_open", "door_held_open", "unknown"),
])
def test_verkada_notifications(vendors: dict[str, dict], kind: str, action: str,
                               outcome: str) -> None:
    event = validate(to_event(verkada_payload(vendors, kind), "verkada"))
    assert (event["event.action"], event["event.outcome"]) == (action, outcome)
    assert (event["door.id"], event["door.name"], event["door.site"], event["user.email"],
            event["door.badge_id"]) == ("door-7", "Lobby", "HQ", "fox@example.com", "0012345678")
    assert event["@timestamp"] == "2026-11-23T03:12:09Z"


def test_verkada_type_we_cannot_read_is_refused_not_guessed(vendors: dict[str, dict]) -> None:
    with pytest.raises(PayloadError, match="notification_type"):
        to_event(verkada_payload(vendors, "camera_tamper"), "verkada")


@pytest.mark.parametrize(("result", "outcome"), [("Access Granted", "success"),
                                                 ("Access Denied", "failure")])
def test_unifi_door_unlock(vendors: dict[str, dict], result: str, outcome: str) -> None:
    event = validate(to_event(unifi_unlock(vendors, result)))
    assert (event["observer.vendor"], event["event.outcome"], event["door.name"],
            event["door.id"], event["user.name"], event["door.badge_id"]) == (
        "unifi", outcome, "Back door", "door-uuid-1", "Walter Skinner", "C0FFEE01")


def test_unifi_system_log_entry(vendors: dict[str, dict]) -> None:
    shape = vendors["Ubiquiti UniFi Access"]["access.logs.add_shape_from_community_code"]
    payload = copy.deepcopy(shape)
    payload["data"]["_id"] = "log-1"
    payload["data"]["_source"]["actor"] = {"display_name": "Dana Scully", "id": "p-2"}
    payload["data"]["_source"]["event"] = {"type": "access.door.unlock", "result": "BLOCKED",
                                           "published": 1795403529000}
    payload["data"]["_source"]["target"] = [{"type": "door", "id": "d-3",
                                             "display_name": "Armory"}]
    event = validate(to_event(payload))
    assert (event["event.outcome"], event["door.name"], event["user.name"], event["event.id"],
            event["@timestamp"]) == ("failure", "Armory", "Dana Scully", "unifi:log-1",
                                     "2026-11-23T03:12:09Z")


def test_unifi_doorbell_is_not_a_door_access(vendors: dict[str, dict]) -> None:
    with pytest.raises(PayloadError):
        to_event({"event": "access.remote_view", "data": {}}, "unifi")


def test_hostile_names_are_kept_as_text(vendors: dict[str, dict]) -> None:
    payload = kisi_payload(vendors, True)
    payload["actor_name"] = "<!channel> <https://evil.example|Approve>"
    event = to_event(payload, "kisi")
    assert event["user.name"] == payload["actor_name"]  # escaping is the Slack layer's job


# --- exports --------------------------------------------------------------------------------

LENEL = DoorExport(columns={"@timestamp": "TimeStamp", "door.name": "Device",
                            "door.badge_id": "CardNumber", "user.name": "CardholderName",
                            "door.result": "SubType", "door.reason": "EventText",
                            "door.site": "Panel"},
                   granted=["granted"], forced_open=["door forced open"],
                   time_format="%m/%d/%Y %H:%M:%S", timezone="America/New_York")


def test_lenel_style_csv_export_through_a_column_map(tmp_path: Path) -> None:
    path = tmp_path / "onguard.csv"
    path.write_text(
        "TimeStamp,Panel,Device,CardNumber,CardholderName,SubType,EventText\n"
        '11/22/2026 22:12:09,HQ,Lobby Turnstile,1234,"Scully, Dana",granted,Access Granted\n'
        "11/22/2026 22:13:00,HQ,Server Room,999,,denied,Invalid Badge\n"
        "11/22/2026 22:14:00,HQ,Dock Door,,,door forced open,Door Forced Open\n"
        "not a date,HQ,Lobby,1,x,granted,\n")
    items = list(read_export(path, LENEL))
    events = [validate(i) for i in items if isinstance(i, dict)]
    assert [(e["event.action"], e["event.outcome"]) for e in events] == [
        ("door_access", "success"), ("door_access", "failure"), ("door_forced_open", "unknown")]
    assert events[0]["@timestamp"] == "2026-11-23T03:12:09Z"   # New York time, to UTC
    assert (events[0]["user.name"], events[0]["door.badge_id"], events[0]["door.site"],
            events[0]["observer.vendor"]) == ("Scully, Dana", "1234", "HQ", "export")
    assert events[1]["door.reason"] == "Invalid Badge"
    [bad] = [i for i in items if isinstance(i, BadRecord)]
    assert bad.index == 3 and "not a date" in bad.error


def test_json_lines_export_with_the_default_map(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    rows = [{"time": "2026-11-23T03:12:09Z", "door": "Lab", "badge": "77", "person": "Eve",
             "result": "Access Granted"}, {"time": 1795403529, "door": "Lab", "result": "no"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n[1]\n")
    items = list(read_file(path))
    events = [i for i in items if isinstance(i, dict)]
    assert [e["door.result"] for e in events] == ["granted", "denied"]
    assert isinstance(items[2], BadRecord)


def test_export_column_map_must_name_time_and_result() -> None:
    with pytest.raises(ValueError, match="@timestamp"):
        DoorExport(columns={"door.name": "Device"})


# --- the receiver ---------------------------------------------------------------------------

@pytest.fixture
def receiver(redis_client: redis.Redis) -> Iterator[tuple[str, int]]:
    settings = DoorCollector(max_body_bytes=4096, signature_tolerance_s=60, site="HQ")
    server = make_server(("127.0.0.1", 0), EventSink(redis_client, "door-test"),
                         secret=SECRET, settings=settings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[:2]  # type: ignore[misc]
    server.shutdown()
    server.server_close()


def post(address: tuple[str, int], path: str, body: bytes,
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request("POST", path, body=body, headers=headers or {})
    response = conn.getresponse()
    status, payload = response.status, json.loads(response.read() or b"{}")
    conn.close()
    return status, payload


def signed(body: bytes, at: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    return {TIMESTAMP: stamp, SIGNATURE: sign(SECRET, stamp, body),
            "Content-Type": "application/json"}


def test_signed_event_is_stored(receiver: tuple[str, int], redis_client: redis.Redis,
                                vendors: dict[str, dict]) -> None:
    body = json.dumps(kisi_payload(vendors, False)).encode()
    assert post(receiver, "/door/kisi", body, signed(body)) == (200, {"events": 1})
    [(_id, fields)] = redis_client.xrange(EVENTS)
    event = loads(fields[b"e"])
    assert (event["door.result"], event["user.name"]) == ("denied", "Dana Scully")


def test_unsigned_bad_stale_and_replayed_requests_are_401(
        receiver: tuple[str, int], redis_client: redis.Redis, vendors: dict[str, dict]) -> None:
    body = json.dumps(kisi_payload(vendors, True)).encode()
    assert post(receiver, "/door/kisi", body)[0] == 401
    wrong = signed(body)
    wrong[SIGNATURE] = sign(b"other", wrong[TIMESTAMP], body)
    assert post(receiver, "/door/kisi", body, wrong)[0] == 401
    assert post(receiver, "/door/kisi", body, signed(body, int(time.time()) - 3600))[0] == 401
    tampered = signed(body)
    assert post(receiver, "/door/kisi", body.replace(b"Dana", b"Eve!"), tampered)[0] == 401
    once = signed(body)
    assert post(receiver, "/door/kisi", body, once) == (200, {"events": 1})
    status, payload = post(receiver, "/door/kisi", body, once)
    assert status == 401 and "replayed" in payload["error"]
    assert redis_client.xlen(EVENTS) == 1


def test_oversized_malformed_and_misrouted_bodies(receiver: tuple[str, int],
                                                  vendors: dict[str, dict]) -> None:
    big = b"{" + b" " * 5000 + b"}"
    assert post(receiver, "/door/kisi", big, signed(big))[0] == 413
    bad = b'{"uuid": '
    assert post(receiver, "/door/kisi", bad, signed(bad))[0] == 400
    not_utf8 = b'{"a": "\xff"}'
    assert post(receiver, "/door/kisi", not_utf8, signed(not_utf8))[0] == 400
    verkada = json.dumps(verkada_payload(vendors, "door_access_granted")).encode()
    assert post(receiver, "/door/kisi", verkada, signed(verkada))[0] == 422
    assert post(receiver, "/door/acme", verkada, signed(verkada))[0] == 404
    # Sent again (new timestamp, so not a replay of the refused one) to the right path.
    fresh = signed(verkada, int(time.time()) - 1)
    assert post(receiver, "/door/verkada", verkada, fresh)[0] == 200


def test_receiver_refuses_to_start_without_a_secret(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="SOCBOT_DOOR_SECRET"):
        make_server(("127.0.0.1", 0), EventSink(redis_client, "x"), secret=b"",
                    settings=DoorCollector())


def socbot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "SOCBOT_"))}
    return subprocess.run([sys.executable, "-m", "socbot.bot.cli", *args], capture_output=True,
                          text=True, env={**base, **env}, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parents[1])


def test_collect_door_imports_an_export_with_the_configured_map(
        tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> None:
    config = tmp_path / "socbot.yml"
    config.write_text(
        "collectors:\n  door:\n    export:\n      columns:\n"
        "        '@timestamp': created_at\n        user.email: actor_email\n"
        "        user.id: actor_id\n        door.id: object_id\n        door.result: action\n"
        "        door.reason: message\n      granted: [unlock]\n")
    export = tmp_path / "kisi-events.csv"   # Kisi's event export columns
    export.write_text("actor_id,actor_email,action,object_type,object_id,message,created_at\n"
                      "4242,dana@example.com,unlock,Lock,17,Unlocked,2026-11-23T03:12:09Z\n"
                      "4243,eve@example.com,unlock_denied,Lock,17,No access,2026-11-23T03:13Z\n")
    done = socbot("collect", "door", "--path", str(export),
                  env={"REDIS_URL": redis_url, "SOCBOT_CONFIG": str(config),
                       "SOCBOT_STATE_DIR": str(tmp_path / "state")})
    assert done.returncode == 0, done.stderr
    events = [loads(f[b"e"]) for _i, f in redis_client.xrange(EVENTS)]
    assert [(e["user.email"], e["door.result"]) for e in events] == [
        ("dana@example.com", "granted"), ("eve@example.com", "denied")]
