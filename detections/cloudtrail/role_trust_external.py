"""A role's trust policy changed, or a role created that another account may assume."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import (
    aws_context,
    ct,
    outside_accounts,
    params,
    policy_document,
    principals,
    scope,
    statements,
)
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule


def _trust(principal: object) -> str:
    import json

    return json.dumps({"Statement": [{"Effect": "Allow", "Principal": principal,
                                      "Action": "sts:AssumeRole"}]})


@rule(
    id="cloudtrail.role_trust_external",
    title="Role trust policy changed",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("UpdateAssumeRolePolicy", "CreateRole"),
    mitre=("T1098.003", "T1484"),
    runbook="Who may now assume the role? An account you do not know, or everyone, is a "
            "backdoor: revert the trust policy.",
    tests=(
        Case("a role another account may assume", fires=True,
             events=(ct("CreateRole", {"roleName": "r", "assumeRolePolicyDocument":
                        _trust({"AWS": "arn:aws:iam::193672423079:root"})}),)),
        Case("any trust policy update", fires=True,
             events=(ct("UpdateAssumeRolePolicy", {"roleName": "r", "policyDocument":
                        _trust({"Service": "ec2.amazonaws.com"})}),)),
        Case("a role for an AWS service", fires=False,
             events=(ct("CreateRole", {"roleName": "r", "assumeRolePolicyDocument":
                        _trust({"Service": "lambda.amazonaws.com"})}),)),
    ),
)
def role_trust_external(event: Event, ctx: RuleContext) -> Match | None:
    """UpdateAssumeRolePolicy (medium; high when it trusts everyone or an outside account) and
    CreateRole whose trust policy admits everyone or an account other than this one and
    ``detection.trusted_accounts`` (high); succeeded."""
    if event.get("event.outcome") != "success":
        return None
    request = params(event)
    document = policy_document(request.get("policyDocument")
                               or request.get("assumeRolePolicyDocument"))
    names = [p for s in statements(document) if s.get("Effect") == "Allow"
             for p in principals(s)]
    outside = outside_accounts(names, event, ctx.trusted_accounts)
    if event["event.action"] == "CreateRole" and not outside:
        return None
    role = str(request.get("roleName", ""))
    title = (f"Role {role} trusts {', '.join(outside[:3])}" if outside
             else f"Trust policy of role {role} changed")
    return Match(dedup=scope(event, role), entity={"type": "iam_role", "value": role},
                 severity="high" if outside else None, title=title,
                 context=aws_context(event, role=role, trusts=", ".join(names[:5])))
