"""An SNS topic created (a possible exfiltration or notification channel)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.sns_topic_created",
    title="SNS topic created by {user.name}",
    severity="low",
    datasets=("cloudtrail",),
    actions=("CreateTopic",),
    mitre=("T1537",),
    runbook="Usually infrastructure as code; check the subscriptions if the actor is a person.",
    tests=(
        Case("a topic", fires=True,
             events=(ct("CreateTopic", {"name": "alerts"}, source="sns.amazonaws.com"),)),
        Case("a refused call", fires=False,
             events=(ct("CreateTopic", {"name": "x"}, error="AccessDenied",
                        source="sns.amazonaws.com"),)),
    ),
)
def sns_topic_created(event: Event) -> Match | None:
    """A successful CreateTopic."""
    if event.get("event.outcome") != "success":
        return None
    name = str(params(event).get("name", ""))
    return Match(dedup=scope(event, event.get("user.name")),
                 title=f"SNS topic {name} created by {event.get('user.name', '?')}",
                 entity={"type": "sns_topic", "value": name},
                 context=aws_context(event, topic=name))
