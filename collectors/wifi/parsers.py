"""Scanner output to ``ap_seen`` and ``kismet_alert`` events, SSIDs kept byte-exact.

Every sighting carries ``wifi.ssid_hex`` (the SSID's bytes, the exact value), ``wifi.ssid``
(those bytes as UTF-8, invalid bytes as U+FFFD; "" for a hidden network), ``wifi.hidden`` (no
SSID, or only NUL bytes), ``wifi.bssid`` (lower case), ``wifi.channel``, ``wifi.security``
(``OPN`` / ``WEP`` / ``WPA`` / ``WPA2`` / ``WPA3`` and, when known, ``PSK`` / ``SAE`` /
``MGT`` / ``OWE``), ``wifi.signal_dbm`` (or, from nmcli, ``wifi.signal_percent``: nmcli
reports quality, not dBm), ``observer.name`` / ``observer.site`` / ``observer.type``.

How each tool writes an SSID, and how it is read back to bytes:

iw          printable ASCII except space and backslash as is, inner spaces as is, every other
            byte as ``\\xHH``
nmcli -t    ``:`` and ``\\`` escaped with a backslash; ``SSID-HEX`` (asked for by our scans)
            gives the bytes; without it the text is taken as UTF-8
airodump    ``format_text_for_csv``: ``,``, ``\\``, ``"`` and non-printable bytes escaped with a
            backslash (``\\xHH``, ``\\n``, ``\\r``, ``\\t``), the whole value in double quotes
            when it starts or ends with a space

Lines of scanner output are read only in the shapes the tools write; anything else in a block
is ignored, and of a field seen twice in one block only the first counts (iw prints some
vendor elements' strings unescaped, after the SSID).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from socbot.collectors.base import BadRecord, capped
from socbot.core import edge
from socbot.core.events import Event, format_timestamp, stable_id

__all__ = ["Sensor", "parse_airodump", "parse_iw", "parse_kismet", "parse_nmcli", "sighting"]

SECURITY_ORDER = ("OPN", "WEP", "WPA", "WPA2", "WPA3", "OWE", "PSK", "SAE", "MGT")
_SIGNED = re.compile(r"-?[0-9]{1,9}")
_UNSIGNED = re.compile(r"[0-9]{1,9}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)", re.DOTALL)
NMCLI_FIELDS = ("BSSID", "SSID", "SSID-HEX", "CHAN", "FREQ", "SIGNAL", "SECURITY", "WPA-FLAGS",
                "RSN-FLAGS")


@dataclass(frozen=True)
class Sensor:
    """Who saw it: the sensor's name and site."""

    name: str
    site: str = ""


def _int(text: str, *, signed: bool = True) -> int | None:
    """An integer written in ASCII digits, else None. (``str.isdigit`` accepts "²" and other
    digits ``int`` refuses: a scanner's output holds whatever bytes an SSID brought.)"""
    return int(text) if (_SIGNED if signed else _UNSIGNED).fullmatch(text) else None


def _unescape(text: str) -> bytes:
    """Backslash escapes (``\\xHH``, ``\\n``, ``\\r``, ``\\t``, ``\\<c>``) to bytes; other
    characters are taken as the bytes they were read from (latin-1)."""
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code[0] == "x" and len(code) == 3:
            return chr(int(code[1:], 16))
        return {"n": "\n", "r": "\r", "t": "\t"}.get(code, code)
    return _ESCAPE.sub(one, text).encode("latin-1", "replace")


def channel_of(freq_mhz: float) -> int | None:
    """The channel of a centre frequency (2.4, 5 and 6 GHz bands)."""
    f = int(freq_mhz)
    if f == 2484:
        return 14
    if 2412 <= f <= 2472:
        return (f - 2407) // 5
    if 5955 <= f <= 7115:
        return (f - 5950) // 5
    if 5000 <= f <= 5895:
        return (f - 5000) // 5
    return None


def _security(protocols: set[str], auth: set[str]) -> list[str]:
    return [s for s in SECURITY_ORDER if s in protocols or s in auth]


def _auth_tokens(text: str) -> set[str]:
    words = text.upper().replace("/", " ").split()
    found = set()
    for word in words:
        if word in ("PSK", "SAE", "OWE"):
            found.add(word)
        elif word in ("802.1X", "IEEE", "MGT", "EAP") or word.startswith("802.1X"):
            found.add("MGT")
    return found


def sighting(sensor: Sensor, tool: str, *, bssid: str, ssid: bytes, channel: int | None,
             security: list[str] | None, signal_dbm: int | None, seen: datetime,
             extra: dict[str, Any] | None = None, raw: str = "") -> Event:
    """One ``ap_seen`` event."""
    hidden = not ssid or not ssid.strip(b"\x00")
    text = "" if hidden else ssid.decode("utf-8", "replace")
    stamp = format_timestamp(seen)
    event: Event = {
        "@timestamp": stamp,
        "event.id": stable_id(sensor.name, tool, bssid.lower(), ssid.hex(), stamp),
        "event.dataset": "wifi",
        "event.action": "ap_seen",
        "event.outcome": "unknown",
        "wifi.bssid": bssid.lower(),
        "wifi.ssid": text,
        "wifi.ssid_hex": ssid.hex(),
        "wifi.hidden": hidden,
        "observer.name": sensor.name,
        "observer.type": tool,
    }
    if sensor.site:
        event["observer.site"] = sensor.site
    if channel is not None:
        event["wifi.channel"] = channel
    if security is not None:
        event["wifi.security"] = security
    if signal_dbm is not None:
        event["wifi.signal_dbm"] = signal_dbm
    event.update(extra or {})
    name = "hidden network" if hidden else repr(text)
    event["message"] = raw or f"{bssid.lower()} {name} channel {channel if channel else '?'}"
    return event


# --- iw dev IFACE scan -------------------------------------------------------------------------

_IW_BSS = re.compile(r"BSS (?P<bssid>[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})(?:\(on [^)]*\))?"
                     r"(?: -- [a-z]+)?")


def parse_iw(text: str, sensor: Sensor, now: datetime) -> Iterator[Event | BadRecord]:
    """Sightings from ``iw dev IFACE scan`` output (scanned at ``now``)."""
    block: dict[str, str] | None = None
    section = ""
    for line in text.splitlines():
        if line.startswith("BSS "):
            if block is not None:
                yield _iw_event(block, sensor, now)
            m = _IW_BSS.fullmatch(line.rstrip())
            block = {"bssid": m["bssid"]} if m else None
            section = ""
            continue
        if block is None:
            continue
        if line.startswith("\t") and not line.startswith("\t\t"):
            key, _, value = line[1:].partition(":")
            section = key
            value = value[1:] if value.startswith(" ") else value
            if key in ("freq", "signal", "SSID", "capability", "last seen", "RSN", "WPA") \
                    and key not in block:
                block[key] = value
            elif key == "DS Parameter set" and "channel" not in block:
                block["channel"] = value.replace("channel", "").strip()
            continue
        stripped = line.strip().lstrip("* ").strip()
        if section in ("RSN", "WPA") and stripped.startswith("Authentication suites:"):
            block.setdefault(f"{section}.auth", stripped.partition(":")[2])
        elif section == "HT operation" and stripped.startswith("primary channel:"):
            block.setdefault("primary", stripped.partition(":")[2].strip())
    if block is not None:
        yield _iw_event(block, sensor, now)


def _iw_event(block: dict[str, str], sensor: Sensor, now: datetime) -> Event | BadRecord:
    if "SSID" not in block and "freq" not in block:
        return BadRecord("iw", None, "BSS block without SSID or freq", capped(str(block)))
    channel = None
    for key in ("channel", "primary"):
        channel = _int(block.get(key, ""), signed=False)
        if channel is not None:
            break
    if channel is None and block.get("freq"):
        try:
            channel = channel_of(float(block["freq"]))
        except ValueError:
            channel = None
    protocols: set[str] = set()
    auth: set[str] = set()
    if "RSN" in block:
        rsn_auth = _auth_tokens(block.get("RSN.auth", ""))
        auth |= rsn_auth
        protocols.add("WPA3" if rsn_auth and rsn_auth <= {"SAE", "OWE"} else "WPA2")
        if "SAE" in rsn_auth:
            protocols.add("WPA3")
    if "WPA" in block:
        protocols.add("WPA")
        auth |= _auth_tokens(block.get("WPA.auth", ""))
    if not protocols:
        protocols.add("WEP" if "Privacy" in block.get("capability", "").split() else "OPN")
    signal = None
    match = re.fullmatch(r"(-?\d+)(?:\.\d+)? dBm", block.get("signal", "").strip())
    if match:
        signal = int(match.group(1))
    seen = now
    ago = re.fullmatch(r"(\d+) ms ago", block.get("last seen", "").strip())
    if ago:
        seen = now - timedelta(milliseconds=int(ago.group(1)))
    return sighting(sensor, "iw", bssid=block["bssid"], ssid=_unescape(block.get("SSID", "")),
                    channel=channel, security=_security(protocols, auth), signal_dbm=signal,
                    seen=seen)


# --- nmcli -t ----------------------------------------------------------------------------------

def _nmcli_split(line: str) -> list[str]:
    """Split a terse line on unescaped ``:`` and undo ``\\:`` and ``\\\\``."""
    fields, current, i = [], [], 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line):
            current.append(line[i + 1])
            i += 2
            continue
        if char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    fields.append("".join(current))
    return fields


def parse_nmcli(text: str, sensor: Sensor, now: datetime,
                fields: tuple[str, ...] = NMCLI_FIELDS) -> Iterator[Event | BadRecord]:
    """Sightings from ``nmcli --terse --fields FIELDS device wifi list`` output."""
    for index, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        values = _nmcli_split(line)
        if len(values) != len(fields):
            yield BadRecord("nmcli", index, f"{len(values)} fields, expected {len(fields)} "
                            f"({','.join(fields)})", capped(line))
            continue
        row = dict(zip(fields, values, strict=True))
        bssid = row.get("BSSID", "")
        if not _MAC.fullmatch(bssid):
            yield BadRecord("nmcli", index, f"BSSID {bssid!r} is not a MAC address", capped(line))
            continue
        hex_ssid = row.get("SSID-HEX", "").replace(":", "").strip()
        if hex_ssid and hex_ssid != "--":
            try:
                ssid = bytes.fromhex(hex_ssid)
            except ValueError:
                yield BadRecord("nmcli", index, "SSID-HEX is not hex", capped(line))
                continue
        else:
            ssid = row.get("SSID", "").encode("utf-8", "surrogateescape")
        channel = _int(row.get("CHAN", ""), signed=False)
        security_text = row.get("SECURITY", "")
        protocols = {"WPA" if w == "WPA1" else w for w in security_text.split()
                     if w in ("WPA1", "WPA2", "WPA3", "WEP", "OWE")}
        auth = _auth_tokens(" ".join((security_text, row.get("WPA-FLAGS", ""),
                                      row.get("RSN-FLAGS", ""))))
        if not protocols and security_text.strip() in ("", "--"):
            protocols.add("OPN")
        extra = {}
        percent = _int(row.get("SIGNAL", ""), signed=False)
        if percent is not None:
            extra["wifi.signal_percent"] = percent
        yield sighting(sensor, "nmcli", bssid=bssid, ssid=ssid, channel=channel,
                       security=_security(protocols, auth), signal_dbm=None, seen=now,
                       extra=extra)


# --- airodump-ng CSV ---------------------------------------------------------------------------

def _airodump_essid(rest: str) -> tuple[bytes, str]:
    """The ESSID bytes and the Key from what follows the ID-length column."""
    cut, i = -1, 0
    while i < len(rest):  # the last comma that no backslash escapes ends the ESSID
        if rest[i] == "\\":
            i += 2
            continue
        if rest[i] == ",":
            cut = i
        i += 1
    essid, key = (rest[:cut], rest[cut + 1:]) if cut >= 0 else (rest, "")
    essid = essid[1:] if essid.startswith(" ") else essid
    if len(essid) >= 2 and essid[0] == '"' and essid[-1] == '"' and essid[-2:] != '\\"':
        essid = essid[1:-1]
    return _unescape(essid), key.strip()


def parse_airodump(data: bytes, sensor: Sensor, name: str = "airodump"
                   ) -> Iterator[Event | BadRecord | None]:
    """Sightings from an airodump-ng ``-NN.csv`` file (its station section is skipped)."""
    text = data.decode("latin-1")  # one character per byte: the SSID bytes survive
    section = ""
    for index, line in enumerate(text.replace("\r\n", "\n").split("\n")):
        if not line.strip():
            continue
        if line.startswith("BSSID, First time seen"):
            section = "ap"
            continue
        if line.startswith("Station MAC,"):
            section = "station"
            continue
        if section != "ap":
            yield None  # station rows: clients, not access points
            continue
        parts = line.split(",", 13)
        if len(parts) < 14 or not _MAC.fullmatch(parts[0].strip()):
            yield BadRecord(name, index, "not an airodump-ng access-point row", capped(line))
            continue
        bssid, _first, last, channel, _speed, privacy, cipher, auth = (
            p.strip() for p in parts[:8])
        power = parts[8].strip()
        ssid, _key = _airodump_essid(parts[13])
        try:
            seen = datetime.strptime(last, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            yield BadRecord(name, index, f"last seen {last!r} is not a time", capped(line))
            continue
        protocols = {w for w in privacy.split() if w in SECURITY_ORDER}
        security = _security(protocols, _auth_tokens(auth)) if privacy else None
        signal = _int(power)
        signal = signal if signal is not None and signal < -1 else None
        chan = _int(channel)
        chan = chan if chan is not None and chan > 0 else None
        extra = {"wifi.cipher": cipher.split()} if cipher else {}
        yield sighting(sensor, "airodump", bssid=bssid, ssid=ssid, channel=chan,
                       security=security, signal_dbm=signal, seen=seen, extra=extra)


# --- Kismet alerts -----------------------------------------------------------------------------

def _alerts(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if isinstance(document.get("kismet.alert.list"), list):
            return document["kismet.alert.list"]
        if isinstance(document.get("ALERT"), dict):  # the event bus's wrapper
            return [document["ALERT"]]
        return [document]
    return [document]


def parse_kismet(text: str, sensor: Sensor, name: str = "kismet"
                 ) -> Iterator[Event | BadRecord]:
    """``kismet_alert`` events from Kismet's REST alert JSON (a list, ``kismet.alert.list``,
    event-bus ``{"ALERT": ...}`` messages, or JSON Lines of any of these)."""
    try:
        documents = [edge.loads(text)]
    except (json.JSONDecodeError, edge.EdgeError) as exc:
        deep = edge.array_items(text) if isinstance(exc, edge.EdgeError) else None
        documents = []
        for line in deep if deep is not None else text.splitlines():
            if line.strip():
                try:
                    documents.append(edge.loads(line))
                except (json.JSONDecodeError, edge.EdgeError):
                    documents.append(line)
    index = 0
    for document in documents:
        for alert in _alerts(document):
            yield _kismet_event(alert, sensor, name, index)
            index += 1


def _kismet_event(alert: Any, sensor: Sensor, name: str, index: int) -> Event | BadRecord:
    if not isinstance(alert, dict) or not isinstance(alert.get("kismet.alert.header"), str):
        return BadRecord(name, index, "not a Kismet alert (no kismet.alert.header)",
                         capped(alert))
    stamp = alert.get("kismet.alert.timestamp")
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return BadRecord(name, index, "kismet.alert.timestamp is not a number", capped(alert))
    header = alert["kismet.alert.header"]
    text = alert.get("kismet.alert.text") if isinstance(alert.get("kismet.alert.text"),
                                                        str) else ""
    try:
        moment = format_timestamp(edge.moment(float(stamp)))
    except edge.EdgeError as exc:
        return BadRecord(name, index, f"kismet.alert.timestamp: {exc}", capped(alert))
    event: Event = {
        "@timestamp": moment,
        "event.id": str(alert.get("kismet.alert.hash") or stable_id(
            sensor.name, json.dumps(alert, sort_keys=True, default=str))),
        "event.dataset": "wifi",
        "event.action": "kismet_alert",
        "event.outcome": "unknown",
        "kismet.alert": header,
        "observer.name": sensor.name,
        "observer.type": "kismet",
    }
    if sensor.site:
        event["observer.site"] = sensor.site
    # The transmitter of a beacon or probe response is the access point itself.
    macs = {"wifi.bssid": "kismet.alert.transmitter_mac", "source.mac": "kismet.alert.source_mac",
            "destination.mac": "kismet.alert.dest_mac"}
    for ours, theirs in macs.items():
        value = alert.get(theirs)
        if isinstance(value, str) and _MAC.fullmatch(value) and value != "00:00:00:00:00:00":
            event[ours] = value.lower()
    for ours, theirs in (("kismet.severity", "kismet.alert.severity"),
                         ("kismet.class", "kismet.alert.class")):
        if alert.get(theirs) is not None:
            event[ours] = alert[theirs]
    channel = alert.get("kismet.alert.channel")
    number = _int(channel, signed=False) if isinstance(channel, str) else None
    if number is not None:
        event["wifi.channel"] = number
    event["message"] = text
    event["original"] = alert
    return event
