"""``disable-access-key``: deactivate an IAM user's access key and cut its live sessions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

from socbot.playbooks.base import Plan, Playbook, PlaybookFailed, Result, Target, aws_call
from socbot.playbooks.registry import register

POLICY_PREFIX = "socbot-revoke-sessions-"


def deny_before(issued_before: str) -> str:
    """AWS's revoke-older-sessions policy: deny everything to sessions issued before a time."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "SocbotRevokeOlderSessions", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before}},
    }]})


@register
class DisableAccessKey(Playbook):
    """Set an IAM user's access key Inactive (never deleted) and revoke older sessions.

    Deactivating a key does not end temporary credentials already issued with it (STS tokens
    live up to 36 hours), so an inline user policy ``socbot-revoke-sessions-<key id>`` denies
    every action to sessions whose ``aws:TokenIssueTime`` is before the run. Requests signed
    with the user's other long-term keys carry no token issue time and keep working. The user
    comes from the alert's ``iam_user``, or from the key itself. Temporary keys (``ASIA``)
    belong to a role session and cannot be deactivated: refused. Undo reactivates the key and
    deletes the policy.
    """

    name = "disable-access-key"
    description = "Deactivate the access key and deny sessions issued before now"
    required_fields = ("access_key_id", "cloud.region", "cloud.account.id")
    optional_fields = ("iam_user",)
    permissions = ("iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", "iam:UpdateAccessKey",
                   "iam:GetUserPolicy", "iam:PutUserPolicy", "iam:DeleteUserPolicy")
    approvals_required = 1
    undoable = True

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """The key's status and whether the session-revoking policy is in place."""
        key_id = target["access_key_id"]
        if key_id.startswith("ASIA"):
            raise PlaybookFailed(f"{key_id} is a temporary (STS) key of a role session; it "
                                 "cannot be deactivated: revoke the role's sessions instead")
        iam = session.client("iam")
        user = self._user(iam, target)
        keys = aws_call(iam.list_access_keys, UserName=user)["AccessKeyMetadata"]
        key = next((k for k in keys if k["AccessKeyId"] == key_id), None)
        if key is None:
            raise PlaybookFailed(f"{key_id} is not an access key of IAM user {user}")
        policy = POLICY_PREFIX + key_id
        has_policy = self._has_policy(iam, user, policy)
        before = {"UserName": user, "AccessKeyId": key_id, "Status": key["Status"],
                  "policy": policy if has_policy else None}
        changes: list[dict[str, Any]] = []
        if key["Status"] != "Inactive":
            changes.append({"op": "deactivate"})
        if not has_policy:
            changes.append({"op": "deny_older_sessions", "policy": policy})
        if not changes:
            return Plan([], f"{key_id} of {user} is already inactive and its older sessions "
                            "denied", before, before)
        steps = ["set it Inactive" if c["op"] == "deactivate" else
                 f"attach {policy} denying sessions issued before the run" for c in changes]
        return Plan(changes, f"{key_id} of {user}: {' and '.join(steps)}", before,
                    {**before, "Status": "Inactive", "policy": policy})

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Deactivate first (no new sessions), then deny the sessions issued until now."""
        iam = session.client("iam")
        user, key_id = plan.before["UserName"], target["access_key_id"]
        undo: dict[str, Any] = {"UserName": user, "AccessKeyId": key_id,
                                "previous_status": plan.before["Status"], "policy": None}
        issued_before = ""
        for change in plan.changes:
            if change["op"] == "deactivate":
                aws_call(iam.update_access_key, UserName=user, AccessKeyId=key_id,
                         Status="Inactive")
            else:
                issued_before = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                aws_call(iam.put_user_policy, UserName=user, PolicyName=change["policy"],
                         PolicyDocument=deny_before(issued_before))
                undo["policy"] = change["policy"]
        after = {"UserName": user, "AccessKeyId": key_id, "Status": "Inactive",
                 "policy": POLICY_PREFIX + key_id, "issued_before": issued_before}
        note = (f"; sessions issued before {issued_before} are denied" if issued_before else "")
        return Result(changed=True, summary=f"{key_id} of {user}: Inactive (not deleted){note}",
                      before=plan.before, after=after, undo=undo)

    def undo(self, session: boto3.Session, target: Target, undo: Mapping[str, Any]) -> Result:
        """Reactivate the key (if it was active) and delete the policy the run attached."""
        iam = session.client("iam")
        # The alert's validated key and its owner as AWS says, not the stored undo data's.
        user, key_id = self._user(iam, target), target["access_key_id"]
        done = []
        if undo.get("previous_status") == "Active":
            aws_call(iam.update_access_key, UserName=user, AccessKeyId=key_id, Status="Active")
            done.append("reactivated")
        policy = POLICY_PREFIX + key_id
        if undo.get("policy") == policy and self._has_policy(iam, user, policy):
            aws_call(iam.delete_user_policy, UserName=user, PolicyName=policy)
            done.append(f"deleted {policy}")
        return Result(bool(done), f"{key_id} of {user}: {', '.join(done) or 'nothing to undo'}")

    @staticmethod
    def _user(iam: Any, target: Target) -> str:
        named = target.resources.get("iam_user")
        last_used = aws_call(iam.get_access_key_last_used,
                             AccessKeyId=target["access_key_id"])
        owner = last_used.get("UserName")
        if named and owner and owner != named:
            raise PlaybookFailed(f"{target['access_key_id']} belongs to {owner}, not to "
                                 f"{named} as the alert says")
        user = named or owner
        if not user:
            raise PlaybookFailed(f"cannot tell whose key {target['access_key_id']} is")
        return str(user)

    @staticmethod
    def _has_policy(iam: Any, user: str, policy: str) -> bool:
        try:
            aws_call(iam.get_user_policy, UserName=user, PolicyName=policy)
        except PlaybookFailed as exc:
            if exc.code == "NoSuchEntity":
                return False
            raise
        return True
