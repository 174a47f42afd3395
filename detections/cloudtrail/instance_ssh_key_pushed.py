"""An SSH key pushed to an instance (EC2 Instance Connect or the serial console)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, principal, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.instance_ssh_key_pushed",
    title="SSH key pushed to an instance",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("SendSSHPublicKey", "SendSerialConsoleSSHPublicKey", "EnableSerialConsoleAccess"),
    mitre=("T1021.004", "T1098.004"),
    runbook="Someone is logging in to instances with a temporary key. Check who and which "
            "instances; the serial console bypasses security groups.",
    playbooks=("quarantine-instance", "ssm-triage"),
    tests=(
        Case("Instance Connect", fires=True,
             events=(ct("SendSSHPublicKey", {"instanceId": "i-1", "instanceOSUser": "ec2-user"},
                        source="ec2-instance-connect.amazonaws.com"),)),
        Case("a refused push", fires=False,
             events=(ct("SendSSHPublicKey", {"instanceId": "i-1"}, error="AccessDenied",
                        source="ec2-instance-connect.amazonaws.com"),)),
    ),
)
def instance_ssh_key_pushed(event: Event) -> Match | None:
    """A successful SendSSHPublicKey or SendSerialConsoleSSHPublicKey, or serial console
    access enabled for the account (high). Grouped per actor per hour."""
    if event.get("event.outcome") != "success":
        return None
    request = params(event)
    instance = request.get("instanceId")
    actor = str(event.get("user.name", ""))
    action = event["event.action"]
    serial = action != "SendSSHPublicKey"
    return Match(dedup=scope(event, actor), entity=principal(event),
                 severity="high" if serial else None,
                 title=(f"Serial console access enabled by {actor}"
                        if action == "EnableSerialConsoleAccess"
                        else f"SSH key pushed to {instance} by {actor}"),
                 context=aws_context(event, instance_id=instance,
                                     os_user=request.get("instanceOSUser")))
