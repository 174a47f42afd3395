"""GuardDuty disabled, deleted or cut off from its administrator account."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.guardduty_disabled",
    title="GuardDuty disabled",
    severity="high",
    datasets=("cloudtrail",),
    actions=("DeleteDetector", "UpdateDetector", "DisassociateFromMasterAccount",
             "DisassociateFromAdministratorAccount", "StopMonitoringMembers", "DeleteMembers",
             "DisassociateMembers", "CreateFilter", "UpdateFilter", "DeletePublishingDestination"),
    mitre=("T1562.001",),
    runbook="Re-enable GuardDuty; an attacker blinding it is about to do something louder.",
    tests=(
        Case("detector disabled", fires=True,
             events=(ct("UpdateDetector", {"detectorId": "d-1", "enable": False},
                        source="guardduty.amazonaws.com"),)),
        Case("detector settings updated but enabled", fires=False,
             events=(ct("UpdateDetector", {"detectorId": "d-1", "enable": True},
                        source="guardduty.amazonaws.com"),)),
        Case("a filter that does not archive findings", fires=False,
             events=(ct("CreateFilter", {"detectorId": "d-1", "action": "NOOP"},
                        source="guardduty.amazonaws.com"),)),
    ),
)
def guardduty_disabled(event: Event) -> Match | None:
    """DeleteDetector, UpdateDetector with ``enable: false``, leaving or dropping the
    administrator or members, a suppression filter that archives findings, or removing the
    publishing destination; succeeded."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, "guardduty.amazonaws.com"):
        return None
    request = params(event)
    action = event["event.action"]
    if action == "UpdateDetector" and request.get("enable") is not False:
        return None
    if action in ("CreateFilter", "UpdateFilter") and request.get("action") != "ARCHIVE":
        return None
    detector = str(request.get("detectorId", ""))
    return Match(dedup=scope(event, detector), entity={"type": "detector", "value": detector},
                 title=f"GuardDuty {action} on detector {detector}",
                 context=aws_context(event, detector=detector))
