"""The root user used (CIS 4.3)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import ACCOUNT, aws_context, ct, record
from socbot.detections.rule import Case, Match, rule

CONSOLE = "signin.amazonaws.com"


@rule(
    id="cloudtrail.root_account_usage",
    title="Root account used: {event.action}",
    severity="high",
    datasets=("cloudtrail",),
    actions=None,
    mitre=("T1078.004",),
    runbook="Root should almost never act. Find who holds the root credentials and why; rotate "
            "the password and check the MFA device if nobody owns up.",
    dedup_by="cloud.account.id",
    entity_type="aws_account",
    tests=(
        Case("root lists buckets", fires=True,
             events=(ct("ListBuckets", identity="Root", source="s3.amazonaws.com"),)),
        Case("an AWS service acting for root", fires=False,
             events=(ct("ListBuckets", identity="Root", source="s3.amazonaws.com",
                        eventType="AwsServiceEvent"),)),
        Case("an IAM user", fires=False, events=(ct("ListBuckets"),)),
        Case("root creates its access key in the console", fires=True,
             events=(ct("CreateAccessKey", None, identity="Root", userIdentity={
                 "type": "Root", "accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root",
                 "principalId": ACCOUNT, "invokedBy": "signin.amazonaws.com"},
                 userAgent="signin.amazonaws.com"),)),
        Case("an AWS service invoking for root", fires=False,
             events=(ct("PutObject", identity="Root", source="s3.amazonaws.com", userIdentity={
                 "type": "Root", "accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root",
                 "invokedBy": "cloudtrail.amazonaws.com"}),)),
    ),
)
def root_account_usage(event: Event) -> Match | bool:
    """Any call by the root identity that it made itself (no ``invokedBy``, or the console's
    ``signin.amazonaws.com``; not a service event), as the CIS 4.3 metric filter."""
    if event.get("aws.cloudtrail.user_identity.type") != "Root":
        return False
    raw = record(event)
    identity = raw.get("userIdentity") or {}
    invoked_by = identity.get("invokedBy") if isinstance(identity, dict) else None
    # The console acts for the person signed in as root: that is root's own doing.
    if raw.get("eventType") == "AwsServiceEvent" or (
            invoked_by and invoked_by != CONSOLE):
        return False
    return Match(context=aws_context(event, **{"source.ip": event.get("source.ip")}))
