"""An S3 bucket or object opened to everyone, or public-access blocks removed."""

from __future__ import annotations

from typing import Any

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import (
    as_list,
    aws_context,
    ct,
    params,
    policy_document,
    principals,
    scope,
    statements,
)
from socbot.detections.rule import Case, Match, RawRecord, rule

PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                 "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
PUBLIC_CANNED = ("public-read", "public-read-write", "authenticated-read")
BLOCKS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ACCOUNT_LEVEL = ("PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock")


def _mentions(value: Any, needles: tuple[str, ...]) -> bool:
    """True if any string anywhere in a nested request equals one of ``needles``."""
    if isinstance(value, dict):
        return any(_mentions(v, needles) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, needles) for v in value)
    return isinstance(value, str) and value in needles


def _s3(name: str, request: dict[str, Any], error: str | None = None) -> RawRecord:
    return ct(name, request, error=error, source="s3.amazonaws.com")


def _why(event: Event) -> str | None:
    """What makes this call open something up, or None."""
    request = params(event)
    action = event["event.action"]
    if action in ("PutBucketAcl", "PutObjectAcl"):
        acl = request.get("AccessControlPolicy")
        canned = [str(a) for a in as_list(request.get("x-amz-acl") or [])]
        if _mentions(acl, PUBLIC_GROUPS) or any(a in PUBLIC_CANNED for a in canned):
            return "ACL grants everyone"
        return None
    if action == "PutBucketPolicy":
        for statement in statements(policy_document(request.get("bucketPolicy"))):
            if (statement.get("Effect") == "Allow" and "*" in principals(statement)
                    and not statement.get("Condition")):
                return "policy allows everyone"
        return None
    if action.startswith("Delete"):
        return "public access block deleted"
    config = request.get("PublicAccessBlockConfiguration")
    off = [b for b in BLOCKS if isinstance(config, dict) and config.get(b) is False]
    return f"public access block relaxed ({', '.join(off)} off)" if off else None


@rule(
    id="cloudtrail.s3_public_access",
    title="S3 opened to the public",
    severity="high",
    datasets=("cloudtrail",),
    actions=("PutBucketAcl", "PutObjectAcl", "PutBucketPolicy", "PutBucketPublicAccessBlock",
             "DeleteBucketPublicAccessBlock", *ACCOUNT_LEVEL),
    mitre=("T1530", "T1098"),
    runbook="Data may now be readable by anyone on the Internet. Restore the public access "
            "block, then check the bucket's access logs for downloads since the change.",
    tests=(
        Case("an ACL granting AllUsers read", fires=True,
             events=(_s3("PutBucketAcl", {"bucketName": "reports", "acl": "",
                 "AccessControlPolicy": {"AccessControlList": {"Grant": [
                     {"Grantee": {"xsi:type": "Group", "URI": PUBLIC_GROUPS[0]},
                      "Permission": "READ"}]}, "Owner": {"ID": "abc"}}}),)),
        Case("the account's public access block deleted", fires=True,
             events=(_s3("DeleteAccountPublicAccessBlock", {}),)),
        Case("a bucket's public access block turned off", fires=True,
             events=(_s3("PutBucketPublicAccessBlock", {"bucketName": "reports",
                 "PublicAccessBlockConfiguration": {b: False for b in BLOCKS}}),)),
        Case("a policy allowing anyone to read", fires=True,
             events=(_s3("PutBucketPolicy", {"bucketName": "reports", "bucketPolicy": {
                 "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}]}}),)),
        Case("a private ACL", fires=False,
             events=(_s3("PutBucketAcl", {"bucketName": "reports", "x-amz-acl": ["private"]}),)),
        Case("a policy for CloudTrail's service principal", fires=False,
             events=(_s3("PutBucketPolicy", {"bucketName": "trail", "bucketPolicy": {
                 "Statement": [{"Effect": "Allow",
                                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                "Action": "s3:PutObject", "Resource": "*"}]}}),)),
        Case("a public access block fully on", fires=False,
             events=(_s3("PutBucketPublicAccessBlock", {"bucketName": "reports",
                 "PublicAccessBlockConfiguration": {b: True for b in BLOCKS}}),)),
    ),
)
def s3_public_access(event: Event) -> Match | None:
    """A successful bucket or object ACL granting AllUsers or AuthenticatedUsers (or a public
    canned ACL), a bucket policy allowing ``*`` without a condition, or a bucket's or the
    account's public access block deleted or relaxed (critical at account level)."""
    if event.get("event.outcome") != "success":
        return None
    why = _why(event)
    if why is None:
        return None
    account_level = event["event.action"] in ACCOUNT_LEVEL
    target = "account" if account_level else str(params(event).get("bucketName") or "?")
    return Match(dedup=scope(event, target),
                 entity={"type": "aws_account" if account_level else "s3_bucket",
                         "value": str(event.get("cloud.account.id", "?")) if account_level
                         else target},
                 severity="critical" if account_level else None,
                 title=f"S3 {'account' if account_level else target}: {why} by "
                       f"{event.get('user.name', '?')}",
                 context=aws_context(event, bucket=None if account_level else target))
