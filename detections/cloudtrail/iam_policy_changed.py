"""IAM policy changes (CIS 4.4)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import change, ct, grants_admin, params
from socbot.detections.rule import Case, Match, rule

ACTIONS = ("DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy",
           "PutRolePolicy", "PutUserPolicy", "CreatePolicy", "DeletePolicy",
           "CreatePolicyVersion", "DeletePolicyVersion", "SetDefaultPolicyVersion",
           "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy",
           "AttachGroupPolicy", "DetachGroupPolicy")


@rule(
    id="cloudtrail.iam_policy_changed",
    title="IAM policy changed",
    severity="low",
    datasets=("cloudtrail",),
    actions=ACTIONS,
    mitre=("T1098",),
    runbook="Expected from infrastructure as code; a person changing policies by hand deserves "
            "a look at what was granted (see the related admin-rights alert if any).",
    tests=(
        Case("an inline role policy", fires=True,
             events=(ct("PutRolePolicy", {"roleName": "r", "policyName": "p", "policyDocument":
                        '{"Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}'}),)),
        Case("admin rights are the admin rule's alert, not a second one", fires=False,
             events=(ct("AttachUserPolicy", {"userName": "u", "policyArn":
                        "arn:aws:iam::aws:policy/AdministratorAccess"}),)),
        Case("a refused change", fires=False,
             events=(ct("DeleteUserPolicy", {"userName": "u"}, error="AccessDenied"),)),
    ),
)
def iam_policy_changed(event: Event) -> Match | None:
    """Any successful IAM policy create, delete, attach, detach or version change; grouped per
    actor per hour. Grants of admin rights are left to ``cloudtrail.admin_policy_attached``."""
    if grants_admin(event):
        return None
    request = params(event)
    target = request.get("userName") or request.get("roleName") or request.get("groupName")
    return change(event, "IAM policy changed", policy=request.get("policyArn")
                  or request.get("policyName"), target=target)
