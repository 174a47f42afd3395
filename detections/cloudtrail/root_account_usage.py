"""The root user used (CIS 4.3)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, record
from socbot.detections.rule import Case, Match, rule


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
    ),
)
def root_account_usage(event: Event) -> Match | bool:
    """Any call by the root identity that it made itself (no ``invokedBy``, not a service
    event), as the CIS 4.3 metric filter."""
    if event.get("aws.cloudtrail.user_identity.type") != "Root":
        return False
    raw = record(event)
    identity = raw.get("userIdentity") or {}
    if raw.get("eventType") == "AwsServiceEvent" or (
            isinstance(identity, dict) and identity.get("invokedBy")):
        return False
    return Match(context=aws_context(event, **{"source.ip": event.get("source.ip")}))
