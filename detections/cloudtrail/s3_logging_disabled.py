"""S3 server access logging turned off for a bucket."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

XMLNS = "http://doc.s3.amazonaws.com/2006-03-01"


def _logging(status: object, error: str | None = None) -> RawRecord:
    return ct("PutBucketLogging", {"bucketName": "ledger", "logging": "",
                                   "BucketLoggingStatus": status},
              error=error, source="s3.amazonaws.com")


@rule(
    id="cloudtrail.s3_logging_disabled",
    title="S3 access logging turned off",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("PutBucketLogging",),
    mitre=("T1562.008",),
    runbook="Reads and writes of the bucket are no longer logged. Turn logging back on and "
            "ask why; what happened to the bucket meanwhile is only in CloudTrail data events.",
    tests=(
        Case("logging status without LoggingEnabled", fires=True,
             events=(_logging({"xmlns": XMLNS}),)),
        Case("logging pointed at a log bucket", fires=False,
             events=(_logging({"xmlns": XMLNS, "LoggingEnabled": {
                 "TargetBucket": "ledger-logs", "TargetPrefix": "ledger/"}}),)),
        Case("refused", fires=False,
             events=(_logging({"xmlns": XMLNS}, error="AccessDenied"),)),
    ),
)
def s3_logging_disabled(event: Event) -> Match | None:
    """A successful PutBucketLogging whose BucketLoggingStatus has no LoggingEnabled (server
    access logging off)."""
    request = params(event)
    status = request.get("BucketLoggingStatus")
    if event.get("event.outcome") != "success" or (
            isinstance(status, dict) and status.get("LoggingEnabled")):
        return None
    bucket = str(request.get("bucketName") or "?")
    return Match(dedup=scope(event, bucket), entity={"type": "s3_bucket", "value": bucket},
                 title=f"S3 bucket {bucket} access logging turned off by "
                       f"{event.get('user.name', '?')}",
                 context=aws_context(event, bucket=bucket))
