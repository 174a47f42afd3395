"""Administrator rights granted to a user, group or role."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, grants_admin, params, scope
from socbot.detections.rule import Case, Match, rule

ACTIONS = ("AttachUserPolicy", "AttachGroupPolicy", "AttachRolePolicy", "PutUserPolicy",
           "PutGroupPolicy", "PutRolePolicy")


@rule(
    id="cloudtrail.admin_policy_attached",
    title="Administrator rights granted",
    severity="high",
    datasets=("cloudtrail",),
    actions=ACTIONS,
    mitre=("T1098.003",),
    runbook="Confirm the change was requested; if not, detach the policy, disable the grantee's "
            "keys and look at what the actor did before.",
    playbooks=("disable-access-key", "disable-console-login"),
    tests=(
        Case("AdministratorAccess to a new user", fires=True,
             events=(ct("AttachUserPolicy", {"userName": "backdoor", "policyArn":
                        "arn:aws:iam::aws:policy/AdministratorAccess"}),)),
        Case("an inline policy allowing everything", fires=True,
             events=(ct("PutRolePolicy", {"roleName": "r", "policyName": "p", "policyDocument":
                        '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'}),)),
        Case("a read-only policy", fires=False,
             events=(ct("AttachRolePolicy", {"roleName": "r", "policyArn":
                        "arn:aws:iam::aws:policy/ReadOnlyAccess"}),)),
    ),
)
def admin_policy_attached(event: Event) -> Match | None:
    """Attach*Policy with AdministratorAccess, IAMFullAccess or PowerUserAccess, or Put*Policy
    with an inline statement allowing ``*`` (or ``iam:*``) on ``*``; succeeded."""
    if event.get("event.outcome") != "success":
        return None
    grant = grants_admin(event)
    if grant is None:
        return None
    request = params(event)
    user, role, group = request.get("userName"), request.get("roleName"), request.get("groupName")
    grantee = user or role or group or "?"
    kind = "iam_user" if user else "iam_role" if role else "iam_group"
    return Match(dedup=scope(event, grantee), entity={"type": kind, "value": str(grantee)},
                 title=f"Administrator rights granted to {grantee} ({grant.rsplit('/', 1)[-1]})",
                 context=aws_context(event, iam_user=user, role=role, group=group, policy=grant),
                 playbooks=None if user else ())
