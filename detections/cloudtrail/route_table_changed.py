"""Route table changes (CIS 4.13)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import change, ct, params
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.route_table_changed",
    title="Route table changed",
    severity="low",
    datasets=("cloudtrail",),
    actions=("CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation",
             "DeleteRouteTable", "DeleteRoute", "DisassociateRouteTable",
             "AssociateRouteTable"),
    mitre=("T1562.007",),
    runbook="Expected from infrastructure as code; a default route changed by hand can "
            "redirect traffic.",
    tests=(
        Case("a route added", fires=True,
             events=(ct("CreateRoute", {"routeTableId": "rtb-1",
                                        "destinationCidrBlock": "0.0.0.0/0"},
                        source="ec2.amazonaws.com"),)),
        Case("a refused change", fires=False,
             events=(ct("DeleteRoute", {"routeTableId": "rtb-1"},
                        error="Client.UnauthorizedOperation", source="ec2.amazonaws.com"),)),
    ),
)
def route_table_changed(event: Event) -> Match | None:
    """Any successful route or route table change, grouped per actor."""
    return change(event, "Route table changed", route_table=params(event).get("routeTableId"),
                  vpc_id=params(event).get("vpcId"))
