"""Default encryption removed: EBS encryption by default off, or S3 bucket encryption deleted."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.encryption_removed",
    title="Default encryption removed",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("DisableEbsEncryptionByDefault", "DeleteBucketEncryption"),
    mitre=("T1562.001", "T1486"),
    runbook="New volumes or objects are no longer encrypted by default. Turn it back on and "
            "ask why it was turned off.",
    tests=(
        Case("EBS encryption by default turned off", fires=True,
             events=(ct("DisableEbsEncryptionByDefault", {}, source="ec2.amazonaws.com",
                        response_elements={"ebsEncryptionByDefault": False}),)),
        Case("a bucket's encryption deleted", fires=True,
             events=(ct("DeleteBucketEncryption", {"bucketName": "ledger", "encryption": ""},
                        source="s3.amazonaws.com"),)),
        Case("refused", fires=False,
             events=(ct("DisableEbsEncryptionByDefault", {}, source="ec2.amazonaws.com",
                        error="Client.UnauthorizedOperation"),)),
    ),
)
def encryption_removed(event: Event) -> Match | None:
    """A successful DisableEbsEncryptionByDefault (the region's new volumes) or
    DeleteBucketEncryption (a bucket's default encryption configuration)."""
    if event.get("event.outcome") != "success":
        return None
    if event["event.action"] == "DeleteBucketEncryption":
        bucket = str(params(event).get("bucketName") or "?")
        return Match(dedup=scope(event, bucket), entity={"type": "s3_bucket", "value": bucket},
                     title=f"S3 bucket {bucket} encryption deleted by "
                           f"{event.get('user.name', '?')}",
                     context=aws_context(event, bucket=bucket))
    region = str(event.get("cloud.region") or "?")
    return Match(dedup=scope(event, "ebs"), entity={"type": "aws_region", "value": region},
                 title=f"EBS encryption by default turned off in {region} by "
                       f"{event.get('user.name', '?')}",
                 context=aws_context(event))
