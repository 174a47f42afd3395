"""An access key or console password created for another IAM user."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import (
    ACCOUNT,
    aws_context,
    ct,
    params,
    record,
    response,
    scope,
)
from socbot.detections.rule import Case, Match, rule


def _callers(event: Event) -> set[str]:
    """Names the caller goes by: its user name and, for a role session, the session name
    (Identity Center names sessions after the person, who may manage their own IAM user)."""
    names = {str(event.get("user.name") or "")}
    identity = record(event).get("userIdentity")
    arn = identity.get("arn") if isinstance(identity, dict) else None
    if isinstance(arn, str) and ":assumed-role/" in arn:
        names.add(arn.rsplit("/", 1)[-1])
    return names - {""}


@rule(
    id="cloudtrail.credentials_for_other_user",
    title="Credentials created for another user",
    severity="high",
    datasets=("cloudtrail",),
    actions=("CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile"),
    mitre=("T1098.001",),
    runbook="A principal gave itself a way in as someone else. Confirm with both users; disable "
            "the new key or login with the buttons if nobody asked for it.",
    playbooks=("disable-access-key", "disable-console-login"),
    tests=(
        Case("an access key for another user", fires=True,
             events=(ct("CreateAccessKey", {"userName": "backup-svc"}, user="alice",
                        response_elements={"accessKey": {"accessKeyId": "AKIAEXAMPLE0000001",
                                                         "userName": "backup-svc"}}),)),
        Case("a user rotating their own key", fires=False,
             events=(ct("CreateAccessKey", {"userName": "alice"}, user="alice"),)),
        Case("a role session acting on the IAM user of its own name", fires=False,
             events=(ct("CreateAccessKey", {"userName": "alice"}, identity="AssumedRole",
                        userIdentity={"type": "AssumedRole", "accountId": ACCOUNT,
                                      "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/"
                                             "AWSReservedSSO_Admin_0123/alice",
                                      "sessionContext": {"sessionIssuer": {
                                          "type": "Role", "userName": "AWSReservedSSO_Admin_0123",
                                          "arn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/"
                                                 "AWSReservedSSO_Admin_0123"}}}),)),
        Case("a role session acting on another IAM user", fires=True,
             events=(ct("CreateAccessKey", {"userName": "bob"}, identity="AssumedRole",
                        userIdentity={"type": "AssumedRole", "accountId": ACCOUNT,
                                      "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice",
                                      "sessionContext": {"sessionIssuer": {
                                          "type": "Role", "userName": "Admin"}}}),)),
        Case("a refused attempt", fires=False,
             events=(ct("CreateLoginProfile", {"userName": "bob"}, error="AccessDenied"),)),
    ),
)
def credentials_for_other_user(event: Event) -> Match | None:
    """A successful CreateAccessKey, CreateLoginProfile or UpdateLoginProfile whose
    ``userName`` is not the caller's own (a key or password for someone else)."""
    if event.get("event.outcome") != "success":
        return None
    target = params(event).get("userName")
    if not isinstance(target, str) or not target or target in _callers(event):
        return None
    action = event["event.action"]
    key = (response(event).get("accessKey") or {}).get("accessKeyId")
    what = "access key" if action == "CreateAccessKey" else "console password"
    return Match(dedup=scope(event, target), entity={"type": "iam_user", "value": target},
                 title=f"{what.capitalize()} created for {target} by {event.get('user.name')}",
                 context=aws_context(event, iam_user=target, access_key_id=key),
                 playbooks=("disable-access-key",) if key else ("disable-console-login",))
