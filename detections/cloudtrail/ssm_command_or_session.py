"""Commands or interactive sessions on instances through SSM."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, principal, scope
from socbot.detections.rule import Case, Match, rule

MANY = 3


@rule(
    id="cloudtrail.ssm_command_or_session",
    title="SSM {event.action} by {user.name}",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("SendCommand", "StartSession"),
    mitre=("T1651",),
    runbook="Remote execution on instances. Check the document and targets; expected from "
            "patching and automation roles, not from people's keys.",
    playbooks=("ssm-triage", "quarantine-instance"),
    tests=(
        Case("a shell script on three instances is high", fires=True,
             events=(ct("SendCommand", {"documentName": "AWS-RunShellScript",
                                        "instanceIds": ["i-1", "i-2", "i-3"]},
                        source="ssm.amazonaws.com"),)),
        Case("a session", fires=True,
             events=(ct("StartSession", {"target": "i-0abc"}, source="ssm.amazonaws.com"),)),
        Case("a refused command", fires=False,
             events=(ct("SendCommand", {"instanceIds": ["i-1"]}, error="InvalidInstanceId",
                        source="ssm.amazonaws.com"),)),
    ),
)
def ssm_command_or_session(event: Event) -> Match | None:
    """A successful SendCommand or StartSession; high when one command targets three or more
    instances or by tag. Grouped per actor per hour."""
    if event.get("event.outcome") != "success":
        return None
    request = params(event)
    targets = [str(i) for i in request.get("instanceIds") or []]
    if request.get("target"):
        targets = [str(request["target"])]
    by_tag = bool(request.get("targets"))
    many = len(targets) >= MANY or by_tag
    actor = event.get("user.name", "")
    return Match(dedup=scope(event, actor), entity=principal(event),
                 severity="high" if many else None,
                 title=f"SSM {event['event.action']} by {actor} on "
                       + (f"{len(targets)} instances" if many else ", ".join(targets) or "?"),
                 context=aws_context(event, instance_id=targets[0] if targets else None,
                                     instances=", ".join(targets[:10]),
                                     document=request.get("documentName")))
