"""A rogue access point at a site, then an SSH login from that site's Wi-Fi."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, Sequence, rule
from socbot.detections.secure._common import line
from socbot.detections.wifi._common import CONFIG, ap, kismet
from socbot.detections.wifi.evil_twin import evil_twin
from socbot.detections.wifi.kismet_attack import SPOOF
from socbot.detections.wifi.open_lookalike import open_lookalike
from socbot.detections.wifi.unknown_ap import unknown_ap


def _rogue(event: Event, ctx: RuleContext) -> str | None:
    if event["event.action"] == "kismet_alert":
        header = str(event.get("kismet.alert", "")).upper()
        return f"Kismet {header}" if header in SPOOF else None
    for check, what in ((evil_twin, "evil twin"), (open_lookalike, "open look-alike"),
                        (unknown_ap, "unknown AP")):
        if check(event, ctx):
            return f"{what} {event.get('wifi.ssid') or '(hidden)'} {event.get('wifi.bssid')}"
    return None


@rule(
    id="correlation.rogue_ap_then_ssh",
    title="SSH login from the Wi-Fi of {site} after a rogue access point appeared",
    severity="critical",
    datasets=("wifi", "secure"),
    actions=("ap_seen", "kismet_alert", "ssh_login"),
    mitre=("T1557.002", "T1021.004"),
    runbook="Credentials typed on the rogue network may have been reused to log in. Ask the "
            "user where they connected; reset their credentials; locate the rogue AP.",
    state=Sequence(by="site", within_s=3600),
    entity_type="site",
    playbooks=("block-ip-nacl",),
    tests=(
        Case("an evil twin, then SSH from the site's Wi-Fi", fires=True, config=CONFIG, events=(
            ap(0, "ExampleCorp", "de:ad:be:ef:00:01"),
            line(1, "ssh_login", "success", user="ann", ip="10.50.3.4", second=600,
                 fields={"@timestamp": "2026-11-23T09:10:00Z"}))),
        Case("SSH from the site's Wi-Fi without a rogue AP", fires=False, config=CONFIG, events=(
            ap(0, "ExampleCorp", "00:11:22:33:44:01"),
            line(1, "ssh_login", "success", user="ann", ip="10.50.3.4",
                 fields={"@timestamp": "2026-11-23T09:10:00Z"}))),
        Case("a spoof alert, then SSH from elsewhere", fires=False, config=CONFIG, events=(
            kismet(0, "APSPOOF"),
            line(1, "ssh_login", "success", user="ann", ip="192.0.2.9",
                 fields={"@timestamp": "2026-11-23T09:10:00Z"}))),
    ),
)
def rogue_ap_then_ssh(event: Event, ctx: RuleContext) -> Match | None:
    """An evil twin, open look-alike, unknown AP or Kismet spoofing alert at a site, followed
    within an hour by an accepted SSH login from an address in that site's
    ``wifi_subnets``."""
    if event["event.dataset"] == "wifi":
        site = ctx.site_of_sensor(event)
        rogue = _rogue(event, ctx) if site else None
        if rogue is None:
            return None
        return Match(step="first", key=site, context={"rogue": rogue})
    if event.get("event.outcome") != "success":
        return None
    site = ctx.site_of_ip(event.get("source.ip"))
    if site is None:
        return None
    return Match(key=site, title=f"SSH login by {event.get('user.name')} from the Wi-Fi of "
                                 f"{site} after a rogue access point appeared",
                 context={"site": site, "host.name": event.get("host.name")})
