"""Security group changes (CIS 4.10)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import change, ct, params
from socbot.detections.cloudtrail.sg_open_to_world import world_permissions
from socbot.detections.rule import Case, Match, rule

ACTIONS = ("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
           "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "CreateSecurityGroup",
           "DeleteSecurityGroup", "ModifySecurityGroupRules")


@rule(
    id="cloudtrail.security_group_changed",
    title="Security group changed",
    severity="low",
    datasets=("cloudtrail",),
    actions=ACTIONS,
    mitre=("T1562.007",),
    runbook="Expected from infrastructure as code; check rules added by hand.",
    tests=(
        Case("HTTPS from an office range", fires=True,
             events=(ct("AuthorizeSecurityGroupIngress", {"groupId": "sg-1", "ipPermissions": {
                 "items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                            "ipRanges": {"items": [{"cidrIp": "192.0.2.0/24"}]}}]}},
                 source="ec2.amazonaws.com"),)),
        Case("opened to the world is the world rule's alert", fires=False,
             events=(ct("AuthorizeSecurityGroupIngress", {"groupId": "sg-1", "cidrIp":
                        "0.0.0.0/0", "ipProtocol": "tcp", "fromPort": 22, "toPort": 22},
                        source="ec2.amazonaws.com"),)),
    ),
)
def security_group_changed(event: Event) -> Match | None:
    """Any successful security group create, delete, authorize or revoke, grouped per actor;
    ingress open to the world is left to ``cloudtrail.sg_open_to_world``."""
    request = params(event)
    if event["event.action"] == "AuthorizeSecurityGroupIngress" and world_permissions(request):
        return None
    group = request.get("groupId") or request.get("groupName")
    return change(event, "Security group changed", group_id=group)
