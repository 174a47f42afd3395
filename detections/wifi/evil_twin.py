"""A corporate SSID broadcast by an access point that is not ours (evil twin)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule
from socbot.detections.wifi._common import CONFIG, ap


@rule(
    id="wifi.evil_twin",
    title="Corporate SSID {wifi.ssid} from unknown access point {wifi.bssid}",
    severity="high",
    datasets=("wifi",),
    actions=("ap_seen",),
    mitre=("T1557.002", "T1200"),
    runbook="Someone is impersonating the corporate network to capture credentials. Find the "
            "device by signal strength near the sensor; warn staff not to join.",
    dedup_by="wifi.bssid",
    entity_type="bssid",
    tests=(
        Case("our SSID from a stranger", fires=True, config=CONFIG,
             events=(ap(0, "ExampleCorp", "de:ad:be:ef:00:01"),)),
        Case("our SSID from our AP", fires=False, config=CONFIG,
             events=(ap(0, "ExampleCorp", "00:11:22:33:44:01"),)),
        Case("the SSID byte-for-byte only: a trailing space is the look-alike rule's",
             fires=False, config=CONFIG, events=(ap(0, "ExampleCorp ", "de:ad:be:ef:00:01"),)),
    ),
)
def evil_twin(event: Event, ctx: RuleContext) -> Match | None:
    """An AP sighting whose SSID is exactly one of ``detection.corporate_ssids`` (compared as
    bytes) from a BSSID not listed for that SSID in ``detection.authorized_aps``."""
    ssid = event.get("wifi.ssid")
    if ssid not in ctx.corporate_ssids:
        return None
    hex_ssid = event.get("wifi.ssid_hex")
    if hex_ssid and bytes.fromhex(hex_ssid) != str(ssid).encode():
        return None  # decoded text matched, bytes differ (invalid UTF-8 replaced)
    bssid = str(event.get("wifi.bssid", "")).lower()
    if bssid in ctx.authorized_aps.get(str(ssid), frozenset()):
        return None
    return Match(context={"site": ctx.site_of_sensor(event), "ssid": ssid, "bssid": bssid,
                          "channel": event.get("wifi.channel"),
                          "signal_dbm": event.get("wifi.signal_dbm"),
                          "security": " ".join(event.get("wifi.security") or [])})
