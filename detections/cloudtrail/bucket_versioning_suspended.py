"""S3 bucket versioning suspended: deleted objects can no longer be restored."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


def _status(event: Event) -> str:
    config = params(event).get("VersioningConfiguration") or {}
    return str(config.get("Status", "")) if isinstance(config, dict) else ""


@rule(
    id="cloudtrail.bucket_versioning_suspended",
    title="Versioning suspended on bucket {bucket}",
    severity="high",
    datasets=("cloudtrail",),
    actions=("PutBucketVersioning",),
    mitre=("T1490",),
    runbook="Re-enable versioning unless the owner planned this; look for deletions that follow.",
    tests=(
        Case("versioning suspended", fires=True,
             events=(ct("PutBucketVersioning", {"bucketName": "b", "VersioningConfiguration": {
                 "Status": "Suspended"}}, source="s3.amazonaws.com"),)),
        Case("versioning enabled", fires=False,
             events=(ct("PutBucketVersioning", {"bucketName": "b", "VersioningConfiguration": {
                 "Status": "Enabled"}}, source="s3.amazonaws.com"),)),
    ),
)
def bucket_versioning_suspended(event: Event) -> Match | None:
    """PutBucketVersioning with Status Suspended, which succeeded."""
    if event.get("event.outcome") != "success" or _status(event) != "Suspended":
        return None
    bucket = str(params(event).get("bucketName", ""))
    return Match(dedup=scope(event, bucket), entity={"type": "bucket", "value": bucket},
                 title=f"Versioning suspended on bucket {bucket}",
                 context=aws_context(event, bucket=bucket))
