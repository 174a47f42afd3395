"""An EFS file system or its mount target deleted."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.efs_deleted",
    title="EFS file system deleted",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("DeleteFileSystem", "DeleteMountTarget"),
    mitre=("T1485",),
    runbook="Shared files are gone (a file system) or unreachable (a mount target). Confirm "
            "with the owner; restore from AWS Backup if it was not planned.",
    tests=(
        Case("a file system deleted (high)", fires=True,
             events=(ct("DeleteFileSystem", {"fileSystemId": "fs-0123456789abcdef0"},
                        source="elasticfilesystem.amazonaws.com"),)),
        Case("a mount target deleted", fires=True,
             events=(ct("DeleteMountTarget", {"mountTargetId": "fsmt-0123456789abcdef0"},
                        source="elasticfilesystem.amazonaws.com"),)),
        Case("refused", fires=False,
             events=(ct("DeleteFileSystem", {"fileSystemId": "fs-0123456789abcdef0"},
                        source="elasticfilesystem.amazonaws.com",
                        error="AccessDeniedException"),)),
    ),
)
def efs_deleted(event: Event) -> Match | None:
    """A successful DeleteFileSystem (high) or DeleteMountTarget (medium)."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, "elasticfilesystem.amazonaws.com"):
        return None
    request = params(event)
    target = str(request.get("fileSystemId") or request.get("mountTargetId") or "?")
    whole = event["event.action"] == "DeleteFileSystem"
    return Match(dedup=scope(event, target), entity={"type": "aws_resource", "value": target},
                 severity="high" if whole else None,
                 title=f"EFS {'file system' if whole else 'mount target'} {target} deleted by "
                       f"{event.get('user.name', '?')}",
                 context=aws_context(event, resource_id=target))
