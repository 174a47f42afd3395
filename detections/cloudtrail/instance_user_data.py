"""Instance user data read, or changed after the instance was stopped."""

from __future__ import annotations

from dataclasses import replace

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, items, params, principal, scope
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, Recent, State, rule


def _instance(event: Event) -> str | None:
    request = params(event)
    found = request.get("instanceId")
    if found:
        return str(found)
    listed = [i.get("instanceId") for i in items(request.get("instancesSet"))
              if isinstance(i, dict)]
    return str(listed[0]) if listed else None


def _confirm(match: Match, state: State, ctx: RuleContext) -> Match | None:
    kind = match.context.get("kind")
    if kind == "stop":
        return None
    if kind == "modify" and any(r.get("kind") == "stop" for r in state.records):
        return replace(match, severity="high",
                       title=f"User data of {match.context.get('instance_id')} changed right "
                             "after a stop")
    return match


@rule(
    id="cloudtrail.instance_user_data",
    title="Instance user data accessed",
    severity="low",
    datasets=("cloudtrail",),
    actions=("DescribeInstanceAttribute", "ModifyInstanceAttribute", "StopInstances"),
    mitre=("T1552.005", "T1059.009"),
    runbook="User data often holds secrets and runs at boot. A read is discovery; a change "
            "after a stop is code execution at the next start: check the new user data.",
    state=Recent(by="instance", within_s=3600),
    confirm=_confirm,
    playbooks=("quarantine-instance", "ssm-triage"),
    tests=(
        Case("user data changed after a stop", fires=True, events=(
            ct("StopInstances", {"instancesSet": {"items": [{"instanceId": "i-1"}]}},
               source="ec2.amazonaws.com"),
            ct("ModifyInstanceAttribute", {"instanceId": "i-1", "userData": "<removed>"},
               source="ec2.amazonaws.com", at="2026-11-23T03:05:00Z"))),
        Case("user data read", fires=True,
             events=(ct("DescribeInstanceAttribute", {"instanceId": "i-1",
                                                      "attribute": "userData"},
                        source="ec2.amazonaws.com"),)),
        Case("another attribute", fires=False,
             events=(ct("ModifyInstanceAttribute", {"instanceId": "i-1",
                                                    "disableApiTermination": {"value": False}},
                        source="ec2.amazonaws.com"),)),
    ),
)
def instance_user_data(event: Event) -> Match | None:
    """DescribeInstanceAttribute of ``userData`` (low, even refused: discovery) and
    ModifyInstanceAttribute setting ``userData`` (medium; high within an hour of a
    StopInstances of that instance, the order an attacker needs)."""
    action = event["event.action"]
    request = params(event)
    instance = _instance(event)
    if not instance:
        return None
    key = instance
    if action == "StopInstances":
        if event.get("event.outcome") != "success":
            return None
        return Match(key=key, context={"kind": "stop"})
    if action == "DescribeInstanceAttribute":
        if request.get("attribute") != "userData":
            return None
        return Match(key=key, dedup=scope(event, event.get("user.name"), "read"),
                     entity=principal(event),
                     title=f"Instance user data read by {event.get('user.name')}",
                     context=aws_context(event, kind="read", instance_id=instance))
    if "userData" not in request or event.get("event.outcome") != "success":
        return None
    return Match(key=key, dedup=scope(event, instance), severity="medium",
                 entity={"type": "instance", "value": instance},
                 title=f"User data of {instance} changed",
                 context=aws_context(event, kind="modify", instance_id=instance))
