"""VPC changes (CIS 4.14)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import change, ct, params
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.vpc_changed",
    title="VPC changed",
    severity="low",
    datasets=("cloudtrail",),
    actions=("CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection",
             "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection",
             "RejectVpcPeeringConnection", "AttachClassicLinkVpc", "DetachClassicLinkVpc",
             "DisableVpcClassicLink", "EnableVpcClassicLink", "DeleteSubnet",
             "ModifySubnetAttribute"),
    mitre=("T1562.007",),
    runbook="Expected from infrastructure as code; a peering to an unknown account is not.",
    tests=(
        Case("a peering requested", fires=True,
             events=(ct("CreateVpcPeeringConnection", {"vpcId": "vpc-1",
                                                       "peerOwnerId": "444455556666"},
                        source="ec2.amazonaws.com"),)),
        Case("a subnet deleted", fires=True,
             events=(ct("DeleteSubnet", {"subnetId": "subnet-0123456789abcdef0"},
                        source="ec2.amazonaws.com"),)),
        Case("a refused change", fires=False,
             events=(ct("DeleteVpc", {"vpcId": "vpc-1"}, error="Client.UnauthorizedOperation",
                        source="ec2.amazonaws.com"),)),
    ),
)
def vpc_changed(event: Event) -> Match | None:
    """Any successful VPC, subnet deletion or attribute, peering or ClassicLink change, grouped
    per actor."""
    request = params(event)
    return change(event, "VPC changed", vpc_id=request.get("vpcId"),
                  subnet_id=request.get("subnetId"),
                  peer_account=request.get("peerOwnerId"))
