"""S3 bucket policy, ACL, CORS, lifecycle or replication changed (CIS 4.8)."""

from __future__ import annotations

from typing import Any

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import (
    change,
    ct,
    outside_accounts,
    params,
    policy_document,
    principals,
    statements,
)
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule

ACTIONS = ("PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle",
           "PutBucketReplication", "DeleteBucketPolicy", "DeleteBucketCors",
           "DeleteBucketLifecycle", "DeleteBucketReplication", "PutBucketPublicAccessBlock",
           "DeletePublicAccessBlock", "DeleteBucketPublicAccessBlock")


def _policy(principal: object) -> dict[str, Any]:
    return {"bucketName": "b", "bucketPolicy": {"Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::b/*"}]}}


@rule(
    id="cloudtrail.s3_bucket_policy_changed",
    title="S3 bucket policy changed",
    severity="low",
    datasets=("cloudtrail",),
    actions=ACTIONS,
    mitre=("T1530", "T1098"),
    runbook="Read the new policy: does it open the bucket to everyone or to another account? "
            "Revert it if so and nobody planned it.",
    tests=(
        Case("a policy for everyone is medium", fires=True,
             events=(ct("PutBucketPolicy", _policy("*"), source="s3.amazonaws.com"),)),
        Case("a CloudTrail delivery policy still counts as a change", fires=True,
             events=(ct("PutBucketPolicy", _policy({"Service": "cloudtrail.amazonaws.com"}),
                        source="s3.amazonaws.com"),)),
        Case("a refused change", fires=False,
             events=(ct("PutBucketPolicy", _policy("*"), error="AccessDenied",
                        source="s3.amazonaws.com"),)),
    ),
)
def s3_bucket_policy_changed(event: Event, ctx: RuleContext) -> Match | None:
    """Any successful bucket ACL, policy, CORS, lifecycle, replication or public-access-block
    change; medium (and its own alert per bucket) when a new policy admits everyone or an
    account outside this one and ``detection.trusted_accounts``."""
    request = params(event)
    bucket = str(request.get("bucketName", ""))
    found = change(event, "S3 bucket policy changed", "bucket", bucket, bucket=bucket)
    if found is None:
        return None
    document = policy_document(request.get("bucketPolicy"))
    names = [p for s in statements(document) if s.get("Effect") == "Allow"
             for p in principals(s)]
    outside = outside_accounts(names, event, ctx.trusted_accounts)
    if outside:
        from dataclasses import replace

        return replace(found, severity="medium", dedup=f"{found.dedup}:{bucket}",
                       title=f"Bucket {bucket} policy admits {', '.join(outside[:3])}",
                       context={**found.context, "admits": ", ".join(outside)})
    return found
