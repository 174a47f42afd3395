"""An access point at a site that is neither ours nor a known neighbour."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule
from socbot.detections.wifi._common import CONFIG, ap


@rule(
    id="wifi.unknown_ap",
    title="Unknown access point at {observer.site}",
    severity="low",
    datasets=("wifi",),
    actions=("ap_seen",),
    mitre=("T1200",),
    runbook="A new AP in range: a neighbour, a phone hotspot or a rogue device on the LAN. "
            "Add neighbours to detection.known_bssids; find the others by signal strength.",
    dedup_window_s=86400,
    entity_type="bssid",
    tests=(
        Case("a stranger's AP", fires=True, config=CONFIG,
             events=(ap(0, "Printer-Setup", "de:ad:be:ef:00:05"),)),
        Case("a known neighbour", fires=False, config=CONFIG,
             events=(ap(0, "Bakery", "66:77:88:99:aa:bb"),)),
        Case("our own AP", fires=False, config=CONFIG,
             events=(ap(0, "ExampleCorp", "00:11:22:33:44:02"),)),
        Case("nothing configured", fires=False,
             events=(ap(0, "Printer-Setup", "de:ad:be:ef:00:05"),)),
    ),
)
def unknown_ap(event: Event, ctx: RuleContext) -> Match | None:
    """An AP sighting at a site (``observer.site`` or ``detection.sensors``) whose BSSID is in
    neither ``detection.authorized_aps`` nor ``detection.known_bssids``; quiet until some
    authorized APs are configured. One alert per site and BSSID per day."""
    if not ctx.authorized_bssids:
        return None
    bssid = str(event.get("wifi.bssid", "")).lower()
    if not bssid or bssid in ctx.authorized_bssids or bssid in ctx.known_bssids:
        return None
    site = ctx.site_of_sensor(event) or "?"
    ssid = event.get("wifi.ssid") or "(hidden)"
    return Match(dedup=f"{site}:{bssid}", entity={"type": "bssid", "value": bssid},
                 title=f"Unknown access point {ssid} ({bssid}) at {site}",
                 context={"site": site, "ssid": ssid, "bssid": bssid,
                          "signal_dbm": event.get("wifi.signal_dbm"),
                          "security": " ".join(event.get("wifi.security") or []) or "none"})
