"""AWS Organizations changes (CIS 4.15)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import change, ct
from socbot.detections.rule import Case, Match, rule

ACTIONS = ("AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit",
           "CreatePolicy", "DeclineHandshake", "DeleteOrganization",
           "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy", "DisablePolicyType",
           "EnablePolicyType", "InviteAccountToOrganization", "MoveAccount",
           "RemoveAccountFromOrganization", "UpdatePolicy", "UpdateOrganizationalUnit")


@rule(
    id="cloudtrail.organizations_changed",
    title="AWS Organizations changed",
    severity="medium",
    datasets=("cloudtrail",),
    actions=ACTIONS,
    mitre=("T1484.002",),
    runbook="Organization changes are rare and powerful (SCPs, accounts); confirm with the "
            "cloud team.",
    tests=(
        Case("an SCP detached", fires=True,
             events=(ct("DetachPolicy", {"policyId": "p-1", "targetId": "ou-1"},
                        source="organizations.amazonaws.com"),)),
        Case("IAM's CreatePolicy is not an Organizations call", fires=False,
             events=(ct("CreatePolicy", {"policyName": "x"}, source="iam.amazonaws.com"),)),
    ),
)
def organizations_changed(event: Event) -> Match | None:
    """Successful Organizations calls that change accounts, units, handshakes or policies
    (event source ``organizations.amazonaws.com``; LeaveOrganization has its own rule)."""
    if event.get("event.provider") != "organizations.amazonaws.com":
        return None
    return change(event, "AWS Organizations changed")
