"""VPC traffic mirroring set up or changed: a copy of a network interface's packets."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, principal, record, scope
from socbot.detections.rule import Case, Match, rule

SESSION = ("CreateTrafficMirrorSession", "ModifyTrafficMirrorSession")
OTHER = ("CreateTrafficMirrorTarget", "CreateTrafficMirrorFilter",
         "CreateTrafficMirrorFilterRule", "ModifyTrafficMirrorFilterRule",
         "ModifyTrafficMirrorFilterNetworkServices", "DeleteTrafficMirrorSession",
         "DeleteTrafficMirrorTarget", "DeleteTrafficMirrorFilter",
         "DeleteTrafficMirrorFilterRule")


@rule(
    id="cloudtrail.traffic_mirroring",
    title="Traffic mirroring changed",
    severity="medium",
    datasets=("cloudtrail",),
    actions=(*SESSION, *OTHER),
    mitre=("T1040", "T1020"),
    runbook="Mirrored packets of an interface go to the session's target. Check who owns the "
            "target and that a network team asked for it; delete the session if not.",
    tests=(
        Case("a mirror session started (high)", fires=True,
             events=(ct("CreateTrafficMirrorSession", {"CreateTrafficMirrorSessionRequest": {
                 "NetworkInterfaceId": "eni-0123456789abcdef0",
                 "TrafficMirrorTargetId": "tmt-0123456789abcdef0",
                 "TrafficMirrorFilterId": "tmf-0123456789abcdef0", "SessionNumber": 1}},
                 source="ec2.amazonaws.com"),)),
        Case("a mirror filter rule added", fires=True,
             events=(ct("CreateTrafficMirrorFilterRule", {}, source="ec2.amazonaws.com"),)),
        Case("a service acting for a principal", fires=False,
             events=(ct("CreateTrafficMirrorSession", {}, source="ec2.amazonaws.com",
                        userIdentity={"type": "AssumedRole",
                                      "invokedBy": "cloudformation.amazonaws.com"}),)),
        Case("refused", fires=False,
             events=(ct("CreateTrafficMirrorSession", {}, source="ec2.amazonaws.com",
                        error="Client.UnauthorizedOperation"),)),
    ),
)
def traffic_mirroring(event: Event) -> Match | None:
    """A successful traffic mirror session created or modified (high), or a mirror target,
    filter or rule created, changed or deleted (medium); not when an AWS service invoked it."""
    if event.get("event.outcome") != "success":
        return None
    identity = record(event).get("userIdentity")
    if isinstance(identity, dict) and str(identity.get("invokedBy", "")).endswith(
            ".amazonaws.com"):
        return None
    action = event["event.action"]
    request = params(event)
    inner = request.get("CreateTrafficMirrorSessionRequest") or request
    interface = inner.get("NetworkInterfaceId") if isinstance(inner, dict) else None
    actor = event.get("user.name", "?")
    return Match(dedup=scope(event, actor), entity=principal(event),
                 severity="high" if action in SESSION else None,
                 title=f"Traffic mirroring: {action}"
                       + (f" of {interface}" if interface else "") + f" by {actor}",
                 context=aws_context(event, network_interface_id=interface))
