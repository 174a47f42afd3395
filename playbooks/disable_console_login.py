"""``disable-console-login``: remove an IAM user's console password."""

from __future__ import annotations

from typing import Any

import boto3

from socbot.playbooks.base import Plan, Playbook, PlaybookFailed, Result, Target, aws_call
from socbot.playbooks.registry import register


@register
class DisableConsoleLogin(Playbook):
    """Delete an IAM user's login profile, so the user cannot sign in to the console.

    Records whether a profile existed (and when it was created) before deleting it: a password
    cannot be read back, so undo is manual (CreateLoginProfile with a new password and
    PasswordResetRequired). Access keys are untouched (see ``disable-access-key``).
    """

    name = "disable-console-login"
    description = "Delete the IAM user's console password (login profile)"
    required_fields = ("iam_user", "cloud.region", "cloud.account.id")
    permissions = ("iam:GetUser", "iam:GetLoginProfile", "iam:DeleteLoginProfile")
    approvals_required = 1

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """Whether the user has a login profile."""
        iam = session.client("iam")
        user = target["iam_user"]
        aws_call(iam.get_user, UserName=user)  # NoSuchEntity here: the user does not exist
        try:
            profile = aws_call(iam.get_login_profile, UserName=user)["LoginProfile"]
        except PlaybookFailed as exc:
            if exc.code != "NoSuchEntity":
                raise
            before: dict[str, Any] = {"UserName": user, "login_profile": False}
            return Plan([], f"{user} has no console password", before, before)
        created = profile.get("CreateDate")
        before = {"UserName": user, "login_profile": True,
                  "CreateDate": created.isoformat() if hasattr(created, "isoformat") else created,
                  "PasswordResetRequired": bool(profile.get("PasswordResetRequired"))}
        return Plan([{"op": "delete_login_profile"}],
                    f"{user}: delete the console password (set {before['CreateDate']})",
                    before, {"UserName": user, "login_profile": False})

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Delete the login profile."""
        user = target["iam_user"]
        aws_call(session.client("iam").delete_login_profile, UserName=user)
        return Result(
            changed=True, summary=f"{user}: console password deleted; it existed since "
                                  f"{plan.before['CreateDate']}. Access keys are untouched.",
            before=plan.before, after=plan.after,
            undo={"existed": True, "UserName": user, "CreateDate": plan.before["CreateDate"],
                  "manual": "CreateLoginProfile with a new password and "
                            "PasswordResetRequired=true"})
