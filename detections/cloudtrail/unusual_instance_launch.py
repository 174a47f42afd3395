"""Instance launches refused for permission or quota, or of GPU and very large types."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, items, params, principal, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

REFUSED = ("Client.UnauthorizedOperation", "UnauthorizedOperation", "Client.VcpuLimitExceeded",
           "VcpuLimitExceeded", "Client.InstanceLimitExceeded")
GPU_FAMILIES = ("p2", "p3", "p4d", "p4de", "p5", "g3", "g4dn", "g4ad", "g5", "g6", "trn1",
                "inf2", "dl1")


def _launch(kind: str, error: str | None = None) -> RawRecord:
    return ct("RunInstances", {"instanceType": kind, "instancesSet": {"items": [
        {"imageId": "ami-1", "minCount": 1, "maxCount": 10}]}}, error=error,
        source="ec2.amazonaws.com")


@rule(
    id="cloudtrail.unusual_instance_launch",
    title="Unusual instance launch",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("RunInstances",),
    mitre=("T1496", "T1578.002"),
    runbook="Cryptomining starts with GPU instances and hits quotas. Check the principal and "
            "terminate what it launched if nobody asked for it.",
    playbooks=("quarantine-instance",),
    tests=(
        Case("GPU instances refused", fires=True,
             events=(_launch("p2.xlarge", "Client.UnauthorizedOperation"),)),
        Case("GPU instances launched", fires=True, events=(_launch("g5.12xlarge"),)),
        Case("a small instance", fires=False, events=(_launch("t3.micro"),)),
        Case("GPU type written as {'value': ...} (EC2 Fleet launches)", fires=True,
             events=(ct("RunInstances", {"instanceType": {"value": "p2.xlarge"},
                                         "instancesSet": {"items": [{"imageId": "ami-1"}]}},
                        source="ec2.amazonaws.com"),)),
        Case("a bad parameter is not unusual", fires=False,
             events=(_launch("t3.micro", "Client.InvalidParameterValue"),)),
    ),
)
def unusual_instance_launch(event: Event) -> Match | None:
    """RunInstances refused for permission or vCPU / instance quota, or launching a GPU or
    accelerator family (p*, g*, trn, inf, dl)."""
    request = params(event)
    kind = request.get("instanceType", "")
    if isinstance(kind, dict):  # {"value": "p2.xlarge"}, as EC2 Fleet's launches write it
        kind = kind.get("value", "")
    kind = str(kind)
    family = kind.split(".")[0]
    refused = event.get("error.code") in REFUSED
    gpu = family in GPU_FAMILIES
    if not (refused or (gpu and event.get("event.outcome") == "success")):
        return None
    count = max((int(i.get("maxCount", 1)) for i in items(request.get("instancesSet"))
                 if isinstance(i, dict) and str(i.get("maxCount", "1")).isdigit()), default=1)
    state = f"refused ({event.get('error.code')})" if refused else "launched"
    return Match(dedup=scope(event, event.get("user.name")),
                 entity=principal(event),
                 title=f"{count} x {kind or '?'} {state} by {event.get('user.name', '?')}",
                 severity="high" if gpu else None,
                 context=aws_context(event, instance_type=kind, count=count))
