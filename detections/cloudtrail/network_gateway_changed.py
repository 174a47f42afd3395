"""Network gateway changes (CIS 4.12)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import change, ct, params
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.network_gateway_changed",
    title="Network gateway changed",
    severity="low",
    datasets=("cloudtrail",),
    actions=("CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway",
             "CreateInternetGateway", "DeleteInternetGateway", "DetachInternetGateway"),
    mitre=("T1562.007",),
    runbook="Expected from infrastructure as code; an Internet gateway attached by hand to a "
            "private VPC deserves a question.",
    tests=(
        Case("an Internet gateway attached", fires=True,
             events=(ct("AttachInternetGateway", {"internetGatewayId": "igw-1", "vpcId": "vpc-1"},
                        source="ec2.amazonaws.com"),)),
        Case("a refused change", fires=False,
             events=(ct("CreateInternetGateway", {}, error="Client.UnauthorizedOperation",
                        source="ec2.amazonaws.com"),)),
    ),
)
def network_gateway_changed(event: Event) -> Match | None:
    """Any successful customer or Internet gateway change, grouped per actor."""
    return change(event, "Network gateway changed", vpc_id=params(event).get("vpcId"),
                  gateway=params(event).get("internetGatewayId"))
