"""RDS snapshots exported to S3 or copied to another region or with another account's key."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import account_of, aws_context, ct, params, scope
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, RawRecord, rule

COPY = ("CopyDBSnapshot", "CopyDBClusterSnapshot")


def _rds(name: str, request: dict[str, object], error: str | None = None) -> RawRecord:
    return ct(name, request, error=error, source="rds.amazonaws.com")


@rule(
    id="cloudtrail.rds_snapshot_exported",
    title="RDS snapshot exported or copied away",
    severity="high",
    datasets=("cloudtrail",),
    actions=("StartExportTask", *COPY),
    mitre=("T1537", "T1530"),
    runbook="A copy of a database is leaving its usual place. Check the bucket or region it "
            "went to and who owns the key; cancel the export task if nobody asked for it.",
    tests=(
        Case("a snapshot exported to S3", fires=True,
             events=(_rds("StartExportTask", {
                 "exportTaskIdentifier": "x1", "s3BucketName": "drop-zone",
                 "sourceArn": "arn:aws:rds:us-east-1:111122223333:snapshot:orders-1",
                 "iamRoleArn": "arn:aws:iam::111122223333:role/export",
                 "kmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/k"}),)),
        Case("a snapshot copied from another region", fires=True,
             events=(_rds("CopyDBSnapshot", {
                 "sourceDBSnapshotIdentifier":
                     "arn:aws:rds:eu-west-1:111122223333:snapshot:orders-1",
                 "targetDBSnapshotIdentifier": "orders-1-copy", "sourceRegion": "eu-west-1"}),)),
        Case("a copy encrypted with another account's key", fires=True,
             events=(_rds("CopyDBClusterSnapshot", {
                 "sourceDBClusterSnapshotIdentifier": "orders-1",
                 "targetDBClusterSnapshotIdentifier": "orders-1-copy",
                 "kmsKeyId": "arn:aws:kms:us-east-1:999988887777:key/k"}),)),
        Case("a copy in the same region with the account's own key", fires=False,
             events=(_rds("CopyDBSnapshot", {
                 "sourceDBSnapshotIdentifier": "orders-1",
                 "targetDBSnapshotIdentifier": "orders-1-copy",
                 "kmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/k"}),)),
        Case("a refused export", fires=False,
             events=(_rds("StartExportTask", {"s3BucketName": "drop-zone"},
                          error="AccessDenied"),)),
    ),
)
def rds_snapshot_exported(event: Event, ctx: RuleContext) -> Match | None:
    """StartExportTask (a snapshot to S3), or CopyDB(Cluster)Snapshot from another region or
    encrypted with a key of an account other than this one and ``detection.trusted_accounts``;
    succeeded."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, "rds.amazonaws.com"):
        return None
    request = params(event)
    actor = event.get("user.name", "?")
    if event["event.action"] == "StartExportTask":
        source = str(request.get("sourceArn") or "?").rsplit(":", 1)[-1]
        bucket = str(request.get("s3BucketName") or "?")
        return Match(dedup=scope(event, source), entity={"type": "rds_snapshot", "value": source},
                     title=f"RDS snapshot {source} exported to s3://{bucket} by {actor}",
                     context=aws_context(event, snapshot_id=source, bucket=bucket,
                                         kms_key_id=request.get("kmsKeyId")))
    source = str(request.get("sourceDBSnapshotIdentifier")
                 or request.get("sourceDBClusterSnapshotIdentifier") or "?")
    region = request.get("sourceRegion") or (source.split(":")[3] if source.startswith(
        "arn:") and source.count(":") > 4 else None)
    key_account = account_of(str(request.get("kmsKeyId") or ""))
    other_region = bool(region) and region != event.get("cloud.region")
    other_key = bool(key_account) and key_account != event.get("cloud.account.id") and (
        key_account not in ctx.trusted_accounts)
    if not (other_region or other_key):
        return None
    why = (f"from {region}" if other_region else "") + (
        f" with a key of account {key_account}" if other_key else "")
    name = source.rsplit(":", 1)[-1]
    return Match(dedup=scope(event, name), entity={"type": "rds_snapshot", "value": name},
                 title=f"RDS snapshot {name} copied {why.strip()} by {actor}",
                 context=aws_context(event, snapshot_id=name, source_region=region,
                                     kms_key_id=request.get("kmsKeyId")))
