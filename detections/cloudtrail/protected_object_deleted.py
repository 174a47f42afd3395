"""Objects deleted (or a bucket deleted) in a bucket listed as protected."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule

CONFIG = {"detection": {"protected_buckets": ["finance-records"]}}


@rule(
    id="cloudtrail.protected_object_deleted",
    title="Deletion in protected bucket {bucket}",
    severity="high",
    datasets=("cloudtrail",),
    actions=("DeleteObject", "DeleteObjects", "DeleteBucket", "PutBucketLifecycle"),
    mitre=("T1485",),
    runbook="Check who deleted what (object_key, version_id); restore the previous version with "
            "the button if the deletion was not planned.",
    dedup_window_s=3600,
    playbooks=("restore-s3-object",),
    tests=(
        Case("an object deleted in a protected bucket", fires=True, config=CONFIG,
             events=(ct("DeleteObject", {"bucketName": "finance-records", "key": "q3.xlsx"},
                        source="s3.amazonaws.com",
                        response_elements={"x-amz-version-id": "v1"}),)),
        Case("an object deleted elsewhere", fires=False, config=CONFIG,
             events=(ct("DeleteObject", {"bucketName": "scratch", "key": "tmp"},
                        source="s3.amazonaws.com"),)),
    ),
)
def protected_object_deleted(event: Event, ctx: RuleContext) -> Match | None:
    """DeleteObject(s), DeleteBucket or a new lifecycle rule on a ``detection.protected_buckets``
    bucket (S3 data events must be on for object deletions)."""
    if event.get("event.outcome") != "success" or not ctx.protected_buckets:
        return None
    request = params(event)
    bucket = request.get("bucketName")
    if bucket not in ctx.protected_buckets:
        return None
    key = request.get("key")
    version = (event.get("original") or {}).get("responseElements") or {}
    version_id = version.get("x-amz-version-id") if isinstance(version, dict) else None
    return Match(dedup=scope(event, bucket), entity={"type": "bucket", "value": bucket},
                 title=f"{event['event.action']} in protected bucket {bucket}",
                 context=aws_context(event, bucket=bucket, object_key=key,
                                     version_id=version_id or request.get("versionId")),
                 playbooks=("restore-s3-object",) if key else ())
