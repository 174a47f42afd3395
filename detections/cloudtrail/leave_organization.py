"""An account trying to leave its AWS Organization."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.leave_organization",
    title="Account tried to leave the organization",
    severity="high",
    datasets=("cloudtrail",),
    actions=("LeaveOrganization",),
    mitre=("T1666",),
    runbook="Leaving sheds the organization's SCPs and central logging. Any attempt from a "
            "member account is suspect: find the principal and disable it.",
    playbooks=("disable-access-key",),
    tests=(
        Case("an attempt, even refused", fires=True,
             events=(ct("LeaveOrganization", None, error="AccessDenied", identity="AssumedRole",
                        source="organizations.amazonaws.com"),)),
        Case("another Organizations call", fires=False,
             events=(ct("DescribeOrganization", None, source="organizations.amazonaws.com"),)),
    ),
)
def leave_organization(event: Event) -> Match | None:
    """Any LeaveOrganization call, whatever its outcome (an attempt is the signal)."""
    if event.get("event.action") != "LeaveOrganization":
        return None
    refused = event.get("event.outcome") == "failure"
    return Match(dedup=scope(event), entity={"type": "aws_account",
                                             "value": str(event.get("cloud.account.id", ""))},
                 title="Account tried to leave the organization" + (" (refused)" if refused
                                                                    else ""),
                 severity="critical" if not refused else None, context=aws_context(event))
