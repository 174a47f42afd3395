"""Wi-Fi sightings: airodump-ng files from ../shared/data, iw and nmcli output, Kismet alerts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from socbot.collectors.base import BadRecord
from socbot.collectors.wifi.collect import scan_command, scan_once
from socbot.collectors.wifi.files import detect_format, read_path
from socbot.collectors.wifi.parsers import (
    NMCLI_FIELDS,
    Sensor,
    parse_airodump,
    parse_iw,
    parse_kismet,
    parse_nmcli,
)
from socbot.core.config import Settings, WifiCollector
from socbot.core.events import loads, validate
from socbot.core.streams import EVENTS

SENSOR = Sensor("sensor-1", "HQ")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def events(items: list) -> list[dict]:
    assert not [i for i in items if isinstance(i, BadRecord)], items
    return [validate(i) for i in items if isinstance(i, dict)]


@pytest.fixture(scope="module")
def airodump(shared_data: Path) -> Path:
    return shared_data / "wifi/airodump"


def test_real_airodump_scan(airodump: Path) -> None:
    items = list(parse_airodump((airodump / "airodump.csv").read_bytes(), SENSOR))
    aps = events(items)
    assert len(aps) == 30 and items.count(None) == 7  # seven station rows skipped
    by_bssid = {e["wifi.bssid"]: e for e in aps}
    ingham = by_bssid["f0:99:bf:0a:b5:b0"]
    assert (ingham["wifi.ssid"], ingham["wifi.channel"], ingham["wifi.security"],
            ingham["wifi.signal_dbm"], ingham["@timestamp"]) == (
        "Ingham's Wi-Fi Network", 6, ["WPA2", "PSK"], -70, "2015-05-30T11:28:48Z")
    nul = by_bssid["46:32:c8:5c:0e:3d"]
    assert (nul["wifi.hidden"], nul["wifi.ssid"], nul["wifi.ssid_hex"]) == (True, "", "00" * 12)
    empty = by_bssid["60:02:92:bc:08:01"]
    assert (empty["wifi.hidden"], empty["wifi.ssid_hex"]) == (True, "")
    assert by_bssid["60:02:92:bc:08:00"]["wifi.security"] == ["WPA", "WPA2", "PSK"]
    assert by_bssid["06:1d:d5:9b:11:00"]["wifi.security"] == ["OPN"]
    assert "wifi.security" not in by_bssid["28:01:00:00:d0:00"]  # privacy column empty
    assert all(e["observer.name"] == "sensor-1" and e["observer.site"] == "HQ"
               and e["observer.type"] == "airodump" for e in aps)


def test_commas_quotes_and_nuls_in_ssids_are_byte_exact(airodump: Path) -> None:
    aps = events(list(parse_airodump((airodump / "airodump-weird-ssids.csv").read_bytes(),
                                     SENSOR)))
    assert [bytes.fromhex(e["wifi.ssid_hex"]) for e in aps] == [
        b"Comma, no trailing space",
        b'"Quoted ESSID, Comma, no trailing spaces.   "',
        b"Comma, Trailing space ",
        b'"quote" comma, trailing space ',
        b"\x00" * 19,
    ]
    assert [e["wifi.hidden"] for e in aps] == [False] * 4 + [True]
    assert len({e["event.id"] for e in aps}) == 5


def test_every_shared_wifi_capture_parses(shared_data: Path) -> None:
    items = list(read_path(shared_data / "wifi/airodump"))
    assert len(events(items)) == 35


IW_OUTPUT = (
    "BSS 00:11:22:33:44:55(on wlan0) -- associated\n"
    "\tlast seen: 250 ms ago\n\tTSF: 1 usec (0d, 00:00:00)\n\tfreq: 2437\n"
    "\tbeacon interval: 100 TUs\n\tcapability: ESS Privacy ShortSlotTime (0x0411)\n"
    "\tsignal: -41.00 dBm\n\tSSID: Corp\\x20Net\\xc3\\xa9\n"
    "\tSupported rates: 1.0* 2.0* 5.5* 11.0*\n\tDS Parameter set: channel 6\n"
    "\tRSN:\t * Version: 1\n\t\t * Group cipher: CCMP\n\t\t * Pairwise ciphers: CCMP\n"
    "\t\t * Authentication suites: PSK SAE\n"
    "\tWPS:\t * Version: 1.0\n\t\t * Device name: x\n\tSSID: Spoofed\n"
    "BSS aa:bb:cc:dd:ee:ff(on wlan0)\n"
    "\tfreq: 5180.0\n\tcapability: ESS (0x0001)\n\tsignal: -80.00 dBm\n"
    "\tSSID: \\x00\\x00\\x00\n"
    "BSS 02:00:00:00:00:01(on wlan0)\n"
    "\tfreq: 5955\n\tcapability: ESS Privacy (0x0011)\n\tsignal: -67.00 dBm\n"
    "\tSSID: \\x20lead\\\\and\\xfftrail\\x20\n"
    "\tRSN:\t * Version: 1\n\t\t * Authentication suites: IEEE 802.1X\n"
    "BSS 02:00:00:00:00:02(on wlan0)\n\tfreq: 2412\n\tcapability: ESS Privacy (0x0011)\n"
    "\tSSID: \n"
)


def test_iw_scan_output() -> None:
    aps = events(list(parse_iw(IW_OUTPUT, SENSOR, NOW)))
    corp, hidden, odd, wep = aps
    assert (corp["wifi.bssid"], corp["wifi.ssid"], corp["wifi.channel"], corp["wifi.signal_dbm"],
            corp["wifi.security"]) == ("00:11:22:33:44:55", "Corp Neté", 6, -41,
                                       ["WPA2", "WPA3", "PSK", "SAE"])
    assert corp["@timestamp"] == "2026-11-23T11:59:59.750000Z"   # last seen 250 ms ago
    assert (hidden["wifi.hidden"], hidden["wifi.ssid_hex"], hidden["wifi.channel"],
            hidden["wifi.security"]) == (True, "000000", 36, ["OPN"])
    assert bytes.fromhex(odd["wifi.ssid_hex"]) == b" lead\\and\xfftrail "
    assert odd["wifi.ssid"] == " lead\\and\ufffdtrail "
    assert (odd["wifi.channel"], odd["wifi.security"]) == (1, ["WPA2", "MGT"])
    assert (wep["wifi.hidden"], wep["wifi.security"], wep["wifi.channel"]) == (True, ["WEP"], 1)


def test_iw_vendor_element_text_cannot_replace_the_ssid() -> None:
    [corp, *_] = events(list(parse_iw(IW_OUTPUT, SENSOR, NOW)))
    assert corp["wifi.ssid"] != "Spoofed"


def nmcli_line(*values: str) -> str:
    return ":".join(v.replace("\\", "\\\\").replace(":", "\\:") for v in values)


def test_nmcli_terse_output_with_escapes_and_ssid_hex() -> None:
    text = "\n".join([
        nmcli_line("31:23:03:1A:9F:1C", "Linksys:5G\\x", b"Linksys:5G\\x".hex().upper(), "36",
                   "5180 MHz", "75", "WPA2", "(none)", "pair_ccmp group_ccmp psk"),
        nmcli_line("61:FF:7B:43:B5:27", "", "", "1", "2412 MHz", "64", "", "(none)", "(none)"),
        nmcli_line("61:FF:7B:43:B5:26", "Ent", "456E74", "149", "5745 MHz", "30", "WPA1 WPA2 "
                   "802.1X", "pair_tkip group_tkip 802.1X", "pair_ccmp group_ccmp 802.1X"),
        nmcli_line("91:48:27:4B:7C:5A", "x", "FF00", "13", "2472 MHz", "55", "WPA3", "(none)",
                   "pair_ccmp group_ccmp sae"),
    ])
    linksys, hidden, ent, raw = events(list(parse_nmcli(text, SENSOR, NOW)))
    assert (linksys["wifi.bssid"], linksys["wifi.ssid"], linksys["wifi.channel"],
            linksys["wifi.signal_percent"], linksys["wifi.security"]) == (
        "31:23:03:1a:9f:1c", "Linksys:5G\\x", 36, 75, ["WPA2", "PSK"])
    assert "wifi.signal_dbm" not in linksys  # nmcli reports quality, not dBm
    assert (hidden["wifi.hidden"], hidden["wifi.security"]) == (True, ["OPN"])
    assert ent["wifi.security"] == ["WPA", "WPA2", "MGT"]
    assert (raw["wifi.ssid_hex"], raw["wifi.ssid"], raw["wifi.security"]) == (
        "ff00", "\ufffd\x00", ["WPA3", "SAE"])


def test_nmcli_line_with_the_wrong_number_of_fields_is_unparsed() -> None:
    [bad] = list(parse_nmcli("a:b:c", SENSOR, NOW))
    assert isinstance(bad, BadRecord) and "expected 9" in bad.error


def kismet_alerts(shared_data: Path) -> list[dict]:
    """One alert record per Kismet alert definition, its text from the templates."""
    kismet = shared_data / "wifi/kismet"
    templates = {}
    for line in (kismet / "kismet_alert_text_templates.jsonl").read_text().splitlines():
        t = json.loads(line)
        if t.get("alert"):
            templates.setdefault(t["alert"], t["text_template"])
    alerts = []
    for i, line in enumerate((kismet / "kismet_alert_definitions.jsonl").read_text()
                             .splitlines()):
        d = json.loads(line)
        text = templates.get(d["alert"], d["description"]).replace("{}", "00:11:22:33:44:55")
        alerts.append({"kismet.alert.header": d["alert"], "kismet.alert.text": text,
                       "kismet.alert.class": d["class"], "kismet.alert.severity": 10,
                       "kismet.alert.timestamp": 1795403529.25 + i,
                       "kismet.alert.hash": 1000 + i,
                       "kismet.alert.transmitter_mac": "00:11:22:33:44:55",
                       "kismet.alert.source_mac": "00:00:00:00:00:00",
                       "kismet.alert.channel": "6"})
    return alerts


def test_every_kismet_alert_definition_reads_as_an_alert(shared_data: Path) -> None:
    alerts = kismet_alerts(shared_data)
    assert len(alerts) == 52
    wrapped = json.dumps({"kismet.alert.timestamp": 1, "kismet.alert.list": alerts})
    read = events(list(parse_kismet(wrapped, SENSOR)))
    assert [e["kismet.alert"] for e in read] == [a["kismet.alert.header"] for a in alerts]
    spoof = next(e for e in read if e["kismet.alert"] == "APSPOOF")
    assert (spoof["event.action"], spoof["wifi.bssid"], spoof["wifi.channel"],
            spoof["observer.type"]) == ("kismet_alert", "00:11:22:33:44:55", 6, "kismet")
    assert "source.mac" not in spoof  # 00:00:00:00:00:00 names nothing
    assert spoof["message"].startswith("responding for")
    assert read[0]["@timestamp"] == "2026-11-23T03:12:09.250000Z"


def test_kismet_event_bus_lines_and_bad_records(shared_data: Path) -> None:
    alert = kismet_alerts(shared_data)[0]
    text = json.dumps({"ALERT": alert}) + "\n" + json.dumps({"not": "an alert"}) + "\n"
    first, bad = list(parse_kismet(text, SENSOR))
    assert isinstance(first, dict) and isinstance(bad, BadRecord)


def test_format_detection() -> None:
    assert detect_format(IW_OUTPUT.encode()) == "iw"
    assert detect_format(b"[]") == "kismet"
    assert detect_format(b"\r\nBSSID, First time seen, Last") == "airodump"
    assert detect_format(b"AA\\:BB:x") == "nmcli"


# --- scanning --------------------------------------------------------------------------------

def test_scan_commands_are_argument_lists() -> None:
    assert scan_command("iw", "wlan0") == ["iw", "dev", "wlan0", "scan"]
    nmcli = scan_command("nmcli", "wlan0")
    assert nmcli[:3] == ["nmcli", "--terse", "--escape"] and ",".join(NMCLI_FIELDS) in nmcli


@pytest.mark.parametrize("name", ["wlan0; rm -rf /", "$(reboot)", "", "a" * 16])
def test_interface_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="interface"):
        WifiCollector(interface=name)


def test_scan_runs_the_tool_without_a_shell(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "iw"
    record = tmp_path / "argv"
    fake.write_text(f"#!{sys.executable}\nimport sys\n"
                    f"open({str(record)!r}, 'w').write('\\n'.join(sys.argv[1:]))\n"
                    f"sys.stdout.write({IW_OUTPUT!r})\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    found = scan_once("iw", "wlan0", SENSOR)
    assert [e["wifi.bssid"] for e in found][:2] == ["00:11:22:33:44:55", "aa:bb:cc:dd:ee:ff"]
    assert record.read_text().splitlines() == ["dev", "wlan0", "scan"]


def test_collect_wifi_from_files_into_redis(airodump: Path, tmp_path: Path, redis_url: str,
                                           redis_client: redis.Redis) -> None:
    config = tmp_path / "socbot.yml"
    config.write_text("collectors:\n  wifi:\n    sensor: lobby-pi\n    site: HQ\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "SOCBOT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "socbot.bot.cli", "collect", "wifi", "--path", str(airodump)],
        capture_output=True, text=True, timeout=120, check=False,
        cwd=Path(__file__).resolve().parents[1],
        env={**base, "REDIS_URL": redis_url, "SOCBOT_CONFIG": str(config),
             "SOCBOT_STATE_DIR": str(tmp_path / "state")})
    assert done.returncode == 0, done.stderr
    sent = [loads(f[b"e"]) for _i, f in redis_client.xrange(EVENTS)]
    assert len(sent) == 35 and {e["observer.name"] for e in sent} == {"lobby-pi"}
    assert Settings().collectors.wifi.tool == "iw"
