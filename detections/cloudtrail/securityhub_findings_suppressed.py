"""Security Hub findings archived or suppressed, or insights and automation rules changed."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

HIDING = ("SUPPRESSED", "RESOLVED", "ARCHIVED")
ACTIONS = ("BatchUpdateFindings", "UpdateFindings", "DeleteInsight", "UpdateInsight",
           "CreateAutomationRule", "BatchUpdateAutomationRules", "DisableSecurityHub",
           "DisableImportFindingsForProduct", "BatchDisableStandards")


def _sh(name: str, request: dict[str, object]) -> RawRecord:
    return ct(name, request, source="securityhub.amazonaws.com")


def _hides(value: object) -> str | None:
    """The hiding status a request sets anywhere (workflow status, record state), if any."""
    if isinstance(value, dict):
        for item in value.values():
            found = _hides(item)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _hides(item)
            if found:
                return found
    elif isinstance(value, str) and value.upper() in HIDING:
        return value.upper()
    return None


@rule(
    id="cloudtrail.securityhub_findings_suppressed",
    title="Security Hub findings suppressed",
    severity="medium",
    datasets=("cloudtrail",),
    actions=ACTIONS,
    mitre=("T1562.001",),
    runbook="Someone is hiding what Security Hub found. Check which findings changed and "
            "whether their owners agreed; reopen them if not, and re-enable what was disabled.",
    tests=(
        Case("findings suppressed", fires=True,
             events=(_sh("BatchUpdateFindings", {
                 "findingIdentifiers": [{"id": "arn:aws:securityhub:us-east-1:111122223333:"
                                               "finding/1", "productArn": "arn:p"}],
                 "workflow": {"status": "SUPPRESSED"}}),)),
        Case("Security Hub disabled (high)", fires=True,
             events=(_sh("DisableSecurityHub", {}),)),
        Case("an automation rule that suppresses", fires=True,
             events=(_sh("CreateAutomationRule", {"ruleName": "quiet", "actions": [
                 {"type": "FINDING_FIELDS_UPDATE",
                  "findingFieldsUpdate": {"workflow": {"status": "SUPPRESSED"}}}]}),)),
        Case("a finding marked notified", fires=False,
             events=(_sh("BatchUpdateFindings", {"findingIdentifiers": [{"id": "f"}],
                                                 "workflow": {"status": "NOTIFIED"}}),)),
        Case("an automation rule that raises severity", fires=False,
             events=(_sh("CreateAutomationRule", {"ruleName": "loud", "actions": [
                 {"type": "FINDING_FIELDS_UPDATE",
                  "findingFieldsUpdate": {"severity": {"label": "HIGH"}}}]}),)),
    ),
)
def securityhub_findings_suppressed(event: Event) -> Match | None:
    """Findings updated to SUPPRESSED, RESOLVED or ARCHIVED (by hand or by an automation
    rule), insights deleted or changed, or Security Hub, a product integration or standards
    disabled (high); succeeded."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, "securityhub.amazonaws.com"):
        return None
    request = params(event)
    action = event["event.action"]
    severity = "high" if action.startswith(("Disable", "BatchDisable")) else None
    status = None
    if action in ("BatchUpdateFindings", "UpdateFindings", "CreateAutomationRule",
                  "BatchUpdateAutomationRules"):
        status = _hides([request.get(k) for k in ("workflow", "recordState", "actions",
                                                  "updateAutomationRulesRequestItems")])
        if status is None:
            return None
    count = len(request.get("findingIdentifiers") or [])
    what = f"{count} finding(s) set {status}" if count else (
        f"{action} ({status})" if status else action)
    actor = event.get("user.name", "?")
    return Match(dedup=scope(event, actor), entity={"type": "aws_principal", "value": actor},
                 severity=severity, title=f"Security Hub: {what} by {actor}",
                 context=aws_context(event, status=status))
