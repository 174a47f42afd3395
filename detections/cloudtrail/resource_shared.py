"""A snapshot or AMI made public or shared with another account."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, items, params, scope
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule

KINDS = {"snapshot": "EBS snapshot", "image": "AMI", "db_snapshot": "RDS snapshot"}
CONFIG = {"detection": {"trusted_accounts": ["222233334444"]}}


def _grantees(add: list[object]) -> list[str]:
    """Accounts given access (``userId``), and "all" for the only group meaning everyone."""
    found = []
    for item in add:
        if not isinstance(item, dict):
            continue
        if item.get("userId"):
            found.append(str(item["userId"]))
        elif item.get("group") == "all":
            found.append("all")
    return found


def _added(event: Event) -> tuple[str, str, list[str]]:
    """(resource kind, id, accounts or "all" given access) of one sharing call."""
    request = params(event)
    action = event["event.action"]
    if action == "ModifySnapshotAttribute":
        perm = request.get("createVolumePermission") or {}
        add = items(perm.get("add")) if isinstance(perm, dict) else []
        return "snapshot", str(request.get("snapshotId", "")), _grantees(add)
    if action == "ModifyImageAttribute":
        perm = request.get("launchPermission") or {}
        add = items(perm.get("add")) if isinstance(perm, dict) else []
        return "image", str(request.get("imageId", "")), _grantees(add)
    if request.get("attributeName") != "restore":
        return "db_snapshot", "", []
    ident = request.get("dBSnapshotIdentifier") or request.get("dBClusterSnapshotIdentifier")
    return "db_snapshot", str(ident or ""), [str(v) for v in request.get("valuesToAdd") or []]


@rule(
    id="cloudtrail.resource_shared",
    title="Snapshot or image shared outside the account",
    severity="high",
    datasets=("cloudtrail",),
    actions=("ModifySnapshotAttribute", "ModifyImageAttribute", "ModifyDBSnapshotAttribute",
             "ModifyDBClusterSnapshotAttribute"),
    mitre=("T1537",),
    runbook="A copy of the disk or database can now be made elsewhere. Remove the permission "
            "now, then find out whether the other account copied it.",
    tests=(
        Case("an EBS snapshot shared with an unknown account", fires=True, config=CONFIG,
             events=(ct("ModifySnapshotAttribute", {"snapshotId": "snap-1",
                        "createVolumePermission": {"add": {"items": [{"userId": "999988887777"}]}},
                        "attributeType": "CREATE_VOLUME_PERMISSION"},
                        source="ec2.amazonaws.com"),)),
        Case("an AMI made public is critical", fires=True,
             events=(ct("ModifyImageAttribute", {"imageId": "ami-1", "launchPermission": {
                 "add": {"items": [{"group": "all"}]}}}, source="ec2.amazonaws.com"),)),
        Case("shared with a trusted account", fires=False, config=CONFIG,
             events=(ct("ModifySnapshotAttribute", {"snapshotId": "snap-1",
                        "createVolumePermission": {"add": {"items": [{"userId": "222233334444"}]}}},
                        source="ec2.amazonaws.com"),)),
        Case("a group other than 'all' is no outside account", fires=False,
             events=(ct("ModifySnapshotAttribute", {"snapshotId": "snap-1",
                        "createVolumePermission": {"add": {"items": [{"group": "admins"}]}}},
                        source="ec2.amazonaws.com"),)),
        Case("a permission removed", fires=False,
             events=(ct("ModifyImageAttribute", {"imageId": "ami-1", "launchPermission": {
                 "remove": {"items": [{"userId": "999988887777"}]}}},
                 source="ec2.amazonaws.com"),)),
    ),
)
def resource_shared(event: Event, ctx: RuleContext) -> Match | None:
    """EBS snapshot, AMI or RDS snapshot permission added for everyone ("all", critical) or an
    account other than this one and ``detection.trusted_accounts`` (high); succeeded."""
    if event.get("event.outcome") != "success":
        return None
    kind, resource, added = _added(event)
    own = event.get("cloud.account.id")
    outside = [a for a in added if a != own and a not in ctx.trusted_accounts]
    if not resource or not outside:
        return None
    public = "all" in outside
    context = aws_context(event, shared_with=", ".join(outside),
                          image_id=resource if kind == "image" else None,
                          snapshot_id=resource if kind != "image" else None)
    return Match(dedup=scope(event, resource), entity={"type": kind, "value": resource},
                 severity="critical" if public else None,
                 title=f"{KINDS[kind]} {resource} "
                       + ("made public" if public else f"shared with {', '.join(outside[:3])}"),
                 context=context)
