"""GuardDuty trusted IP lists or threat lists created, changed or removed."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

TRUSTED = ("CreateIPSet", "UpdateIPSet")
THREAT = ("DeleteThreatIntelSet", "UpdateThreatIntelSet", "DeleteIPSet")


def _gd(name: str, request: dict[str, object], error: str | None = None) -> RawRecord:
    return ct(name, request, error=error, source="guardduty.amazonaws.com")


@rule(
    id="cloudtrail.guardduty_lists_changed",
    title="GuardDuty IP or threat list changed",
    severity="medium",
    datasets=("cloudtrail",),
    actions=(*TRUSTED, *THREAT),
    mitre=("T1562.001",),
    runbook="GuardDuty raises nothing for addresses on a trusted list: an attacker adds their "
            "own. Read the list's location and contents; remove what nobody can explain.",
    tests=(
        Case("a trusted IP list added", fires=True,
             events=(_gd("CreateIPSet", {"detectorId": "d1", "name": "office",
                                         "format": "TXT", "activate": True,
                                         "location": "https://s3.amazonaws.com/b/ips.txt"}),)),
        Case("a threat list deleted", fires=True,
             events=(_gd("DeleteThreatIntelSet", {"detectorId": "d1",
                                                  "threatIntelSetId": "t1"}),)),
        Case("a WAF IP set (another service)", fires=False,
             events=(ct("CreateIPSet", {"name": "block", "scope": "REGIONAL"},
                        source="wafv2.amazonaws.com"),)),
        Case("a refused change", fires=False,
             events=(_gd("UpdateIPSet", {"detectorId": "d1", "ipSetId": "i1"},
                         error="AccessDeniedException"),)),
    ),
)
def guardduty_lists_changed(event: Event) -> Match | None:
    """A successful GuardDuty CreateIPSet or UpdateIPSet (trusted addresses: high), or
    DeleteIPSet, DeleteThreatIntelSet or UpdateThreatIntelSet (medium)."""
    if event.get("event.outcome") != "success" or event.get(
            "event.provider") != "guardduty.amazonaws.com":
        return None
    request = params(event)
    action = event["event.action"]
    name = str(request.get("name") or request.get("ipSetId")
               or request.get("threatIntelSetId") or "?")
    trusted = action in TRUSTED
    kind = "trusted IP list" if "IPSet" in action else "threat list"
    return Match(dedup=scope(event, name), entity={"type": "aws_resource", "value": name},
                 severity="high" if trusted else None,
                 title=f"GuardDuty {kind} {name}: {action} by {event.get('user.name', '?')}",
                 context=aws_context(event, location=request.get("location")))
