"""Network ACL changes (CIS 4.11)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import change, ct, params
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.nacl_changed",
    title="Network ACL changed",
    severity="low",
    datasets=("cloudtrail",),
    actions=("CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl",
             "DeleteNetworkAclEntry", "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"),
    mitre=("T1562.007",),
    runbook="Expected from infrastructure as code; check entries that allow 0.0.0.0/0.",
    tests=(
        Case("an entry added", fires=True,
             events=(ct("CreateNetworkAclEntry", {"networkAclId": "acl-1", "ruleNumber": 100},
                        source="ec2.amazonaws.com"),)),
        Case("a refused change", fires=False,
             events=(ct("DeleteNetworkAcl", {"networkAclId": "acl-1"},
                        error="Client.UnauthorizedOperation", source="ec2.amazonaws.com"),)),
    ),
)
def nacl_changed(event: Event) -> Match | None:
    """Any successful network ACL or ACL entry change, grouped per actor."""
    return change(event, "Network ACL changed", nacl_id=params(event).get("networkAclId"))
