"""An EC2 instance or image exported out of EC2 (to an S3 bucket)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule


def _export(name: str, request: dict[str, object], error: str | None = None) -> RawRecord:
    return ct(name, request, error=error, source="ec2.amazonaws.com")


@rule(
    id="cloudtrail.instance_exported",
    title="EC2 instance or image exported",
    severity="high",
    datasets=("cloudtrail",),
    actions=("CreateInstanceExportTask", "ExportImage"),
    mitre=("T1537", "T1005"),
    runbook="A full disk copy of a machine is being written out as a VM image. Check the "
            "bucket it goes to and cancel the export task if nobody asked for it.",
    tests=(
        Case("an instance exported to S3", fires=True,
             events=(_export("CreateInstanceExportTask", {
                 "instanceId": "i-0123456789abcdef0", "targetEnvironment": "vmware",
                 "exportToS3": {"s3Bucket": "drop-zone", "diskImageFormat": "VMDK"}}),)),
        Case("an attempt refused (probing counts too)", fires=True,
             events=(_export("ExportImage", {"imageId": "ami-0123456789abcdef0",
                                             "s3ExportLocation": {"s3Bucket": "drop-zone"}},
                             error="Client.UnauthorizedOperation"),)),
        Case("an ordinary describe call", fires=False,
             events=(ct("DescribeExportTasks", {}, source="ec2.amazonaws.com"),)),
    ),
)
def instance_exported(event: Event) -> Match | None:
    """CreateInstanceExportTask or ExportImage, succeeded (high) or refused (medium: someone
    tried)."""
    request = params(event)
    target = str(request.get("instanceId") or request.get("imageId") or "?")
    location = request.get("exportToS3") or request.get("s3ExportLocation") or {}
    bucket = location.get("s3Bucket") if isinstance(location, dict) else None
    refused = event.get("event.outcome") != "success"
    return Match(dedup=scope(event, target), entity={"type": "aws_resource", "value": target},
                 severity="medium" if refused else None,
                 title=f"{target} export to s3://{bucket or '?'} "
                       f"{'refused' if refused else 'started'} for "
                       f"{event.get('user.name', '?')}",
                 context=aws_context(event, bucket=bucket,
                                     instance_id=request.get("instanceId"),
                                     image_id=request.get("imageId")))
