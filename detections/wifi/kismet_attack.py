"""Kismet's deauthentication-flood and spoofing alerts."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule
from socbot.detections.wifi._common import kismet

DENIAL = ("DEAUTHFLOOD", "BCASTDISCON", "DISCONCODEINVALID", "DEAUTHCODEINVALID")
SPOOF = ("APSPOOF", "SSIDCANARY", "CRYPTODROP", "ADHOCCONFLICT", "KARMAOUI", "BSSTIMESTAMP",
         "ADVCRYPTCHANGE", "BEACONRATE", "DOT11D", "PROBECHAN", "WPSBRUTE", "NONCEDEGRADE")


@rule(
    id="wifi.kismet_attack",
    title="Kismet {kismet.alert} at {observer.site}",
    severity="high",
    datasets=("wifi",),
    actions=("kismet_alert",),
    mitre=("T1498", "T1557.002"),
    runbook="Deauthentication floods knock clients off to capture handshakes or push them to "
            "an evil twin; spoofing alerts name the fake AP. Locate the transmitter.",
    tests=(
        Case("a deauthentication flood", fires=True, events=(kismet(0, "DEAUTHFLOOD"),)),
        Case("an AP spoofing our SSID", fires=True, events=(kismet(0, "APSPOOF"),)),
        Case("a channel change", fires=False, events=(kismet(0, "CHANCHANGE"),)),
    ),
)
def kismet_attack(event: Event, ctx: RuleContext) -> Match | None:
    """Kismet alerts of the denial class (DEAUTHFLOOD, BCASTDISCON, invalid disconnect codes:
    medium) and the spoofing class (APSPOOF, SSIDCANARY, CRYPTODROP, KARMAOUI, ...: high)."""
    header = str(event.get("kismet.alert", "")).upper()
    if header not in DENIAL and header not in SPOOF:
        return None
    site = ctx.site_of_sensor(event) or "?"
    bssid = event.get("wifi.bssid")
    return Match(dedup=f"{site}:{header}:{bssid or ''}",
                 entity={"type": "bssid" if bssid else "site", "value": str(bssid or site)},
                 severity="medium" if header in DENIAL else None,
                 title=f"Kismet {header} at {site}" + (f" ({bssid})" if bssid else ""),
                 context={"site": site, "alert": header, "bssid": bssid,
                          "text": event.get("message")})
