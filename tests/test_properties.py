"""Property-based tests (Hypothesis) of every parser and adapter, on hostile values.

Each parser may refuse an input only with its own error type (RecordError, PayloadError,
ParseError: ValueErrors the readers turn into dead letters); anything else escaping is a defect.
What it returns must be a valid event that the edge check admits or refuses with an EdgeError,
and that encodes as UTF-8 JSON. Addresses come out in one form (IPv4-mapped as IPv4), and from
the position the writer of the record put them in. Slack text built from hostile values holds no
Slack token and no invisible character.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from socbot.bot.blocks import alert_message
from socbot.bot.escape import escape, escape_truncate
from socbot.collectors.base import BadRecord, encode_event
from socbot.collectors.cloudtrail import RecordError, normalize, read_bytes
from socbot.collectors.door.adapters import PayloadError, to_event
from socbot.collectors.door.export import row_to_event
from socbot.collectors.secure import ParseError, parse_line
from socbot.collectors.wifi.parsers import (
    Sensor,
    parse_airodump,
    parse_iw,
    parse_kismet,
    parse_nmcli,
)
from socbot.core import edge
from socbot.core.alerts import Alert
from socbot.core.config import DoorExport
from socbot.core.events import validate

# More examples for a longer hunt: SOCBOT_FUZZ_EXAMPLES=5000 pytest tests/test_properties.py
EXAMPLES = int(os.environ.get("SOCBOT_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SENSOR = Sensor("sensor-1", "HQ")

# Text as an attacker may write it: any code point, lone surrogates included.
any_text = st.text(st.characters(blacklist_categories=()), max_size=24)
NASTY = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:30:00+01:00", "2999-01-01T00:00:00Z",
         "::ffff:10.66.66.66", "\ud800", "a\x00b", "<!channel>", "evil\u202egpj", "",
         "1e20", "-1", "10.0.0.1 from 10.9.9.9", " ", "\u2028", "NaN"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    st.sampled_from(NASTY), any_text,
                    st.sampled_from([1e20, -1e20, 10**30, -(10**12), 0, 1.5e12]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(any_text, inner, max_size=3), max_leaves=12)


def maybe(value: Any) -> st.SearchStrategy[Any]:
    """The plausible value, or anything at all."""
    return st.one_of(st.just(value), json_values)


def check_event(event: Any) -> None:
    """A parser's event: valid, admitted or refused by the edge check with a reason, and
    encodable as UTF-8 JSON once admitted, with one address form."""
    assert isinstance(event, dict)
    validate(event)
    try:
        admitted = edge.admit(event)
    except edge.EdgeError as exc:
        assert str(exc)
        return
    text = encode_event(admitted)
    text.encode("utf-8")
    assert "\u2028" not in text and "\u0085" not in text
    assert json.loads(text)["event.id"] == admitted["event.id"]
    if "source.ip" in admitted:
        assert edge.ip_text(admitted["source.ip"]) == admitted["source.ip"]


# --- CloudTrail -------------------------------------------------------------------------------

records = st.fixed_dictionaries({
    "eventID": maybe("0f7a-1"), "eventTime": maybe("2026-11-23T03:12:09Z"),
    "eventName": maybe("ConsoleLogin"), "eventSource": maybe("signin.amazonaws.com"),
    "sourceIPAddress": st.one_of(st.sampled_from(["203.0.113.9", "::ffff:10.66.66.66",
                                                  "2001:db8::1", "ec2.amazonaws.com"]),
                                 json_values),
    "userIdentity": maybe({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/r/s",
                           "sessionContext": {"sessionIssuer": {"userName": "r"}}}),
    "responseElements": maybe({"ConsoleLogin": "Failure"}),
    "errorCode": maybe(None), "userAgent": maybe("aws-cli/2"),
    "recipientAccountId": maybe("111122223333"), "awsRegion": maybe("us-east-1"),
}, optional={"requestParameters": json_values})


@FUZZ
@given(records)
@example({"eventID": "x", "eventTime": "2026-11-23T03:12:09Z", "eventName": "A",
          "userIdentity": {"sessionContext": "not an object"}})
def test_cloudtrail_normalize_refuses_only_with_record_error(record: dict[str, Any]) -> None:
    try:
        event = normalize(record)
    except RecordError:
        return
    check_event(event)
    source = record.get("sourceIPAddress")
    if "source.ip" in event:
        assert event["source.ip"] == edge.ip_text(source)  # type: ignore[arg-type]


@FUZZ
@given(st.lists(st.one_of(records, json_values), max_size=4))
def test_cloudtrail_files_never_raise(items: list[Any]) -> None:
    data = json.dumps({"Records": items}).encode()
    for item in read_bytes(data, "fuzz.json"):
        if not isinstance(item, BadRecord):
            check_event(item)


@FUZZ
@given(st.binary(max_size=300))
def test_cloudtrail_reader_takes_any_bytes(data: bytes) -> None:
    for item in read_bytes(data, "fuzz.json"):
        assert isinstance(item, BadRecord | dict)


# --- door payloads, per vendor, and export rows ---------------------------------------------------

kisi = st.fixed_dictionaries({
    "uuid": maybe("k-1"), "type": maybe("lock.unlock"), "actor_name": maybe("Dana"),
    "actor_id": maybe(1), "object_id": maybe(17), "object_name": maybe("Server room"),
    "place_id": maybe(99), "success": maybe(True), "error_message": maybe(None),
    "created_at": maybe("2026-11-23T03:12:09Z")})
verkada = st.fixed_dictionaries({
    "webhook_type": maybe("notification"), "webhook_id": maybe("wh-1"),
    "created_at": maybe(1795403529),
    "data": st.one_of(json_values, st.fixed_dictionaries({
        "notification_type": maybe("door_access_granted"), "event_id": maybe("e-1"),
        "door_id": maybe("d-1"), "created": maybe(1795403529), "input_value": maybe("0012"),
        "user_info": maybe({"name": "Fox", "email": "fox@example.com"}),
        "door_info": maybe({"name": "Lobby"}), "aux_info": maybe({"site": "HQ"})}))})
unifi = st.one_of(
    st.fixed_dictionaries({
        "event": maybe("access.door.unlock"), "event_object_id": maybe("o-1"),
        "timestamp": maybe("2026-11-23T03:12:09Z"),
        "data": st.one_of(json_values, st.fixed_dictionaries({
            "location": maybe({"id": "door-1", "name": "Back door"}),
            "actor": maybe({"id": "p1", "name": "Walter"}),
            "object": maybe({"authentication_value": "C0FFEE", "result": "Access Granted"})}))}),
    st.fixed_dictionaries({
        "event": maybe("access.logs.add"),
        "data": st.fixed_dictionaries({"_id": maybe("u-1"), "_source": st.fixed_dictionaries({
            "actor": maybe({"id": "p1", "display_name": "Walter"}),
            "target": maybe([{"type": "door", "id": "d1", "display_name": "Back"}]),
            "event": maybe({"type": "access.door.unlock", "result": "ACCESS",
                            "published": "2026-11-23T03:12:09Z"}),
            "authentication": maybe({"issuer": "C0FFEE"})})})}))


@FUZZ
@given(st.one_of(kisi.map(lambda b: ("kisi", b)), verkada.map(lambda b: ("verkada", b)),
                 unifi.map(lambda b: ("unifi", b)), json_values.map(lambda b: (None, b))))
def test_door_adapters_refuse_only_with_payload_error(case: tuple[str | None, Any]) -> None:
    vendor, body = case
    try:
        event = to_event(body, vendor, "HQ")
    except PayloadError as exc:
        assert str(exc)
        return
    check_event(event)


@FUZZ
@given(st.dictionaries(st.sampled_from(["time", "door", "badge", "person", "result", "reason",
                                        "other"]),
                       st.one_of(any_text, st.sampled_from(NASTY)), max_size=7))
def test_door_export_rows_refuse_only_with_payload_error(row: dict[str, str]) -> None:
    try:
        event = row_to_event(row, DoorExport(), "HQ")
    except PayloadError:
        return
    check_event(event)


# --- Wi-Fi scanner output ------------------------------------------------------------------------

iw_lines = st.lists(st.one_of(
    st.sampled_from(["BSS 00:11:22:33:44:55(on wlan0)", "\tfreq: 2437", "\tSSID: corp",
                     "\tsignal: -40.00 dBm", "\tRSN:\t * Version: 1", "\tSSID: \\x00\\x00",
                     "\tfreq: 99999999999", "\tDS Parameter set: channel 6"]),
    any_text.map(lambda t: "\t" + t)), max_size=12).map("\n".join)
nmcli_lines = st.lists(st.one_of(
    st.just("00\\:11\\:22\\:33\\:44\\:55:corp:636F7270:6:2437 MHz:70:WPA2:(none):pair_ccmp"),
    any_text), max_size=6).map("\n".join)
airodump = st.lists(st.one_of(
    st.just("BSSID, First time seen, Last time seen, channel, Speed, Privacy, Cipher, "
            "Authentication, Power, # beacons, # IV, LAN IP, ID-length, ESSID, Key"),
    st.just("00:11:22:33:44:55, 2026-11-23 03:12:09, 2026-11-23 03:13:09,  6,  54, WPA2, "
            "CCMP, PSK, -40, 10, 0, 0.  0.  0.  0, 4, corp, "),
    any_text), max_size=5).map(lambda lines: "\r\n".join(lines).encode("utf-8", "replace"))


@FUZZ
@given(iw_lines, nmcli_lines, airodump)
def test_wifi_parsers_never_raise(iw: str, nmcli: str, airo: bytes) -> None:
    for items in (parse_iw(iw, SENSOR, NOW), parse_nmcli(nmcli, SENSOR, NOW),
                  parse_airodump(airo, SENSOR)):
        for item in items:
            if isinstance(item, dict):
                check_event(item)


@FUZZ
@given(st.lists(st.one_of(json_values, st.fixed_dictionaries({
    "kismet.alert.header": maybe("DEAUTHFLOOD"), "kismet.alert.timestamp": maybe(1795403529.5),
    "kismet.alert.text": maybe("deauth"), "kismet.alert.transmitter_mac": maybe(
        "00:11:22:33:44:55"), "kismet.alert.channel": maybe("6")})), max_size=3))
def test_kismet_alerts_never_raise(alerts: list[Any]) -> None:
    for item in parse_kismet(json.dumps(alerts), SENSOR):
        if isinstance(item, dict):
            check_event(item)


# --- secure lines (lightly: the parser's own suite goes further) -------------------------------

user_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
addresses = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))


@settings(max_examples=max(EXAMPLES // 2, 50), deadline=None)
@given(user_text, addresses, st.integers(1, 65535))
@example("from 10.10.1.1", "127.0.0.1", 58946)
@example("x from 10.1.1.1 port 123 ssh2", "192.168.50.65", 34813)
def test_secure_address_comes_only_from_where_sshd_wrote_it(user: str, ip: str,
                                                             port: int) -> None:
    line = (f"Nov 11 08:04:51 bastion sshd[2737]: Failed password for invalid user {user} "
            f"from {ip} port {port} ssh2")
    try:
        event = parse_line(line, now=NOW, event_id="x")
    except ParseError:
        return
    if event is not None and "source.ip" in event:
        assert event["source.ip"] == edge.ip_text(ip)


@settings(max_examples=max(EXAMPLES // 2, 50), deadline=None)
@given(any_text)
def test_secure_lines_refuse_only_with_parse_error(line: str) -> None:
    try:
        event = parse_line(line, now=NOW, event_id="x")
    except ParseError:
        return
    if event is not None:
        check_event(event)


# --- Slack payload values -------------------------------------------------------------------------

INVISIBLE = "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060" \
            "\u2066\u2067\u2068\u2069\ufeff"
slack_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["<!channel>", "<@U123>", "<!subteam^S1>", "<https://evil.example|Approve>", "&lt;",
     "evil\u202egpj.exe", "ad\u200bmin", "a\x00b"])


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@FUZZ
@given(slack_text, st.integers(1, 60))
def test_escaped_text_holds_no_token_and_no_invisible_character(text: str, limit: int) -> None:
    for shown in (escape(text), escape_truncate(text, limit)):
        assert "<" not in shown and ">" not in shown
        assert not any(ch in shown for ch in INVISIBLE)
        assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in shown)


@FUZZ
@given(slack_text, slack_text, st.dictionaries(slack_text, slack_text, max_size=4))
def test_alert_messages_built_from_hostile_values_hold_only_our_tokens(
        title: str, entity: str, context: dict[str, str]) -> None:
    alert = Alert(id="A1B2C3D4E5", rule_id="secure.ssh_brute_force", title=title,
                  severity="high", dedup_key="k", entity={"type": "ip", "value": entity},
                  dataset="secure", status="open", count=1, first_seen=1.7e9, last_seen=1.7e9,
                  mitre=[], runbook="", context=context, playbooks=[])
    message = alert_message(alert, [])
    for text in strings(message):
        assert "<!" not in text and "<@" not in text and "<http" not in text
        assert not any(ch in text for ch in INVISIBLE)


def _reference_ip_text(value: str) -> str | None:
    """ip_text as the standard library alone answers it."""
    import ipaddress

    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return str(getattr(address, "ipv4_mapped", None) or address)


@FUZZ
@given(st.one_of(
    st.lists(st.one_of(st.integers(0, 300).map(str), st.from_regex(r"0[0-9]{1,3}", fullmatch=True),
                       st.text(st.characters(), max_size=3)), min_size=1, max_size=6)
    .map(".".join),
    st.ip_addresses().map(str), st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.text(max_size=20)))
@example("1.2.3.4\n")
@example("١.2.3.4")
@example("01.2.3.4")
def test_ip_text_reads_the_short_way_as_ipaddress_does(value: str) -> None:
    """The canonical dotted-quad shortcut answers what parsing the address would."""
    assert edge.ip_text(value) == _reference_ip_text(value)
