"""Amazon Macie disabled, paused, cut off from its administrator, or its findings archived."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

OFF = ("DisableMacie", "DisableOrganizationAdminAccount", "DisassociateFromMasterAccount",
       "DisassociateFromAdministratorAccount", "DeleteMember", "DisassociateMember")
QUIET = ("UpdateMacieSession", "UpdateMemberSession", "ArchiveFindings",
         "CreateFindingsFilter", "UpdateFindingsFilter", "UpdateClassificationJob")


def _macie(name: str, request: dict[str, object]) -> RawRecord:
    return ct(name, request, source="macie2.amazonaws.com")


@rule(
    id="cloudtrail.macie_disabled",
    title="Macie disabled or quieted",
    severity="medium",
    datasets=("cloudtrail",),
    actions=(*OFF, *QUIET),
    mitre=("T1562.001",),
    runbook="Macie watches S3 for sensitive data; turning it off or archiving its findings "
            "precedes taking that data. Re-enable it and read what it found before.",
    tests=(
        Case("Macie disabled (high)", fires=True, events=(_macie("DisableMacie", {}),)),
        Case("Macie paused", fires=True,
             events=(_macie("UpdateMacieSession", {"status": "PAUSED"}),)),
        Case("a filter that archives findings", fires=True,
             events=(_macie("CreateFindingsFilter", {"name": "hide", "action": "ARCHIVE",
                                                     "findingCriteria": {}}),)),
        Case("Macie resumed", fires=False,
             events=(_macie("UpdateMacieSession", {"status": "ENABLED"}),)),
        Case("GuardDuty's call of the same name", fires=False,
             events=(ct("DisassociateFromMasterAccount", {"detectorId": "d1"},
                        source="guardduty.amazonaws.com"),)),
    ),
)
def macie_disabled(event: Event) -> Match | None:
    """A successful DisableMacie, leaving or removing the administrator or members (high);
    UpdateMacieSession or UpdateMemberSession to PAUSED, a job cancelled, findings archived,
    or a findings filter that archives (medium)."""
    provider = str(event.get("event.provider") or "")
    if event.get("event.outcome") != "success" or not provider.startswith("macie"):
        return None
    request = params(event)
    action = event["event.action"]
    if action in ("UpdateMacieSession", "UpdateMemberSession") and request.get(
            "status") != "PAUSED":
        return None
    if action.endswith("FindingsFilter") and request.get("action") != "ARCHIVE":
        return None
    if action == "UpdateClassificationJob" and request.get("jobStatus") != "CANCELLED":
        return None
    actor = event.get("user.name", "?")
    return Match(dedup=scope(event, actor), entity={"type": "aws_principal", "value": actor},
                 severity="high" if action in OFF else None,
                 title=f"Macie: {action} by {actor}", context=aws_context(event))
