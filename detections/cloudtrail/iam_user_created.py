"""An IAM user created."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.iam_user_created",
    title="IAM user created",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("CreateUser",),
    mitre=("T1136.003",),
    runbook="Long-lived IAM users are rare where SSO is used; confirm who needs it.",
    playbooks=("disable-access-key", "disable-console-login"),
    tests=(
        Case("a user", fires=True, events=(ct("CreateUser", {"userName": "backdoor"}),)),
        Case("a refused attempt", fires=False,
             events=(ct("CreateUser", {"userName": "x"}, error="AccessDenied"),)),
    ),
)
def iam_user_created(event: Event) -> Match | None:
    """A successful CreateUser."""
    if event.get("event.outcome") != "success":
        return None
    user = str(params(event).get("userName", ""))
    return Match(dedup=scope(event, user), entity={"type": "iam_user", "value": user},
                 title=f"IAM user {user} created by {event.get('user.name', '?')}",
                 context=aws_context(event, iam_user=user))
