"""Test events for the Wi-Fi rules, shaped as the Wi-Fi collectors write them."""

from __future__ import annotations

from typing import Any

from socbot.core.events import Event

CONFIG = {"detection": {
    "sites": {"hq": {"timezone": "Europe/Berlin", "wifi_subnets": ["10.50.0.0/16"]}},
    "sensors": {"hq-sensor-1": "hq"},
    "corporate_ssids": ["ExampleCorp"],
    "authorized_aps": [{"ssid": "ExampleCorp", "bssid": "00:11:22:33:44:01"},
                       {"ssid": "ExampleCorp", "bssid": "00:11:22:33:44:02"}],
    "known_bssids": ["66:77:88:99:aa:bb"],
}}


def ap(n: int, ssid: str, bssid: str, *, security: tuple[str, ...] = ("WPA2", "MGT"),
       site: str | None = "hq", at: str = "2026-11-23T09:00:00Z", **fields: Any) -> Event:
    """One access-point sighting by the sensor at ``site``."""
    event: Event = {
        "@timestamp": at, "event.id": f"ap-{bssid}-{n}", "event.dataset": "wifi",
        "event.action": "ap_seen", "event.outcome": "unknown", "wifi.bssid": bssid,
        "wifi.ssid": ssid, "wifi.ssid_hex": ssid.encode().hex(), "wifi.hidden": not ssid,
        "wifi.channel": 6, "wifi.security": list(security), "wifi.signal_dbm": -50,
        "observer.name": "hq-sensor-1", "observer.type": "kismet",
    }
    if site:
        event["observer.site"] = site
    event.update(fields)
    return event


def kismet(n: int, header: str, bssid: str | None = "de:ad:be:ef:00:01") -> Event:
    """One Kismet alert."""
    event: Event = {
        "@timestamp": "2026-11-23T09:00:00Z", "event.id": f"kismet-{header}-{n}",
        "event.dataset": "wifi", "event.action": "kismet_alert", "event.outcome": "unknown",
        "kismet.alert": header, "message": f"{header} test alert",
        "observer.name": "hq-sensor-1", "observer.site": "hq", "observer.type": "kismet",
    }
    if bssid:
        event["wifi.bssid"] = bssid
    return event
