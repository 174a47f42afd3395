"""An open or WEP network whose name looks like the corporate one."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.context import RuleContext, fold_ssid
from socbot.detections.rule import Case, Match, rule
from socbot.detections.wifi._common import CONFIG, ap


def _close(a: str, b: str) -> bool:
    """Equal, one containing the other, or one edit apart (for names of 5 or more)."""
    if a == b or (len(b) >= 5 and b in a):
        return True
    if abs(len(a) - len(b)) > 1 or len(b) < 5:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] <= 1


@rule(
    id="wifi.open_lookalike",
    title="Open network {wifi.ssid} looks like the corporate SSID",
    severity="high",
    datasets=("wifi",),
    actions=("ap_seen",),
    mitre=("T1557.002",),
    runbook="A look-alike open network invites staff to join a network someone else controls. "
            "Locate it near the sensor.",
    dedup_by="wifi.bssid",
    entity_type="bssid",
    tests=(
        Case("an open 'ExampleCorp-Guest'", fires=True, config=CONFIG,
             events=(ap(0, "ExampleCorp-Guest", "de:ad:be:ef:00:02", security=("OPN",)),)),
        Case("a WEP 'Examp1eCorp'", fires=True, config=CONFIG,
             events=(ap(0, "Examp1eCorp", "de:ad:be:ef:00:03", security=("WEP",)),)),
        Case("an open café network", fires=False, config=CONFIG,
             events=(ap(0, "CafeFreeWiFi", "de:ad:be:ef:00:04", security=("OPN",)),)),
        Case("a WPA2 look-alike is the evil-twin or unknown-AP rule's", fires=False,
             config=CONFIG, events=(ap(0, "ExampleCorp-Guest", "de:ad:be:ef:00:02"),)),
    ),
)
def open_lookalike(event: Event, ctx: RuleContext) -> Match | None:
    """An AP sighting with no encryption (``OPN`` or empty) or ``WEP`` whose SSID, with case,
    look-alike digits and punctuation folded, equals, contains or is one edit from a
    corporate SSID; our own authorized BSSIDs excepted."""
    security = set(event.get("wifi.security") or [])
    if security and not security & {"OPN", "WEP"}:
        return None
    if not ctx.corporate_folded or str(event.get("wifi.bssid", "")) in ctx.authorized_bssids:
        return None
    folded = fold_ssid(str(event.get("wifi.ssid", "")))
    hit = next((c for c in ctx.corporate_folded if folded and _close(folded, c)), None)
    if hit is None:
        return None
    return Match(context={"site": ctx.site_of_sensor(event), "ssid": event.get("wifi.ssid"),
                          "bssid": event.get("wifi.bssid"),
                          "security": " ".join(sorted(security)) or "none"})
