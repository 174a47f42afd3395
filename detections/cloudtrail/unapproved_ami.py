"""An instance launched from an AMI that is not on the approved list."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, items, params, response, scope
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, RawRecord, rule

CONFIG = {"approved_amis": ["ami-0approved0000000"]}


def _launch(image: str) -> RawRecord:
    return ct("RunInstances", {"instancesSet": {"items": [{"imageId": image}]},
                               "instanceType": "t3.micro"}, source="ec2.amazonaws.com",
              response_elements={"instancesSet": {"items": [
                  {"instanceId": "i-0123456789abcdef0", "imageId": image,
                   "vpcId": "vpc-0abc"}]}})


@rule(
    id="cloudtrail.unapproved_ami",
    title="Instance launched from unapproved AMI {image_id}",
    severity="high",
    datasets=("cloudtrail",),
    actions=("RunInstances",),
    mitre=("T1578.002", "T1204.003"),
    runbook="Find who launched it and why; contain or quarantine the instance with the buttons "
            "if the image is not one of ours.",
    playbooks=("contain-unapproved-ami", "quarantine-instance", "ssm-triage"),
    tests=(
        Case("an unknown image", fires=True, config=CONFIG,
             events=(_launch("ami-0f00dbad00000000"),)),
        Case("an approved image", fires=False, config=CONFIG,
             events=(_launch("ami-0approved0000000"),)),
        Case("no approved list configured", fires=False,
             events=(_launch("ami-0f00dbad00000000"),)),
    ),
)
def unapproved_ami(event: Event, ctx: RuleContext) -> Match | None:
    """A successful RunInstances whose image is not in ``approved_amis`` (quiet when the list
    is empty). One signal per launch; the context names the first instance."""
    if event.get("event.outcome") != "success" or not ctx.approved_amis:
        return None
    launched = [i for i in items(response(event).get("instancesSet")) if isinstance(i, dict)]
    requested = [i for i in items(params(event).get("instancesSet")) if isinstance(i, dict)]
    images = {str(i.get("imageId")) for i in launched + requested if i.get("imageId")}
    bad = sorted(images - ctx.approved_amis)
    if not bad:
        return None
    instance = next((i.get("instanceId") for i in launched if i.get("instanceId")), None)
    vpc = next((i.get("vpcId") for i in launched if i.get("vpcId")), None)
    return Match(dedup=scope(event, bad[0], instance or event["event.id"]),
                 entity={"type": "instance", "value": str(instance or bad[0])},
                 title=f"Instance {instance or ''} launched from unapproved AMI {bad[0]}",
                 context=aws_context(event, image_id=bad[0], instance_id=instance, vpc_id=vpc,
                                     instances=len(launched) or None))
