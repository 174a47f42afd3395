"""VPC flow logs or DNS query logging deleted."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


def _ids(event: Event) -> list[str]:
    request = params(event)
    found = request.get("flowLogIds") or request.get("FlowLogId") or []
    nested = (request.get("DeleteFlowLogsRequest") or {}).get("FlowLogId")
    if isinstance(nested, dict):
        nested = nested.get("content")
    if nested:
        found = [nested]
    if isinstance(found, dict):
        found = found.get("items", [])
    if request.get("resolverQueryLogConfigId"):
        found = [request["resolverQueryLogConfigId"]]
    return [str(i) for i in (found if isinstance(found, list) else [found])]


@rule(
    id="cloudtrail.flow_logs_deleted",
    title="Network logging deleted",
    severity="high",
    datasets=("cloudtrail",),
    actions=("DeleteFlowLogs", "DeleteResolverQueryLogConfig",
             "DisassociateResolverQueryLogConfig"),
    mitre=("T1562.008",),
    runbook="Flow and DNS logs are what an investigation of this VPC needs; recreate them and "
            "ask the actor why, unless the VPC is being torn down.",
    tests=(
        Case("flow logs deleted", fires=True,
             events=(ct("DeleteFlowLogs", {"DeleteFlowLogsRequest": {"FlowLogId": {
                 "content": "fl-1", "tag": 1}}}, source="ec2.amazonaws.com"),)),
        Case("a refused attempt", fires=False,
             events=(ct("DeleteFlowLogs", {"flowLogIds": ["fl-1"]},
                        error="Client.UnauthorizedOperation", source="ec2.amazonaws.com"),)),
    ),
)
def flow_logs_deleted(event: Event) -> Match | None:
    """A successful DeleteFlowLogs, DeleteResolverQueryLogConfig or its disassociation."""
    if event.get("event.outcome") != "success":
        return None
    ids = _ids(event)
    what = "VPC flow logs" if event["event.action"] == "DeleteFlowLogs" else "DNS query logging"
    return Match(dedup=scope(event, *ids[:1]), title=f"{what} deleted ({', '.join(ids[:3])})",
                 entity={"type": "log_config", "value": ids[0] if ids else "?"},
                 context=aws_context(event, log_ids=", ".join(ids)))
